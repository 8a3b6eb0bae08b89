"""
Airflow's metrics of Luma generations: a real ``airflow dags test`` with Airflow's StatsD client on,
sending to a UDP socket this test reads as a StatsD server would.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_provider_luma.testing import FaultRule

pytest.importorskip("statsd")


def run_with_statsd(dag_id: str) -> list[str]:
    """Run ``dag_id`` with ``airflow dags test``; return the StatsD lines Airflow sent meanwhile."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as server:
        server.bind(("127.0.0.1", 0))
        server.settimeout(0.2)
        env = {
            **os.environ,
            "AIRFLOW__METRICS__STATSD_ON": "True",
            "AIRFLOW__METRICS__STATSD_HOST": "127.0.0.1",
            "AIRFLOW__METRICS__STATSD_PORT": str(server.getsockname()[1]),
            "AIRFLOW__METRICS__STATSD_PREFIX": "airflow",
        }
        airflow = str(Path(sys.executable).parent / "airflow")
        done = subprocess.run(
            [airflow, "dags", "test", dag_id], env=env, capture_output=True, text=True, timeout=300
        )
        lines = []
        while True:
            try:
                packet = server.recv(65536)
            except TimeoutError:
                break
            lines += packet.decode(errors="replace").splitlines()
    assert done.returncode == 0 or "failed" in done.stdout + done.stderr, done.stderr[-3000:]
    return lines


def luma_lines(lines: list[str]) -> list[str]:
    return [line for line in lines if line.startswith("airflow.luma.")]


def test_a_generation_is_counted_priced_and_timed_per_model(airflow_db, emulator):
    emulator.configure(
        queued_seconds=0.5,
        dreaming_seconds=1.0,
        faults=[FaultRule(route="POST /generations/image", kind="429", retry_after=1, times=1)],
    )
    lines = luma_lines(run_with_statsd("luma_test_max_cost_within"))
    assert emulator.stats.creates == 1
    assert "airflow.luma.generation.created.photon-1:1|c" in lines, lines
    assert "airflow.luma.generation.cost_micro_usd.photon-1:7300|c" in lines  # $0.0073
    assert "airflow.luma.generation.completed.photon-1:1|c" in lines
    assert "airflow.luma.api.rate_limited.image:1|c" in lines  # the create answered 429 first
    timers = {line.split(":")[0]: float(line.split(":")[1].split("|")[0]) for line in lines if "|ms" in line}
    # Dreaming 1 s, seen by polls 0.2 s apart.
    assert 0.6 <= timers["airflow.luma.generation.dreaming_seconds.photon-1"] / 1000 <= 1.6, timers


def test_a_failed_generation_is_counted_as_failed(airflow_db, emulator):
    emulator.configure(blocked_words=["lighthouse"])
    lines = luma_lines(run_with_statsd("luma_test_max_cost_within"))
    assert "airflow.luma.generation.created.photon-1:1|c" in lines, lines
    assert "airflow.luma.generation.failed.photon-1:1|c" in lines
    assert not [line for line in lines if ".completed." in line]
