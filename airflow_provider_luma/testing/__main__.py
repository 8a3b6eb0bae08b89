"""Entry point of ``python -m airflow_provider_luma.testing``."""

from __future__ import annotations

from airflow_provider_luma.testing.cli import main

raise SystemExit(main())
