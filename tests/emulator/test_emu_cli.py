"""``python -m airflow_provider_luma.testing`` as a subprocess, and its argument parsing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest
import requests

from airflow_provider_luma.testing.cli import build_parser, config_from_args


def start(*args: str, env: dict[str, str] | None = None) -> tuple[subprocess.Popen[str], str, str]:
    """Start the CLI; return the process, its base URL and the control token it printed."""
    process, printed = start_printing(*args, env=env)
    return process, printed["LUMA_EMULATOR_URL"], printed["LUMA_EMULATOR_CONTROL_TOKEN"]


def start_printing(
    *args: str, env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[str], dict[str, str]]:
    """Start the CLI; return the process and the lines it printed, by name."""
    process = subprocess.Popen(
        [sys.executable, "-m", "airflow_provider_luma.testing", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )
    assert process.stdout is not None
    printed = {}
    for _ in range(3):
        line = process.stdout.readline()
        name, _, value = line.strip().partition("=")
        printed[name] = value
    assert list(printed) == [
        "LUMA_EMULATOR_CONTROL_TOKEN",
        "LUMA_EMULATOR_URL",
        "LUMA_AGENTS_EMULATOR_URL",
    ], (
        printed,
        process.stderr.read() if process.stderr else "",
    )
    return process, printed


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_cli_serves_until_signalled(stop_signal):
    process, base_url, _ = start(
        "--api-key", "cli-secret-key", "--queued-seconds", "0", "--dreaming-seconds", "0"
    )
    try:
        assert base_url.startswith("http://127.0.0.1:")
        assert base_url.endswith("/dream-machine/v1")
        headers = {"Authorization": "Bearer cli-secret-key"}
        assert requests.get(base_url + "/ping", headers=headers, timeout=10).json() == {"message": "pong"}
        created = requests.post(
            base_url + "/generations/image",
            json={"model": "photon-1", "prompt": "a blocked idea"},
            headers=headers,
            timeout=10,
        ).json()
        generation = requests.get(
            f"{base_url}/generations/{created['id']}", headers=headers, timeout=10
        ).json()
        assert generation["failure_reason"] == "Contains blacklisted words"
    finally:
        process.send_signal(stop_signal)
        stdout, stderr = process.communicate(timeout=15)
    assert process.returncode == 0, stderr
    assert "cli-secret-key" not in stdout + stderr


def test_arguments_become_settings():
    args = build_parser().parse_args(
        [
            "--dreaming-seconds",
            "2,8",
            "--blocked-word",
            "nope",
            "never",
            "--blocked-word",
            "no",
            "--credits",
            "50",
        ]
    )
    config = config_from_args(args)
    assert config.dreaming_seconds == (2.0, 8.0)
    assert config.blocked_words == ["nope", "never", "no"]
    assert config.credits == 50
    defaults = config_from_args(build_parser().parse_args([]))
    assert defaults.blocked_words == ["blocked"]
    assert build_parser().parse_args([]).port == 8765


@pytest.mark.parametrize(("host", "warned"), [("127.0.0.1", False), ("localhost", False), ("0.0.0.0", True)])
def test_the_cli_warns_when_it_listens_beyond_loopback(host, warned):
    """Beyond loopback, anyone who reaches it can use its API, and read its token off the wire."""
    process, base_url, _ = start("--host", host)
    try:
        assert requests.get(base_url + "/ping", headers={"Authorization": "Bearer test-key"}, timeout=10).ok
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=15)
    assert ("beyond loopback: its API and assets have no real protection" in stderr) is warned
    assert "test-key" not in stderr


def test_the_cli_prints_its_control_token_and_the_routes_need_it():
    process, base_url, token = start()
    chosen_process, chosen_url, chosen = start(env={"LUMA_EMULATOR_CONTROL_TOKEN": "harness-token"})
    try:
        stats = base_url.replace("/dream-machine/v1", "/_emulator/stats")
        assert len(token) >= 32
        assert requests.get(stats, timeout=10).status_code == 401
        assert requests.get(stats, headers={"X-Luma-Emulator-Token": token}, timeout=10).status_code == 200
        assert chosen == "harness-token"
        chosen_stats = chosen_url.replace("/dream-machine/v1", "/_emulator/stats")
        headers = {"X-Luma-Emulator-Token": "harness-token"}
        assert requests.get(chosen_stats, headers=headers, timeout=10).status_code == 200
        assert (
            requests.get(chosen_stats, headers={"X-Luma-Emulator-Token": token}, timeout=10).status_code
            == 401
        )
    finally:
        for running in (process, chosen_process):
            running.send_signal(signal.SIGTERM)
            running.communicate(timeout=15)


def test_cli_prints_the_agents_api_url_and_serves_it_with_the_same_key():
    process, printed = start_printing(
        "--api-key", "cli-agents-key", "--queued-seconds", "0", "--dreaming-seconds", "0"
    )
    try:
        agents_url = printed["LUMA_AGENTS_EMULATOR_URL"]
        base_url = printed["LUMA_EMULATOR_URL"]
        assert agents_url == base_url.replace("/dream-machine/v1", "/agents/v1")
        assert agents_url.startswith("http://127.0.0.1:")
        headers = {"Authorization": "Bearer cli-agents-key"}
        created = requests.post(
            agents_url + "/generations", json={"prompt": "a fox"}, headers=headers, timeout=10
        )
        assert created.status_code == 201
        generation = requests.get(
            f"{agents_url}/generations/{created.json()['id']}", headers=headers, timeout=10
        )
        assert generation.json()["state"] == "completed"
        assert generation.json()["output"][0]["url"].startswith(base_url.removesuffix("/dream-machine/v1"))
        wrong = requests.get(agents_url + "/files", headers={"Authorization": "Bearer other"}, timeout=10)
        assert wrong.status_code == 401
    finally:
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=15)
    assert process.returncode == 0, stderr
    assert "cli-agents-key" not in stdout + stderr
