"""Helpers of the distributed end-to-end harness (PostgreSQL, Redis, Celery, S3, two triggerers)."""
