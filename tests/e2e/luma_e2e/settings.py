"""Constants the harness's fixtures and tests share."""

from __future__ import annotations

#: A fake key that is easy to find if it ever leaks.
API_KEY = "luma-e2e-FAKE-KEY-7f3a9c1d5b2e"
#: A key the emulator rejects, for the failing connection test.
WRONG_API_KEY = "luma-e2e-WRONG-KEY-0000"
QUEUED_SECONDS = 1.0
#: Long enough to watch a task sit deferred while its generation dreams.
DREAMING_SECONDS = 15.0
#: The example DAG watched while deferred.
IMAGE_DAG = "example_luma_image"
#: Bound on any single DAG run.
RUN_TIMEOUT = 240.0
#: Folder of AIRFLOW_HOME the harness DAGs copy assets to (``LUMA_E2E_OUTPUT_DIR``).
E2E_OUTPUT_DIR = "e2e-output"
#: The review example's DAG, and how long its reviewer has (each round): short enough for the
#: unanswered run to time out within the session, long enough to answer the others in time.
REVIEW_DAG = "example_luma_review"
REVIEW_TIMEOUT_SECONDS = 120
