"""The "Luma asset" link, importable from here as before (it lives in :mod:`airflow_provider_luma.links`)."""

from __future__ import annotations

from airflow_provider_luma.links import LumaGenerationLink

__all__ = ["LumaGenerationLink"]
