"""Which Airflow the suite runs on: a few behaviours differ between 2.11 and 3.x."""

from __future__ import annotations

from airflow.providers.common.compat.version_compat import (
    AIRFLOW_V_3_0_PLUS,
    AIRFLOW_V_3_1_PLUS,
    AIRFLOW_V_3_2_PLUS,
    AIRFLOW_V_3_3_PLUS,
)

#: Airflow 3 pushes each operator extra link to XCom when a task ends; Airflow 2 computes it on demand.
LINKS_IN_XCOM = AIRFLOW_V_3_0_PLUS
#: The task state store, which lets a retry re-attach to an earlier try's generation, came with 3.3.
HAS_TASK_STATE_STORE = AIRFLOW_V_3_3_PLUS
#: Airflow 3.2 reads connection forms from provider info; 3.0 and 3.1 only from hooks, and only with
#: flask_appbuilder installed (it is not, with Airflow 3's defaults); Airflow 2 has it.
CONNECTION_FORM_READ = AIRFLOW_V_3_2_PLUS or not AIRFLOW_V_3_0_PLUS
#: Airflow 3.0's plugins manager imports FastAPI itself, so a plugin module cannot avoid loading it.
PLUGINS_MANAGER_IMPORTS_FASTAPI = AIRFLOW_V_3_0_PLUS and not AIRFLOW_V_3_1_PLUS
#: Airflow 3.0's dag.test() prints the Task SDK's ``MaskSecret`` messages, the secret in them, at
#: debug level (Airflow's own lines: the provider's logs are searched all the same).
DAG_TEST_PRINTS_MASK_SECRET = AIRFLOW_V_3_0_PLUS and not AIRFLOW_V_3_1_PLUS
#: dag.test() runs a human-in-the-loop task's trigger in line; before 3.3 the in-line trigger gets
#: no answer to its request for the task's response (``GetHITLDetailResponse``), so it fails.
DAG_TEST_ANSWERS_HITL = AIRFLOW_V_3_3_PLUS
