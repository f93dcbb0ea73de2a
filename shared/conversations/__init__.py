"""Conversations and their items: the service the API calls, and the append the Responses
engine uses."""
