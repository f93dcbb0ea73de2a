"""Files: the service the API calls and the blob store behind it."""
