"""Vector stores, their files and batches."""
