"""Responses: a response is a run on a thread of its own; this package is its door (the
request checked and translated, its output items, its wire object and its event stream)."""
