"""
The runner: every benchmark in a fresh process, one after another, then the table.

``python -m benchmarks`` (``make bench``) prints the table and writes it, with the machine, to
``benchmarks/RESULTS.md``.
Benchmarks run one at a time, since they measure CPU and wall time; each is a module's ``run``
function in a :class:`~benchmarks._proc.Child` with a time limit (its Airflow logs go to a file),
and a benchmark that fails or overruns is reported and the others still run. ``--only NAME`` runs
some of them (the file is then not written unless ``--write`` is given); ``--rounds N`` overrides
every benchmark's rounds, for a quick look. ``--pyperf FILE`` also writes the rows' per-round
samples as one pyperf suite, for comparing two runs with ``python -m pyperf compare_to OLD NEW``.

The runner itself stays hand-written: pyperf's ``Runner`` spawns workers that time one function in
a loop, while each module here is a whole scenario (an emulator process, a triggerer-like process,
curl) whose rows already hold same-run baselines.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from benchmarks import report
from benchmarks._proc import Child, log, use_throwaway_airflow_home, warm_bytecode_cache
from benchmarks._results import Row, write_samples

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

#: (name, module, time limit in seconds), in the order they run.
BENCHMARKS = (
    ("import-cost", "benchmarks.bench_import_cost", 360),
    ("worker-slot", "benchmarks.bench_worker_slot", 480),
    # 2 loads x 3-4 modes x 3 rounds, and the devices' pass: 5 modes x 7 rounds at 200 waits
    ("concurrent-waits", "benchmarks.bench_concurrent_waits", 2700),
    ("detection-lag", "benchmarks.bench_detection_lag", 240),
    ("asset-copy", "benchmarks.bench_asset_copy", 240),
    ("http-clients", "benchmarks.bench_http_clients", 300),
    ("emulator-capacity", "benchmarks.bench_emulator_capacity", 120),
    ("devices", "benchmarks.bench_devices", 600),
)
RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
#: Everything the benchmarks import, compiled to byte-code before anything is timed.
MODULES = (
    "airflow.sdk",
    "airflow.triggers.base",
    "airflow.jobs.triggerer_job_runner",
    "airflow.providers.common.compat.connection",
    "airflow.providers.http.operators.http",
    "airflow.providers.standard.operators.python",
    "airflow_provider_luma.operators.luma",
    "airflow_provider_luma.hooks.luma",
    "airflow_provider_luma.triggers.luma",
    "airflow_provider_luma.storage",
    "airflow_provider_luma.testing.app",
    "aiohttp",
    "httpx",
    "requests",
    "uvicorn",
)


def measure(parent: Connection, module: str, rounds: int | None) -> list[Row]:
    """
    Be one benchmark's process: its module's ``run``.

    :param parent: the pipe to the runner.
    :param module: the module.
    :param rounds: rounds to run, or None for the module's own.
    """
    run = importlib.import_module(module).run
    rows: list[Row] = run() if rounds is None else run(rounds)
    return rows


def run_one(module: str, limit: float, log_path: str, rounds: int | None) -> list[Row]:
    """
    Run one benchmark in a fresh process; return its rows.

    :param module: its module.
    :param limit: seconds it may take.
    :param log_path: where its stdout goes.
    :param rounds: rounds to run, or None for the module's own.
    :raises RuntimeError: if it failed or overran (with the end of its log).
    """
    # Not a daemon: a benchmark starts processes of its own (the emulator, measured children).
    with Child(measure, module, rounds, output=log_path, daemon=False) as child:
        try:
            rows: list[Row] = child.result(limit)
        except (RuntimeError, TimeoutError) as exc:
            with open(log_path) as log_file:
                tail = "".join(log_file.readlines()[-15:])
            raise RuntimeError(f"{exc}\nthe end of its output:\n{tail}") from None
    return rows


def main(argv: list[str] | None = None) -> int:
    """
    Run the benchmarks; print the table; write ``RESULTS.md``. Exit 1 if a benchmark failed to run
    (missed targets are findings, reported in the table, and do not fail the run).

    :param argv: command-line arguments.
    """
    parser = argparse.ArgumentParser(description=__doc__)
    names = [name for name, _, _ in BENCHMARKS]
    parser.add_argument("--only", action="append", choices=names, help="run only this one (repeatable)")
    parser.add_argument("--output", type=Path, default=RESULTS, help="where to write the markdown")
    parser.add_argument("--write", action="store_true", help="write the markdown even with --only")
    parser.add_argument("--pyperf", type=Path, help="also write the raw samples here as a pyperf suite")
    parser.add_argument("--rounds", type=int, help="rounds of every benchmark (default: each one's own)")
    args = parser.parse_args(argv)
    use_throwaway_airflow_home()
    machine = report.machine()
    started = time.monotonic()
    log("compiling the modules the benchmarks load (byte-code cache outside the source tree)")
    warm_bytecode_cache(MODULES)
    rows: list[Row] = []
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="luma-bench-run-") as folder:
        for name, module, limit in BENCHMARKS:
            if args.only and name not in args.only:
                continue
            log(f"== {name} ({module}), at most {limit} s")
            began = time.monotonic()
            try:
                rows += run_one(module, limit, os.path.join(folder, f"{name}.log"), args.rounds)
            except RuntimeError as exc:
                failures.append(f"{name}: {exc}")
                log(f"FAILED {name}: {exc}")
            log(f"== {name} took {time.monotonic() - began:.0f} s")
    if args.pyperf:
        log(f"{write_samples(rows, args.pyperf)} sampled figures written to {args.pyperf}")
    runtime = time.monotonic() - started
    machine["Load average at the end (1, 5, 15 min)"] = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print()
    print(report.text_table(rows))
    for failure in failures:
        print(f"\nFAILED {failure}")
    print(f"\n{len(rows)} figures in {runtime / 60:.1f} min")
    if not args.only or args.write:
        args.output.write_text(report.markdown(rows, machine, runtime, failures))
        print(f"written to {args.output}")
    sys.stdout.flush()
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
