"""``python -m airflow_provider_luma.testing`` as a subprocess, and its argument parsing."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest
import requests

from airflow_provider_luma.testing.cli import build_parser, config_from_args


def start(*args: str) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "airflow_provider_luma.testing", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line.startswith("LUMA_EMULATOR_URL="), (line, process.stderr.read() if process.stderr else "")
    return process, line.strip().split("=", 1)[1]


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_cli_serves_until_signalled(stop_signal):
    process, base_url = start(
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
    """Its /_emulator/* endpoints have no authentication: anyone who reaches it could steer it."""
    process, base_url = start("--host", host)
    try:
        assert requests.get(base_url + "/ping", headers={"Authorization": "Bearer test-key"}, timeout=10).ok
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=15)
    assert ("beyond loopback: its /_emulator/* control endpoints have no authentication" in stderr) is warned
    assert "test-key" not in stderr
