"""Threads: the service the API calls."""
