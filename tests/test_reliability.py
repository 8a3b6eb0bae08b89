"""Nothing lost, nothing paid twice: chaos, crashes and retries through real ``dag.test()`` runs."""

from __future__ import annotations

import pytest
from tenacity import wait_exponential, wait_random

from airflow_provider_luma.hooks import _http
from airflow_provider_luma.testing import FaultRule
from tests.airflow_version import HAS_TASK_STATE_STORE
from tests.conftest import API_KEY
from tests.dags.luma_test_reliability_dags import CHAOS_GENERATIONS

# Six fault kinds, each firing on 3.65% of all requests: 1 - (1 - 0.0365) ** 6 = 20% faulted.
CHAOS_FAULTS = [
    FaultRule(route="*", kind=kind, rate=0.0365, retry_after=0, delay=0.2)
    for kind in ("429", "503", "502", "reset", "reset_after_create", "malformed_json")
]


@pytest.fixture
def fast_backoff(monkeypatch):
    """Compress the hook's backoff so hundreds of faults fit in a test run; the policy is unchanged."""
    monkeypatch.setattr(_http, "_backoff", wait_exponential(multiplier=0.01, max=0.05) + wait_random(0, 0.01))


@pytest.mark.slow
def test_chaos_every_generation_completes_and_is_paid_once(run_dag, emulator, fast_backoff, read_logs):
    emulator.configure(faults=CHAOS_FAULTS, seed=7, queued_seconds=0.05, dreaming_seconds=(0.1, 0.6))
    result = run_dag("luma_test_chaos")
    stats = emulator.stats
    assert result.state == "success", read_logs()[-5000:]
    urls = [result.xcom("generate", map_index=n) for n in range(CHAOS_GENERATIONS)]
    assert all(url and url.startswith(emulator.url) for url in urls)
    assert len(set(urls)) == CHAOS_GENERATIONS
    # Exactly one paid generation per task, though creates were faulted along the way.
    assert stats.creates == CHAOS_GENERATIONS
    assert len(emulator.generations) == CHAOS_GENERATIONS
    faulted = sum(stats.faults.values())
    assert faulted / stats.total_requests >= 0.15, (faulted, stats.total_requests)
    assert stats.faults["reset_after_create"] > 0
    assert API_KEY not in read_logs() + repr(result.all_xcom_values())


@pytest.mark.skipif(not HAS_TASK_STATE_STORE, reason="the task state store came with Airflow 3.3")
@pytest.mark.parametrize("mode", ["deferrable", "worker"])
def test_retry_after_a_crash_reattaches_to_the_same_generation(run_dag, emulator, mode, read_logs):
    result = run_dag(f"luma_test_crash_{mode}")
    assert result.state == "success"
    assert "simulated worker crash" in read_logs()
    assert "Re-attaching to generation" in read_logs()
    assert emulator.stats.creates == 1
    assert result.xcom("generate", "generation")["id"] == emulator.generations[0]["id"]


@pytest.mark.skipif(HAS_TASK_STATE_STORE, reason="this Airflow has a task state store")
def test_retry_without_a_task_state_store_says_so_and_creates_anew(run_dag, emulator, read_logs):
    result = run_dag("luma_test_crash_worker")
    assert result.state == "success"
    assert "has no task state store" in read_logs()
    assert emulator.stats.creates == 2
