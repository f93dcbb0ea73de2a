"""The web console: a single page served by the API itself, on the same origin as /v1."""
