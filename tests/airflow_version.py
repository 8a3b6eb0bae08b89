"""Which Airflow the suite runs on: a few behaviours differ between 2.11 and 3.x."""

from __future__ import annotations

from airflow.providers.common.compat.version_compat import AIRFLOW_V_3_0_PLUS, AIRFLOW_V_3_3_PLUS

#: Airflow 3 pushes each operator extra link to XCom when a task ends; Airflow 2 computes it on demand.
LINKS_IN_XCOM = AIRFLOW_V_3_0_PLUS
#: The task state store, which lets a retry re-attach to an earlier try's generation, came with 3.3.
HAS_TASK_STATE_STORE = AIRFLOW_V_3_3_PLUS
