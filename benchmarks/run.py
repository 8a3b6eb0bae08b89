"""
The runner: every benchmark in a fresh process, one after another, then the table.

``python -m benchmarks`` (``make bench``) prints the table and writes ``benchmarks/RESULTS.md`` (and
the table, with the machine, into README.md).
Benchmarks run one at a time, since they measure CPU and wall time; each has a time limit, and a
benchmark that fails or overruns is reported and the others still run. ``--only NAME`` runs some
of them (the file is then not written unless ``--write`` is given). ``--pyperf FILE`` also writes
the raw samples of the benchmarks that keep them as one pyperf suite, for comparing two runs with
``python -m pyperf compare_to OLD NEW``.

The runner itself stays hand-written: pyperf's ``Runner`` spawns workers that time one function in
a loop, while each module here is a whole scenario (an emulator process, a triggerer-like process,
curl) in a process of its own with a time limit, whose rows already hold same-run baselines.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import report
from benchmarks._proc import log, spawn, stop, use_throwaway_airflow_home, warm_bytecode_cache
from benchmarks._results import Row, load_rows, merge_samples

#: (name, module, time limit in seconds), in the order they run.
BENCHMARKS = (
    ("import-cost", "benchmarks.bench_import_cost", 360),
    ("worker-slot", "benchmarks.bench_worker_slot", 480),
    ("concurrent-waits", "benchmarks.bench_concurrent_waits", 2400),  # 2 loads x 4 modes x 3 rounds
    ("detection-lag", "benchmarks.bench_detection_lag", 240),
    ("asset-copy", "benchmarks.bench_asset_copy", 240),
    ("http-clients", "benchmarks.bench_http_clients", 300),
    ("emulator-capacity", "benchmarks.bench_emulator_capacity", 120),
    ("devices", "benchmarks.bench_devices", 600),
)
RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
#: A full run also writes its table into the README, between markers (see ``report.update_readme``).
README = Path(__file__).resolve().parent.parent / "README.md"
#: Everything the benchmarks import, compiled to byte-code before anything is timed.
MODULES = (
    "airflow.sdk",
    "airflow.triggers.base",
    "airflow.providers.common.compat.connection",
    "airflow.providers.http.operators.http",
    "airflow.providers.standard.operators.python",
    "airflow_provider_luma.operators.luma",
    "airflow_provider_luma.hooks.luma",
    "airflow_provider_luma.triggers.luma",
    "airflow_provider_luma.storage",
    "airflow_provider_luma.testing.app",
    "aiohttp",
    "requests",
    "uvicorn",
)


def run_one(name: str, module: str, limit: float, folder: str) -> list[Row]:
    """
    Run one benchmark module in a fresh process; return its rows.

    :param name: its short name.
    :param module: the module to run with ``-m``.
    :param limit: seconds it may take.
    :param folder: where its rows and log go.
    :raises RuntimeError: if it failed or overran (with the end of its log).
    """
    out, log_path = os.path.join(folder, f"{name}.json"), os.path.join(folder, f"{name}.log")
    with open(log_path, "w") as log_file:
        proc = spawn(["-m", module, "--out", out], stdout=log_file)
        try:
            code = proc.wait(limit)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"{name} did not finish within {limit:.0f} s") from None
        finally:
            stop(proc)  # also on Ctrl-C: the child and its emulator go with it
    if code != 0 or not os.path.exists(out):
        with open(log_path) as log_file:
            tail = "".join(log_file.readlines()[-15:])
        raise RuntimeError(f"{name} exited with status {code}; the end of its output:\n{tail}")
    return load_rows(out)


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
                rows += run_one(name, module, limit, folder)
            except RuntimeError as exc:
                failures.append(f"{name}: {exc}")
                log(f"FAILED {exc}")
            log(f"== {name} took {time.monotonic() - began:.0f} s")
        if args.pyperf:
            suites = [os.path.join(folder, f"{name}.json.pyperf.json") for name in names]
            log(f"{merge_samples(suites, str(args.pyperf))} sampled figures written to {args.pyperf}")
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
    if not args.only and not failures and report.update_readme(README, report.readme_block(rows, machine)):
        print(f"table written to {README}")
    sys.stdout.flush()
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
