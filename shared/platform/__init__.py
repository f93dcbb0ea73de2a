"""What every process shares: the Celery app, rpc, logs, metrics, status, embedded services."""
