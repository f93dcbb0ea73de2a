"""Runs: the API's service, the lifecycle every status change goes through, the states,
the event stream and the thread lease."""
