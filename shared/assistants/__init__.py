"""Assistants: the service the API calls."""
