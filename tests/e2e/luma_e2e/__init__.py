"""Helpers of the end-to-end harness: processes, the Airflow stack, its REST API and the evidence."""

from __future__ import annotations
