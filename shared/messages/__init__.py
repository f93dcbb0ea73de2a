"""Messages on threads: the service the API calls."""
