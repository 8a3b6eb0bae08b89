"""
``max_run_cost``: the budget of a DAG run across its Luma tasks. Its claim protocol under every
order two tasks' steps can take, then real runs: tasks one after the other, a batch, retries (what
an earlier try paid counts, what Luma refunded does not), and two tasks started together on the
triggerer.
"""

from __future__ import annotations

import asyncio
import logging
import random

import pytest
from airflow.providers.common.compat.version_compat import AIRFLOW_V_3_3_PLUS

from airflow_provider_luma.effects import KeepSpend, RecallSpend, Sleep, XComValues, drive
from airflow_provider_luma.exceptions import LumaRunBudgetError, LumaValidationError
from airflow_provider_luma.records import Attempt
from airflow_provider_luma.run_budget import XCOM_RUN_SPEND, RunBudget, SpendEntry
from tests.airflow_version import HAS_TASK_STATE_STORE
from tests.conftest import plain_text

LOG = logging.getLogger(__name__)
PHOTON_1 = 0.0073


# -- the claim protocol, under every interleaving ---------------------------------------------------


class SharedXComs:
    """The run's XComs of the budget: one entry per task instance, as Airflow keeps them."""

    def __init__(self) -> None:
        self.entries: dict[str, dict] = {}

    def perform(self, task_id: str, effect: object) -> object:
        if isinstance(effect, KeepSpend):
            self.entries[task_id] = effect.entry
        elif isinstance(effect, RecallSpend):
            return self.entries.get(task_id)
        elif isinstance(effect, XComValues):
            assert effect.key == XCOM_RUN_SPEND
            return [self.entries[effect.task_id]] if effect.task_id in self.entries else []
        else:
            assert isinstance(effect, Sleep)
        return None


def claiming(task_id: str, tasks: tuple[str, ...], need: float, max_run_cost: float):
    budget = RunBudget(max_run_cost, Attempt("dag", "run", task_id, -1, 1), tasks, "test-key")
    yield from budget.start(LOG)
    yield from budget.claim(need, "this create", deadline=float("inf"), log=LOG)


def run_interleaved(tasks: tuple[str, ...], need: float, max_run_cost: float, rng: random.Random):
    """Step the tasks' claims in the order ``rng`` picks, one effect at a time; how each ended."""
    store = SharedXComs()
    flows = {task_id: claiming(task_id, tasks, need, max_run_cost) for task_id in tasks}
    answers: dict[str, object] = dict.fromkeys(tasks)
    outcomes: dict[str, str] = {}
    for _ in range(10_000):
        if not flows:
            return store, outcomes
        task_id = rng.choice(sorted(flows))
        try:
            effect = flows[task_id].send(answers[task_id])
        except StopIteration:
            outcomes[task_id] = "claimed"
            del flows[task_id]
            continue
        except LumaRunBudgetError:
            outcomes[task_id] = "refused"
            del flows[task_id]
            continue
        answers[task_id] = store.perform(task_id, effect)
    raise AssertionError("the claims did not settle in 10,000 steps")


@pytest.mark.parametrize(
    ("tasks", "fits"), [(("a", "b"), 1), (("a", "b", "c"), 1), (("a", "b", "c", "d"), 2)]
)
def test_however_claims_interleave_the_run_never_spends_past_its_budget(tasks, fits):
    # $0.01 holds one photon-1 image, $0.015 two: tasks that claim together never all get one.
    max_run_cost = 0.01 if fits == 1 else 0.015
    for seed in range(300):
        store, outcomes = run_interleaved(tasks, PHOTON_1, max_run_cost, random.Random(seed))
        claimed = [task_id for task_id, outcome in outcomes.items() if outcome == "claimed"]
        assert len(claimed) == fits, (seed, outcomes)
        spent = sum(entry["spent"] for entry in store.entries.values())
        assert spent == pytest.approx(PHOTON_1 * fits)
        assert all(entry["claim"] == 0 for entry in store.entries.values())  # no claim left behind


def test_a_claim_whose_task_died_undecided_stops_counting():
    import time

    stale = SpendEntry("dead", -1, 0.0, claim=PHOTON_1, claimed_at=time.time() - 61)
    fresh = SpendEntry("alive", -1, 0.0, claim=PHOTON_1, claimed_at=time.time())
    assert (stale.counted_claim(time.time()), fresh.counted_claim(time.time())) == (0.0, PHOTON_1)


@pytest.mark.parametrize(
    "planted",
    [None, "0.5", {"task_id": "b", "map_index": -1, "spent": -3, "claim": 0}, {"spent": 1.0}, [1, 2]],
)
def test_what_is_not_an_entry_counts_for_nothing(planted):
    assert SpendEntry.of(planted) is None


def test_an_entry_planted_copied_or_sealed_with_another_key_counts_for_nothing(caplog):
    """Task b's XCom holds a planted entry, then a's own entry copied there, then b's with another key."""
    ours = RunBudget(0.01, Attempt("dag", "run", "a", -1, 1), ("a", "b"), "test-key")
    theirs = RunBudget(0.01, Attempt("dag", "run", "b", -1, 1), ("a", "b"), "another-key")
    ours_sealed = ours._keep(SpendEntry("a", -1, spent=0.005)).entry
    store = SharedXComs()
    for planted in (
        {"task_id": "b", "map_index": -1, "spent": 1.0, "claim": 0, "mac": "0" * 64},
        {**ours_sealed, "task_id": "b"},
        theirs._keep(SpendEntry("b", -1, spent=1.0)).entry,
    ):
        store.entries = {"b": planted}
        assert drive(ours._others(LOG), lambda effect: store.perform("a", effect)) == []
    assert caplog.text.count("Run budget: ignoring the entry in task b's luma_run_spend XCom") == 3


@pytest.mark.parametrize("value", [-1, "5", True, float("inf")])
def test_a_bad_max_run_cost_fails_the_dag_import_naming_it(value):
    from airflow_provider_luma.operators.luma import LumaImageGenerateOperator

    with pytest.raises(LumaValidationError, match="max_run_cost"):
        LumaImageGenerateOperator(task_id="bad", prompt="a lighthouse", max_run_cost=value)


# -- real runs ----------------------------------------------------------------------------------------


def test_a_task_the_run_cannot_afford_fails_before_creating_naming_what_was_spent(
    run_dag, emulator, read_logs
):
    result = run_dag("luma_test_run_budget")
    assert result.state == "failed"
    assert (result.task_state("first"), result.task_state("second")) == ("success", "failed")
    assert emulator.stats.creates == 1
    assert result.xcom("first", XCOM_RUN_SPEND)["spent"] == pytest.approx(PHOTON_1)
    logs = plain_text(read_logs())
    assert (
        "max_run_cost is $0.01 for this DAG run; its Luma tasks have sent $0.0073 (this task instance "
        "$0.0000) and this create (photon-1 image) needs $0.0073: nothing was created"
    ) in logs


def test_the_map_indexes_of_a_mapped_task_share_the_runs_budget(run_dag, emulator, read_logs):
    result = run_dag("luma_test_run_budget_mapped")
    assert sorted(result.task_state("shots").split(",")) == ["failed", "success", "success"]
    assert emulator.stats.creates == 2
    assert "its Luma tasks have sent $0.0146" in plain_text(read_logs())


def test_a_batch_claims_all_its_creates_before_the_first(run_dag, emulator, read_logs):
    result = run_dag("luma_test_run_budget_batch")
    assert result.state == "failed"
    assert emulator.stats.creates == 0
    assert "this batch's 2 creates needs $0.0146" in plain_text(read_logs())


def test_what_an_earlier_try_paid_for_counts_in_the_next_try(run_dag, emulator, read_logs):
    # Kept in the task state store on Airflow 3.3+, in a Variable of the task instance's own before.
    # Try 1's generation was deleted: paid for, and gone. Try 2 needs another: over the budget.
    result = run_dag("luma_test_run_budget_retry_gone")
    assert result.state == "failed"
    assert emulator.stats.creates == 1
    assert "(this task instance $0.0073) and this create (photon-1 image) needs $0.0073" in plain_text(
        read_logs()
    )


@pytest.mark.skipif(not HAS_TASK_STATE_STORE, reason="a retry knows the earlier try's generation on 3.3+")
def test_a_generation_luma_refunded_gives_its_share_back(run_dag, emulator):
    # Try 1's generation failed (Luma refunds it): try 2 creates another within the same budget.
    result = run_dag("luma_test_run_budget_retry_failed")
    assert result.state == "success"
    assert emulator.stats.creates == 2
    assert result.xcom("generate", XCOM_RUN_SPEND)["spent"] == pytest.approx(PHOTON_1)


@pytest.mark.skipif(not AIRFLOW_V_3_3_PLUS, reason="tasks start on the triggerer on Airflow 3.3+")
async def test_two_tasks_started_together_on_the_triggerer_cannot_both_spend_the_last_dollar(
    dagbag, emulator
):
    from tests.test_generate_trigger import StartedRun, is_task_success

    emulator.configure(queued_seconds=0.1, dreaming_seconds=0.3)
    run = StartedRun(dagbag.get_dag("luma_test_run_budget_start"))
    left, right = await asyncio.gather(run.run("left"), run.run("right"))
    refused = [event for event in (left, right) if not is_task_success(event)]
    assert len(refused) == 1, (left, right)
    assert (refused[0].payload["status"], refused[0].payload["final"]) == ("error", True)
    assert "its Luma tasks have sent $0.0073" in refused[0].payload["message"]
    assert emulator.stats.creates == 1


@pytest.mark.skipif(not AIRFLOW_V_3_3_PLUS, reason="tasks start on the triggerer on Airflow 3.3+")
async def test_a_batch_on_the_triggerer_claims_its_creates_there_before_the_first(dagbag, emulator):
    from tests.test_generate_trigger import StartedRun, is_task_success

    run = StartedRun(dagbag.get_dag("luma_test_run_budget_start"))
    event = await run.run("pair")
    assert not is_task_success(event)
    assert "this batch's 2 creates needs $0.0146" in event.payload["message"]
    assert emulator.stats.creates == 0
    assert run.xcom("pair", XCOM_RUN_SPEND)["spent"] == 0  # kept where the run's tasks read it


def test_a_dry_run_says_when_a_run_would_go_over_its_budget(airflow_db, emulator, capsys):
    from tests.test_cost import dry_run

    code, out = dry_run(capsys, "luma_test_run_budget")
    assert code == 1
    assert "total: $0.0146" in out
    assert "max_run_cost: $0.01 (OVER: the tasks that create last would be refused)" in out
    code, out = dry_run(capsys, "luma_test_run_budget_retry_gone")  # one image: within
    assert (code, "max_run_cost: $0.01 (within)" in out) == (0, True)
    assert emulator.stats.total_requests == 0
