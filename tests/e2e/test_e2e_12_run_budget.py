"""
``max_run_cost`` in a real Airflow 3.3: six tasks of one run start together, on the triggerer and
in workers, and the run's budget holds four images. Exactly four are created, the other two fail
before creating, naming what the run had sent; what the run's task instances say they sent adds
up to the emulator's creates.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from luma_e2e.scenarios import describe_run, generations_of_run
from luma_e2e.settings import RUN_TIMEOUT

if TYPE_CHECKING:
    from luma_e2e.emulator import LumaEmulatorProcess
    from luma_e2e.stack import AirflowStack

DAG_ID = "e2e_luma_run_budget"
PHOTON_1 = 0.0073
FITS = 4


def test_tasks_that_start_together_never_spend_past_the_runs_budget(
    stack: AirflowStack, emulator: LumaEmulatorProcess, facts: dict[str, Any]
) -> None:
    api = stack.api
    api.unpause(DAG_ID)
    run_id = api.trigger(DAG_ID)
    state = api.wait_for_run(DAG_ID, run_id, timeout=RUN_TIMEOUT)
    report = describe_run(api, DAG_ID, run_id)
    assert state == "failed", report  # two tasks could not be paid for

    luma_tasks = [ti for ti in api.task_instances(DAG_ID, run_id) if ti["task_id"] != "subject"]
    states = sorted(ti["state"] for ti in luma_tasks)
    assert states == ["failed"] * 2 + ["success"] * FITS, report
    # The emulator counts creates by what the run's prompts carry (the run id).
    assert len(generations_of_run(emulator, run_id)) == FITS, report

    spent = 0.0
    for ti in luma_tasks:
        entry = api.xcom(DAG_ID, run_id, ti["task_id"], key="luma_run_spend")
        assert entry["claim"] == 0, entry  # no claim left undecided
        spent += entry["spent"]
        if ti["state"] == "failed":
            log = api.task_log(DAG_ID, run_id, ti["task_id"], max(ti["try_number"], 1))
            refusal = "max_run_cost is $0.03 for this DAG run; its Luma tasks have sent $0.0292"
            assert refusal in log, log[-3000:]
            assert "nothing was created" in log
    assert round(spent, 6) == round(FITS * PHOTON_1, 6)
    paid = [ti["task_id"] for ti in luma_tasks if ti["state"] == "success"]
    facts["run budget: tasks started together / paid for (their ids)"] = f"6 / {FITS} ({', '.join(paid)})"
