"""The runs pool: the task, the run loop, and its pure parts (the folding of a model stream,
the event payloads)."""
