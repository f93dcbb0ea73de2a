"""The timers pool: run expiry and stalled-run recovery."""
