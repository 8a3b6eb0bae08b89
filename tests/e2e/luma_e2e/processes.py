"""Long-running child processes with their own process group, a log file and a bounded stop."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from typing import TYPE_CHECKING, TypeVar

import psutil
import requests

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from pathlib import Path

T = TypeVar("T")


class WaitTimeout(AssertionError):
    """A bounded wait ran out; the message says what was awaited and what was seen last."""


class GiveUp(AssertionError):
    """Raised by a :func:`wait_until` check when waiting longer cannot help."""


def wait_until(check: Callable[[], T | None], *, timeout: float, what: str, interval: float = 0.5) -> T:
    """
    Call ``check`` until it returns something truthy; return that, or raise after ``timeout`` s.

    :param check: returns a truthy value when the wait is over; exceptions count as "not yet",
        except :class:`GiveUp`, which ends the wait at once.
    :param timeout: the most seconds to wait.
    :param what: what is awaited, for the error message.
    :param interval: seconds between two checks.
    """
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            result = check()
        except GiveUp:
            raise
        except Exception as exc:  # a service still starting answers with errors
            result, last = None, exc
        else:
            last = result
        if result:
            return result
        if time.monotonic() >= deadline:
            raise WaitTimeout(f"gave up after {timeout:.0f} s waiting for {what}; last seen: {last!r}")
        time.sleep(interval)


def clean_environ() -> dict[str, str]:
    """
    This process's environment without Airflow, pytest or Luma settings, loopback never proxied.

    ``tests/conftest.py`` points AIRFLOW_HOME and more at its own throwaway home when imported;
    none of that may leak into the stack (nor a real LUMAAI_API_KEY).
    """
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("AIRFLOW", "_AIRFLOW", "PYTEST", "LUMA"))
    }
    for name in ("NO_PROXY", "no_proxy"):
        env[name] = ",".join(filter(None, [env.get(name, ""), "127.0.0.1", "localhost"]))
    return env


def loopback_session() -> requests.Session:
    """An HTTP session for the harness's own calls to loopback services (ignores proxy settings)."""
    session = requests.Session()
    session.trust_env = False
    return session


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ManagedProcess:
    """
    A child process in a new session (its own process group), output appended to a log file.

    Stopping signals the whole group, so the helpers a process forks (executor workers, task
    supervisors, trigger runners) stop with it.

    :param name: short name used in messages, e.g. ``"scheduler"``.
    :param argv: the command.
    :param env: its complete environment.
    :param log_path: where stdout and stderr go (appended).
    :param cwd: its working directory.
    """

    def __init__(
        self, name: str, argv: Sequence[str], env: dict[str, str], log_path: Path, cwd: Path
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("ab") as log:
            log.write(f"\n===== {time.strftime('%H:%M:%S')} starting {name}: {' '.join(argv)}\n".encode())
            self.popen = subprocess.Popen(
                self.argv,
                env=env,
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        """The process id (also its process group id)."""
        return self.popen.pid

    def is_running(self) -> bool:
        """True while the main process has not exited."""
        return self.popen.poll() is None

    def check_running(self) -> None:
        """Raise with the end of the log if the process has exited."""
        if not self.is_running():
            raise AssertionError(
                f"{self.name} exited with code {self.popen.returncode}; end of {self.log_path}:\n"
                f"{tail(self.log_path)}"
            )

    def kill_group(self, sig: int = signal.SIGKILL) -> None:
        """
        Send ``sig`` to the whole process group (a missing group is fine).

        :param sig: the signal, SIGKILL by default (a crash: no clean-up code runs).
        """
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, sig)

    def descendants(self) -> list[psutil.Process]:
        """Every live descendant, including those that moved to a process group of their own."""
        try:
            return list(psutil.Process(self.pid).children(recursive=True))
        except psutil.Error:
            return []

    def stop(self, grace: float = 10.0) -> None:
        """
        SIGTERM the group, wait up to ``grace`` seconds, then SIGKILL the group and every
        descendant seen before (Airflow's task processes lead groups of their own); always reaps.

        :param grace: seconds allowed for a clean shutdown.
        """
        descendants = self.descendants()
        if self.is_running():
            self.kill_group(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout=grace)
        self.kill_group(signal.SIGKILL)
        for child in descendants:
            with contextlib.suppress(psutil.Error):
                child.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=5)


def tail(path: Path, lines: int = 60) -> str:
    """
    The last ``lines`` lines of a text file ("" if it does not exist).

    :param path: the file.
    :param lines: how many lines.
    """
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return ""
    return "\n".join(text.splitlines()[-lines:])
