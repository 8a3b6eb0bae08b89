"""
Import cost of the operators module on top of ``airflow.sdk``, which every DAG file pays; and of
the hook in a task process, which every task that creates a generation pays.

Each sample is a fresh interpreter that imports ``airflow.sdk`` first (untimed), then times the
import of one module. Modules are sampled in rounds, the order rotated each round, so that drift
in machine load spreads over all of them; the figure is the median. Baselines: the HTTP provider's
operator module and the standard provider's PythonOperator module. The hook is timed after the Task
SDK's task runner and the operators module (what a task process has loaded when ``execute``
starts), against ``requests`` timed the same way: the hook's calls use requests, imported at the
first call, not with the hook.

Byte-code caches are on for every module (see :func:`benchmarks._proc.use_throwaway_airflow_home`)
and warmed by one discarded import of each: this environment sets ``PYTHONDONTWRITEBYTECODE=1``
and uv installs packages without ``.pyc`` files, so otherwise every interpreter would compile each
module from source, which is not what a deployed DAG processor or worker does.

The samples are timed here, not by pyperf's ``Runner``: its worker processes time a function after
importing the benchmark script, while a sample here is the import inside a fresh interpreter after
an untimed preload, interleaved with the baselines round by round (the ratio targets pair each
round's values). The rows keep the samples for pyperf (:func:`benchmarks._results.write_samples`).
"""

from __future__ import annotations

import os
import statistics
import subprocess

from benchmarks._proc import PYTHON, REPO_ROOT, interleaved, log
from benchmarks._results import Baseline, Row, median_ratio, ratios_note

OURS = "airflow_provider_luma.operators.luma"
BASELINES = {
    "HTTP provider (`airflow.providers.http.operators.http`)": "airflow.providers.http.operators.http",
    "PythonOperator (`airflow.providers.standard.operators.python`)": (
        "airflow.providers.standard.operators.python"
    ),
}
HTTP_MODULE = BASELINES["HTTP provider (`airflow.providers.http.operators.http`)"]
PYTHON_MODULE = BASELINES["PythonOperator (`airflow.providers.standard.operators.python`)"]
#: Ours against the standard provider's PythonOperator module (a few imports of Airflow's own) and
#: against the HTTP provider's (which pulls its hook, aiohttp and requests at import).
TARGET_RATIO_PYTHON = 0.5
TARGET_RATIO_HTTP = 0.1
OUR_HOOK = "airflow_provider_luma.hooks.luma"
REQUESTS = "requests"
#: What a task process has imported when the operator's ``execute`` starts.
TASK_PROCESS = f"airflow.sdk.execution_time.task_runner, {OURS}"
TARGET_RATIO_HOOK = 0.5
#: Fresh interpreters per module: an import takes milliseconds, and its time moves with the page cache.
ROUNDS = 10
SNIPPET = (
    "import time, {preload}\n"
    "t = time.perf_counter()\n"
    "import {module}\n"
    "print('IMPORT_SECONDS', time.perf_counter() - t)\n"
)


def sample_ms(module: str, timeout: float = 120.0, preload: str = "airflow.sdk") -> float:
    """
    Milliseconds one fresh interpreter takes to import ``module`` after ``preload``.

    :param module: the module to import.
    :param timeout: seconds the interpreter may take in all.
    :param preload: modules imported first, untimed.
    """
    done = subprocess.run(
        [PYTHON, "-c", SNIPPET.format(module=module, preload=preload)],
        cwd=REPO_ROOT,
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=True,
    )
    for line in reversed(done.stdout.splitlines()):
        if line.startswith("IMPORT_SECONDS "):
            return float(line.split()[1]) * 1000
    raise RuntimeError(f"no timing from the import of {module}: {done.stdout[-300:]}{done.stderr[-300:]}")


def measure(rounds: int) -> dict[str, list[float]]:
    """
    Import times in ms of our modules and the baselines, one fresh interpreter each per round.

    :param rounds: fresh interpreters per module (after one discarded warm-up each).
    """
    cases = dict.fromkeys((OURS, *BASELINES.values()), "airflow.sdk")
    cases |= {OUR_HOOK: TASK_PROCESS, REQUESTS: TASK_PROCESS}
    for module, preload in cases.items():
        sample_ms(module, preload=preload)  # warm-up: byte-code compiled, files in the page cache
    times = interleaved(rounds, list(cases), lambda module: sample_ms(module, preload=cases[module]))
    log("import times (ms): " + "; ".join(f"{m} {statistics.median(t):.1f}" for m, t in times.items()))
    return times


def rows(times: dict[str, list[float]]) -> list[Row]:
    """
    The table rows for the import times.

    :param times: from :func:`measure`, round by round (the ratio targets pair the rounds).
    """
    median = {module: statistics.median(values) for module, values in times.items()}
    ours = median[OURS]
    spread = ", ".join(
        f"{name.split(' (')[0]} {min(times[m]):.1f}-{max(times[m]):.1f}"
        for name, m in [("ours", OURS), *BASELINES.items()]
    )
    return [
        Row(
            figure="Import cost of the operators module after `airflow.sdk`",
            unit="ms",
            ours=ours,
            baselines=[Baseline(name, median[module]) for name, module in BASELINES.items()],
            targets=[
                median_ratio(times[OURS], times[PYTHON_MODULE], TARGET_RATIO_PYTHON, "PythonOperator"),
                median_ratio(times[OURS], times[HTTP_MODULE], TARGET_RATIO_HTTP, "HTTP provider"),
            ],
            note=(
                f"median of {len(times[OURS])} fresh interpreters each, interleaved (a round: one of each), "
                f"every module loaded from a byte-code cache as when installed; range (ms): {spread}; "
                f"ratio to PythonOperator per round: {ratios_note(times[OURS], times[PYTHON_MODULE])}"
            ),
            samples={"ours": times[OURS], **{name: times[module] for name, module in BASELINES.items()}},
        ),
        Row(
            figure="Import cost of the hook in a task process (task runner and operators loaded)",
            unit="ms",
            ours=median[OUR_HOOK],
            baselines=[Baseline("`requests` alone, the same way", median[REQUESTS])],
            targets=[median_ratio(times[OUR_HOOK], times[REQUESTS], TARGET_RATIO_HOOK, "requests")],
            note=(
                f"median of {len(times[OUR_HOOK])} fresh interpreters each, interleaved with the rows above; "
                f"range (ms): ours {min(times[OUR_HOOK]):.1f}-{max(times[OUR_HOOK]):.1f}, requests "
                f"{min(times[REQUESTS]):.1f}-{max(times[REQUESTS]):.1f}; ratio per round: "
                f"{ratios_note(times[OUR_HOOK], times[REQUESTS])}"
            ),
            samples={"ours": times[OUR_HOOK], "requests": times[REQUESTS]},
        ),
    ]


def run(rounds: int = ROUNDS) -> list[Row]:
    """
    Measure; return the rows.

    :param rounds: fresh interpreters per module.
    """
    return rows(measure(rounds))
