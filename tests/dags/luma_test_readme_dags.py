"""
The README's quick start, run as written: its code block is read from README.md and defines the
DAG ``lighthouse`` (Airflow 3: it imports ``airflow.sdk``). Only the S3 folder becomes a local one,
since the tests have no bucket.
"""

from __future__ import annotations

import os
from pathlib import Path

from airflow.providers.common.compat.version_compat import AIRFLOW_V_3_0_PLUS

README = Path(__file__).resolve().parents[2] / "README.md"
START = "## Quick start\n\n```python\n"


def quick_start() -> str:
    """The README's quick start code, as a reader copies it."""
    text = README.read_text()
    begin = text.index(START) + len(START)
    return text[begin : text.index("```", begin)]


if AIRFLOW_V_3_0_PLUS:
    output = f"file://{os.environ.get('LUMA_EXAMPLE_OUTPUT_DIR', '/tmp/luma-images')}/readme/"
    exec(quick_start().replace("s3://my-bucket/luma/", output))
