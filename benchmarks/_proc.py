"""
Child processes, memory and CPU readings: what every benchmark uses to measure itself in isolation.

Children are started with :func:`spawn`: they run from the repository root with the same Python,
get SIGTERM if the process that started them dies (Linux ``PR_SET_PDEATHSIG``), and are stopped
at exit by :func:`stop_all`. A child talks back with one-line messages on stdout (``READY``,
``RESULT <json>``...), read with bounded waits by :class:`LineReader`.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import json
import math
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Sequence

REPO_ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
#: Byte-code caches of every module the benchmarks load, outside the source tree; kept between runs
#: (Python checks each against its source).
PYCACHE = os.path.join(tempfile.gettempdir(), f"luma-bench-pycache-{os.getuid()}")
_PR_SET_PDEATHSIG = 1
_children: set[subprocess.Popen[str]] = set()


def use_throwaway_airflow_home() -> str:
    """
    Point ``AIRFLOW_HOME`` at a temporary directory shared with child processes; call before Airflow
    is imported. The process that created it removes it at exit.

    Byte-code caches are turned on (``PYTHONDONTWRITEBYTECODE`` removed) and kept in
    :data:`PYCACHE` (``PYTHONPYCACHEPREFIX``), so every module, ours and the baselines' alike, is
    loaded from a compiled cache as in an installed deployment, and nothing is written into the
    source tree.
    """
    home = os.environ.get("LUMA_BENCH_AIRFLOW_HOME")
    if not home:
        home = tempfile.mkdtemp(prefix="luma-bench-airflow-")
        os.environ["LUMA_BENCH_AIRFLOW_HOME"] = home
        atexit.register(shutil.rmtree, home, True)
    os.environ["AIRFLOW_HOME"] = home
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    os.environ["PYTHONPYCACHEPREFIX"] = PYCACHE
    sys.dont_write_bytecode = False
    sys.pycache_prefix = os.environ["PYTHONPYCACHEPREFIX"]
    return home


def warm_bytecode_cache(modules: Sequence[str], timeout: float = 300.0) -> None:
    """
    Import ``modules`` once in a child process, so that their byte-code caches exist before anything
    is timed (skipped when the runner did it already).

    :param modules: module names.
    :param timeout: seconds the child may take.
    """
    if os.environ.get("LUMA_BENCH_WARM") == "1":
        return
    code = (
        "import contextlib, importlib, sys\n"
        "for name in sys.argv[1:]:\n"
        "    with contextlib.suppress(ImportError):\n"
        "        importlib.import_module(name)\n"
    )
    subprocess.run(
        [PYTHON, "-c", code, *modules],
        cwd=REPO_ROOT,
        env=os.environ.copy(),
        check=True,
        timeout=timeout,
        stdout=subprocess.DEVNULL,
    )
    os.environ["LUMA_BENCH_WARM"] = "1"


def _die_with_parent() -> None:
    """Run in the child before exec: receive SIGTERM when the parent process dies."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def spawn(
    args: Sequence[str],
    *,
    python: bool = True,
    stdin: int | None = None,
    stdout: int | IO[Any] | None = subprocess.PIPE,
    env: dict[str, str] | None = None,
) -> subprocess.Popen[str]:
    """
    Start a child process that cannot outlive this one.

    :param args: arguments, after the Python interpreter when ``python`` is true.
    :param python: prefix ``args`` with this interpreter.
    :param stdin: ``subprocess.PIPE`` to write to the child, else inherited.
    :param stdout: where its stdout goes (a pipe by default, read with :class:`LineReader`).
    :param env: its environment (default: this one's).
    """
    command = [PYTHON, *args] if python else list(args)
    proc = subprocess.Popen(
        command,
        cwd=REPO_ROOT,
        env=env if env is not None else os.environ.copy(),
        stdin=stdin,
        stdout=stdout,
        text=True,
        preexec_fn=_die_with_parent,
    )
    _children.add(proc)
    return proc


def stop(proc: subprocess.Popen[str], timeout: float = 5.0) -> None:
    """
    Stop a child: SIGTERM, then SIGKILL after ``timeout`` seconds (idempotent).

    :param proc: the child.
    :param timeout: seconds to wait for it to exit after each signal.
    """
    _children.discard(proc)
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout)
    for stream in (proc.stdin, proc.stdout):
        if stream is not None:
            with contextlib.suppress(OSError):
                stream.close()


def stop_all() -> None:
    """Stop every child still running."""
    for proc in list(_children):
        stop(proc)


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


atexit.register(stop_all)
if threading.current_thread() is threading.main_thread():
    # SIGTERM normally skips atexit: turn it into SystemExit so children are stopped too.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)


class LineReader:
    """
    Reads a child's stdout lines on a background thread, so waiting for one can be bounded.

    Lines that are not the awaited message (Airflow's logs, mostly) are kept in :attr:`tail` for
    error messages, and copied to stderr when ``echo`` is true.

    :param proc: a child started with ``stdout=subprocess.PIPE``.
    :param echo: copy the other lines to stderr.
    """

    def __init__(self, proc: subprocess.Popen[str], echo: bool = False) -> None:
        self.proc = proc
        self.echo = echo
        self.tail: deque[str] = deque(maxlen=20)
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def expect(self, prefix: str, timeout: float) -> str:
        """
        Wait for the line starting with ``prefix``; return the rest of it.

        :param prefix: e.g. ``"READY"`` or ``"RESULT "``.
        :param timeout: seconds to wait at most.
        :raises TimeoutError: if it did not come in time.
        :raises RuntimeError: if the child ended first.
        """
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                last = "\n".join(self.tail)
                raise TimeoutError(
                    f"no {prefix.strip()!r} line from {self.proc.args!r} within {timeout} s; "
                    f"its last output:\n{last}"
                )
            try:
                line = self._lines.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                code = self.proc.wait()
                last = "\n".join(self.tail)
                raise RuntimeError(
                    f"{self.proc.args!r} exited ({code}) before sending {prefix.strip()!r}; "
                    f"its last output:\n{last}"
                )
            if line.startswith(prefix):
                return line[len(prefix) :]
            self.tail.append(line)
            if self.echo:
                print(f"    | {line}", file=sys.stderr)


def send_message(tag: str, value: Any = None) -> None:
    """
    Send one message to the parent: ``TAG <json>`` on stdout, flushed.

    :param tag: e.g. ``"READY"`` or ``"RESULT"``.
    :param value: any JSON-ready value.
    """
    print(f"{tag} {json.dumps(value)}", flush=True)


def receive_message(reader: LineReader, tag: str, timeout: float) -> Any:
    """
    Wait for the child's ``TAG <json>`` message and decode it.

    :param reader: the child's stdout.
    :param tag: the message tag.
    :param timeout: seconds to wait at most.
    """
    return json.loads(reader.expect(f"{tag} ", timeout))


def log(message: str) -> None:
    """
    Progress for humans, on stderr (stdout carries messages to the parent).

    :param message: the text.
    """
    print(f"  {message}", file=sys.stderr, flush=True)


# -- memory and CPU -------------------------------------------------------------------------------


def status_kib(field: str, pid: int | str = "self") -> int:
    """
    One ``kB`` field of ``/proc/<pid>/status``, e.g. ``VmRSS`` (resident now) or ``VmHWM`` (peak).

    :param field: the field name.
    :param pid: a process id, or ``"self"``.
    """
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def reset_peak_rss() -> bool:
    """Reset this process's ``VmHWM`` to its current RSS (Linux >= 4.0); False if not allowed."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
    except OSError:
        return False
    return True


class MemoryWatch:
    """
    Peak RSS growth of this process over a stretch of code.

    ``VmHWM`` is reset at the start when the kernel allows it; otherwise the peak since the process
    started counts, which can only overstate the growth.
    """

    def __init__(self) -> None:
        self.reset_ok = reset_peak_rss()
        self.baseline_kib = status_kib("VmRSS")

    def growth_mib(self) -> float:
        """Peak RSS now minus RSS at the start, in MiB."""
        return (status_kib("VmHWM") - self.baseline_kib) / 1024


def process_cpu_seconds(pid: int) -> float:
    """
    User + system CPU seconds of another process so far, from ``/proc/<pid>/stat``.

    :param pid: its process id.
    """
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_seconds() -> float:
    """CPU time of this process (all threads, user + system), in seconds."""
    return time.process_time()


def percentile(values: Sequence[float], fraction: float) -> float:
    """
    The ``fraction`` percentile (nearest rank) of ``values``.

    :param values: the samples (not empty).
    :param fraction: e.g. 0.99.
    """
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(fraction * len(ordered))))
    return ordered[rank - 1]
