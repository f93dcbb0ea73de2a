"""tool_resources: the checks that every referenced object exists."""
