"""Sphinx configuration of the airflow-provider-luma documentation (``make docs``)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
# autodoc imports the modules; Airflow wants a home it may write to.
os.environ.setdefault("AIRFLOW_HOME", str(ROOT / "docs" / "_build" / "airflow-home"))

from airflow_provider_luma import __version__  # noqa: E402

project = "airflow-provider-luma"
author = "airflow-provider-luma developers"
copyright = "2026, airflow-provider-luma developers"
version = release = __version__

extensions = ["sphinx.ext.autodoc", "sphinx.ext.viewcode"]
exclude_patterns = ["_build"]
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": True}
html_theme = "alabaster"
html_title = f"airflow-provider-luma {release}"
html_theme_options = {
    "description": "Apache Airflow provider for Luma AI's Dream Machine API",
    "github_user": "airflow-provider-luma",
    "github_repo": "airflow-provider-luma",
}
