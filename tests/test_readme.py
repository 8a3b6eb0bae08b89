"""
The README for users: its two set-up commands first, at most 250 lines, no claim a reader cannot
check (an install URL or a docs site that does not exist), and its quick start run as written.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from airflow.providers.common.compat.version_compat import AIRFLOW_V_3_0_PLUS

README = Path(__file__).resolve().parents[1] / "README.md"


def test_the_readme_starts_with_the_two_set_up_commands_and_stays_short():
    lines = README.read_text().splitlines()
    commands = [line.split("#")[0].strip() for line in lines[:6] if line.startswith("make ")]
    assert commands == ["make demo", "make test"]
    assert len(lines) <= 250


def test_the_readme_points_at_nothing_that_does_not_exist():
    import re

    text = README.read_text()
    assert "git+https://" not in text  # no repository is published to install from
    assert "github.io" not in text  # nor a docs site
    links = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text)
    local = [link for link in links if not link.startswith("https://")]
    assert "docs/development.rst" in local
    missing = [link for link in local if not (README.parent / link).exists()]
    assert not missing


@pytest.mark.skipif(not AIRFLOW_V_3_0_PLUS, reason="the quick start imports airflow.sdk (Airflow 3)")
def test_the_quick_start_runs_as_written(run_dag, emulator, read_logs):
    result = run_dag("lighthouse")
    assert result.state == "success", read_logs()[-3000:]
    image, video = emulator.generations
    assert (image["request"]["model"], video["request"]["model"]) == ("photon-1", "ray-2")
    assert video["request"]["keyframes"]["frame0"] == {"type": "image", "url": image["assets"]["image"]}
    assert f"/readme/{video['id']}." in result.xcom("video")  # the stored copy
    assert result.xcom("video", "cost") == pytest.approx(0.71)


@pytest.mark.skipif(not AIRFLOW_V_3_0_PLUS, reason="the quick start imports airflow.sdk (Airflow 3)")
def test_the_agents_quick_start_runs_as_written(run_dag, emulator, read_logs):
    result = run_dag("lantern")
    assert result.state == "success", read_logs()[-3000:]
    image, layers = emulator.agents_generations
    assert (image["type"], image["model"], layers["type"]) == ("image", "uni-1", "layering")
    assert emulator.stats.creates == 0  # nothing went to the Dream Machine API
    stored = result.xcom("layers")
    assert len(stored) == len(layers["output"]) > 1  # every layer, stored
    assert all(f"/readme/{layers['id']}-" in path for path in stored)
