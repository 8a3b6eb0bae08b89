"""
The README's quick starts, run as written: their code blocks are read from README.md and define the
DAGs ``lighthouse`` (Dream Machine API) and ``lantern`` (Agents API) (Airflow 3: they import
``airflow.sdk``). Only the S3 folder becomes a local one, since the tests have no bucket.
"""

from __future__ import annotations

import os
from pathlib import Path

from airflow.providers.common.compat.version_compat import AIRFLOW_V_3_0_PLUS

README = Path(__file__).resolve().parents[2] / "README.md"
START = "## Quick start\n\n```python\n"
AGENTS_START = "On the Agents API, the same operators with its models"


def quick_start(start: str = START) -> str:
    """
    A quick start's code, as a reader copies it.

    :param start: the text just before it (its heading or sentence).
    """
    text = README.read_text()
    begin = text.index("```python\n", text.index(start)) + len("```python\n")
    return text[begin : text.index("```", begin)]


if AIRFLOW_V_3_0_PLUS:
    output = f"file://{os.environ.get('LUMA_EXAMPLE_OUTPUT_DIR', '/tmp/luma-images')}/readme/"
    exec(quick_start().replace("s3://my-bucket/luma/", output))
    exec(quick_start(AGENTS_START).replace("s3://my-bucket/luma/", output))
