"""
Child processes, interleaved rounds, memory and CPU readings: what every benchmark uses to measure
itself in isolation.

A :class:`Child` runs a function in a fresh interpreter (multiprocessing's ``spawn``) and talks to
this process over a pipe: the function gets its end of the pipe, may send and receive messages on
the way (``READY``, the ids to wait on...), and what it returns is sent last. A child gets SIGTERM
if the process that started it dies (Linux ``PR_SET_PDEATHSIG``). Other processes' CPU time comes
from psutil; the peak RSS of this process from ``/proc`` (``VmHWM``, which psutil does not read,
reset through ``clear_refs``).
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from multiprocessing.connection import Connection
    from types import TracebackType

REPO_ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
#: Byte-code caches of every module the benchmarks load, outside the source tree; kept between runs
#: (Python checks each against its source).
PYCACHE = os.path.join(tempfile.gettempdir(), f"luma-bench-pycache-{os.getuid()}")
_PR_SET_PDEATHSIG = 1
_SPAWN = multiprocessing.get_context("spawn")
Side = TypeVar("Side")
Result = TypeVar("Result")


def use_throwaway_airflow_home() -> str:
    """
    Point ``AIRFLOW_HOME`` at a temporary directory, inherited by child processes; call before
    Airflow is imported. It is removed at exit.

    Byte-code caches are turned on (``PYTHONDONTWRITEBYTECODE`` removed) and kept in
    :data:`PYCACHE` (``PYTHONPYCACHEPREFIX``), so every module, ours and the baselines' alike, is
    loaded from a compiled cache as in an installed deployment, and nothing is written into the
    source tree.
    """
    home = tempfile.mkdtemp(prefix="luma-bench-airflow-")
    atexit.register(shutil.rmtree, home, True)
    os.environ["AIRFLOW_HOME"] = home
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    os.environ["PYTHONPYCACHEPREFIX"] = PYCACHE
    sys.dont_write_bytecode = False
    sys.pycache_prefix = PYCACHE
    return home


def warm_bytecode_cache(modules: Sequence[str], timeout: float = 300.0) -> None:
    """
    Import ``modules`` once in a child process, so that their byte-code caches exist before anything
    is timed.

    :param modules: module names.
    :param timeout: seconds the child may take.
    """
    code = "import contextlib, importlib, sys\nfor name in sys.argv[1:]:\n"
    code += "    with contextlib.suppress(ImportError):\n        importlib.import_module(name)\n"
    subprocess.run(
        [PYTHON, "-c", code, *modules], cwd=REPO_ROOT, check=True, timeout=timeout, stdout=subprocess.DEVNULL
    )


class ChildFailed:
    """
    What a child sends instead of its result when its function raised.

    :param trace: the formatted traceback.
    """

    def __init__(self, trace: str) -> None:
        self.trace = trace


def _child_main(
    target: Callable[..., Any],
    parent: Connection,
    env: dict[str, str],
    output: str | None,
    args: tuple[Any, ...],
) -> None:
    """Run in the child: die with the parent, take ``env``, run ``target``, send its result."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    os.environ.update(env)
    # multiprocessing passes on -B (PYTHONDONTWRITEBYTECODE in this environment): write byte-code
    # caches, as use_throwaway_airflow_home does for the runner, so later children load them.
    sys.dont_write_bytecode = False
    if output:  # Airflow's and the server's logs: a file, not the terminal; progress stays on stderr
        sys.stdout.flush()
        os.dup2(os.open(output, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644), 1)
    try:
        result = target(parent, *args)
    except BaseException:
        parent.send(ChildFailed(traceback.format_exc()))
        raise
    parent.send(result)


class Child:
    """
    ``target(pipe, *args)`` in a fresh interpreter; stopped on exit from a ``with`` block.

    :param target: a module-level function; its first argument is its end of the pipe.
    :param args: its other arguments (picklable).
    :param env: variables added to its environment (this process's is inherited).
    :param output: a file its stdout goes to (default: this process's stdout).
    :param daemon: stopped when this process exits; a child that starts children of its own must
        not be one (multiprocessing forbids it).
    """

    def __init__(
        self,
        target: Callable[..., Any],
        *args: Any,
        env: dict[str, str] | None = None,
        output: str | None = None,
        daemon: bool = True,
    ) -> None:
        self.name = f"{target.__module__}.{target.__name__}{args!r}"[:200]
        self._pipe, theirs = _SPAWN.Pipe()
        self.process = _SPAWN.Process(
            target=_child_main, args=(target, theirs, dict(env or {}), output, args), daemon=daemon
        )
        self.process.start()
        theirs.close()

    @property
    def pid(self) -> int:
        """The child's process id."""
        assert self.process.pid is not None
        return self.process.pid

    def send(self, value: Any) -> None:
        """
        Send one message to the child.

        :param value: any picklable value.
        """
        self._pipe.send(value)

    def receive(self, timeout: float) -> Any:
        """
        The child's next message (its result is the last).

        :param timeout: seconds to wait at most.
        :raises TimeoutError: if none came in time.
        :raises RuntimeError: if the child raised, or ended without sending.
        """
        if not self._pipe.poll(timeout):
            raise TimeoutError(f"{self.name} sent nothing within {timeout:g} s")
        try:
            message = self._pipe.recv()
        except EOFError:
            self.process.join(5)
            raise RuntimeError(f"{self.name} exited ({self.process.exitcode}) before sending") from None
        if isinstance(message, ChildFailed):
            raise RuntimeError(f"{self.name} failed:\n{message.trace}")
        return message

    def result(self, timeout: float) -> Any:
        """
        The child's result; then wait for it to exit.

        :param timeout: seconds to wait for the result at most.
        """
        result = self.receive(timeout)
        self.process.join(30)
        return result

    def stop(self, timeout: float = 5.0) -> None:
        """
        Stop the child: SIGTERM, then SIGKILL after ``timeout`` seconds (idempotent).

        :param timeout: seconds to wait for it to exit after each signal.
        """
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(timeout)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(timeout)
        self._pipe.close()

    def __enter__(self) -> Child:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


if threading.current_thread() is threading.main_thread():
    # SIGTERM normally skips atexit: turn it into SystemExit so that children are stopped too.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)


def interleaved(
    rounds: int, sides: Sequence[Side], measure: Callable[[Side], Result]
) -> dict[Side, list[Result]]:
    """
    Measure every side once per round, the order rotated by one each round, so that a slow stretch
    of a shared machine falls on every side alike; return each side's results, round by round.

    :param rounds: rounds.
    :param sides: what is compared (ours and the baselines, or a device and its plain form).
    :param measure: measures one side once.
    """
    results: dict[Side, list[Result]] = {side: [] for side in sides}
    for index in range(rounds):
        shift = index % len(sides)
        for side in [*sides[shift:], *sides[:shift]]:
            results[side].append(measure(side))
    return results


def log(message: str) -> None:
    """
    Progress for humans, on stderr (stdout carries Airflow's logs, to a file under the runner).

    :param message: the text.
    """
    print(f"  {message}", file=sys.stderr, flush=True)


# -- memory and CPU -------------------------------------------------------------------------------


def status_kib(field: str) -> int:
    """
    One ``kB`` field of this process's ``/proc/self/status``: ``VmRSS`` (now) or ``VmHWM`` (peak).

    :param field: the field name.
    """
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


class MemoryWatch:
    """
    Peak RSS growth of this process over a stretch of code.

    ``VmHWM`` is reset at the start when the kernel allows it (``clear_refs``, Linux >= 4.0);
    otherwise the peak since the process started counts, which can only overstate the growth.
    """

    def __init__(self) -> None:
        try:
            with open("/proc/self/clear_refs", "w") as clear_refs:
                clear_refs.write("5")
            self.reset_ok = True
        except OSError:
            self.reset_ok = False
        self.baseline_kib = status_kib("VmRSS")

    def growth_mb(self) -> float:
        """Peak RSS now minus RSS at the start, in MB (10^6 bytes)."""
        return (status_kib("VmHWM") - self.baseline_kib) * 1024 / 1e6


def process_cpu_seconds(pid: int) -> float:
    """
    User + system CPU seconds of another process so far.

    :param pid: its process id.
    """
    import psutil  # here: measured children import this module and should not load psutil

    times = psutil.Process(pid).cpu_times()
    return times.user + times.system
