"""
Distributed end-to-end harness: the provider in an Airflow 3 spread like a production one.

PostgreSQL as the metadata database, Redis as the Celery broker, CeleryExecutor with two workers
on hosts of their own, scheduler, dag-processor, api-server and two triggerers, moto as S3 and
the Luma emulator with its rate limits on. ``scripts/e2e_distributed.sh`` (``make
e2e-distributed``) installs what is missing, makes the network namespaces and sets
``LUMA_E2E_DISTRIBUTED=1``; without it nothing here is collected.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

ENABLED = os.environ.get("LUMA_E2E_DISTRIBUTED") == "1"
collect_ignore_glob = [] if ENABLED else ["*"]
HERE = Path(__file__).resolve().parent
if ENABLED:
    sys.path.insert(0, str(HERE))  # luma_dist
    sys.path.insert(0, str(HERE.parent / "e2e"))  # luma_e2e: processes, REST client, emulator

if TYPE_CHECKING:
    from collections.abc import Iterator

    from luma_dist.cluster import CeleryWorkerHost, DistributedAirflow
    from luma_dist.hosts import Topology
    from luma_dist.servers import MotoS3Server, PostgresServer
    from luma_e2e.emulator import LumaEmulatorProcess

DAG_FILES = sorted(HERE.glob("dags/*.py"))
BUCKET = "luma-dist"
#: Luma's concurrency during the batch, and the size of the batch's pool.
BATCH_CONCURRENCY = 20
#: Environment every Airflow process (core and workers) parses the DAG files with.
DAG_ENV = {
    "LUMA_DIST_BATCH_SIZE": os.environ.get("LUMA_DIST_BATCH_SIZE", "100"),
    # The connection goes in the URL: without one, ObjectStoragePath's S3 would use boto's defaults.
    "LUMA_DIST_BATCH_OUTPUT": f"s3://aws_default@{BUCKET}/batch/",
    "LUMA_DIST_RATE_IMAGES": os.environ.get("LUMA_DIST_RATE_IMAGES", "40"),
    # The batch rows of the rate table: one batch task of this many images, at Luma's image limits.
    "LUMA_DIST_BATCH_RATE_IMAGES": os.environ.get("LUMA_DIST_BATCH_RATE_IMAGES", "200"),
    "LUMA_DIST_POLL_INTERVAL": "2",
}
#: The emulator's limits in the rate table's rows of single tasks: R creates a minute, C at once.
RATE_PER_MINUTE = int(os.environ.get("LUMA_DIST_RATE_PER_MINUTE", "20"))
RATE_CONCURRENT = int(os.environ.get("LUMA_DIST_RATE_CONCURRENT", "10"))
_SUMMARY_KEY = pytest.StashKey[dict[str, Any]]()


@pytest.fixture(scope="session")
def summary(pytestconfig: pytest.Config) -> dict[str, Any]:
    """Lines the run prints at its end: ``facts`` (name -> value) and ``tables`` (text)."""
    return pytestconfig.stash.setdefault(_SUMMARY_KEY, {"facts": {}, "tables": [], "logs": []})


@pytest.fixture(scope="session")
def topology(summary: dict[str, Any]) -> Topology:
    """Where things run, from the script's environment."""
    from luma_dist.hosts import Topology

    found = Topology.from_environment()
    summary["facts"]["worker isolation"] = found.isolation
    return found


@pytest.fixture(scope="session")
def logs_dir(tmp_path_factory: pytest.TempPathFactory, summary: dict[str, Any]) -> Path:
    """Logs of the servers that are not Airflow (PostgreSQL, Redis, moto, the emulator)."""
    path = tmp_path_factory.mktemp("dist_servers")
    summary["logs"].append(path)
    return path


@pytest.fixture(scope="session")
def database(topology: Topology, logs_dir: Path) -> Iterator[PostgresServer]:
    """PostgreSQL with an empty ``airflow`` database."""
    from luma_dist.servers import PostgresServer

    server = PostgresServer(topology.core_address, logs_dir)
    try:
        server.start()
        yield server
    finally:
        server.destroy()


@pytest.fixture(scope="session")
def broker(topology: Topology, logs_dir: Path) -> Iterator[str]:
    """Redis; yields the Celery broker URL."""
    from luma_dist.servers import RedisServer

    server = RedisServer(topology.core_address, logs_dir)
    try:
        yield server.url
    finally:
        server.process.stop()


@pytest.fixture(scope="session")
def s3(topology: Topology, logs_dir: Path) -> Iterator[MotoS3Server]:
    """moto's S3 with the bucket the DAGs write to."""
    from luma_dist.servers import MotoS3Server

    server = MotoS3Server(topology.core_address, logs_dir, BUCKET)
    try:
        yield server
    finally:
        server.process.stop()


@pytest.fixture(scope="session")
def emulator(topology: Topology, logs_dir: Path) -> Iterator[LumaEmulatorProcess]:
    """The Luma emulator on the core address (settings per scenario)."""
    from luma_e2e.emulator import LumaEmulatorProcess
    from luma_e2e.settings import API_KEY

    process = LumaEmulatorProcess(logs_dir, API_KEY, 1.0, 8.0, host=topology.core_address)
    try:
        yield process
    finally:
        process.process.stop()


@pytest.fixture(scope="session")
def cluster(
    tmp_path_factory: pytest.TempPathFactory,
    topology: Topology,
    database: PostgresServer,
    broker: str,
    s3: MotoS3Server,
    emulator: LumaEmulatorProcess,
    summary: dict[str, Any],
) -> Iterator[tuple[DistributedAirflow, list[CeleryWorkerHost]]]:
    """The core's Airflow processes and the two worker hosts, healthy, with the DAGs parsed."""
    from luma_dist.cluster import CeleryWorkerHost, DistributedAirflow

    home = tmp_path_factory.mktemp("core_airflow_home")
    summary["logs"].append(home / "process-logs")
    stack = DistributedAirflow(
        home,
        DAG_FILES,
        topology,
        database_url=database.url,
        broker_url=broker,
        connections={
            # The crash scenarios' emulator keeps no per-minute limit: the key's tier says so.
            "luma_default": luma_connection(emulator, {"image": {"creates_per_minute": 1000}}),
            # The rate table's single tasks: the key's limits are the emulator's in those rows.
            "luma_rate": luma_connection(
                emulator, {"image": {"in_flight": RATE_CONCURRENT, "creates_per_minute": RATE_PER_MINUTE}}
            ),
            # Its batch rows: Luma's Build tier, the connection's default.
            "luma_build_tier": luma_connection(emulator, None),
            "aws_default": s3.connection(),
        },
        # boto's own fallback too points at moto, so nothing here can reach a real AWS endpoint.
        extra_env={**DAG_ENV, "AWS_ENDPOINT_URL": s3.endpoint_url},
    )
    workers = [
        CeleryWorkerHost(index, tmp_path_factory.mktemp(f"worker{index + 1}_airflow_home"), stack, DAG_FILES)
        for index in range(2)
    ]
    summary["logs"].extend(worker.log_path for worker in workers)
    try:
        stack.start()
        for name, slots in (("luma_photon_batch", BATCH_CONCURRENCY), ("luma_photon_rate", RATE_CONCURRENT)):
            stack.api.request("POST", "/pools", json={"name": name, "slots": slots, "include_deferred": True})
        for worker in workers:
            worker.start()
        stack.wait_for_dag_files(timeout=180)
        yield stack, workers
    finally:
        for worker in workers:
            worker.stop()
        stack.stop()


def luma_connection(emulator: LumaEmulatorProcess, limits: dict[str, Any] | None) -> dict[str, Any]:
    """A ``luma`` connection to the emulator, with the key's limits in its extra (None: the default)."""
    from luma_e2e.settings import API_KEY

    connection: dict[str, Any] = {"conn_type": "luma", "password": API_KEY, "host": emulator.base_url}
    if limits is not None:
        connection["extra"] = {"limits": limits}
    return connection


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, exitstatus: int) -> None:
    """Print the facts and tables; on failure the ends of the logs."""
    summary = terminalreporter.config.stash.get(_SUMMARY_KEY, None)
    if summary is None:
        return
    for name, value in summary["facts"].items():
        terminalreporter.write_line(f"e2e-distributed fact: {name}: {value}")
    for table in summary["tables"]:
        terminalreporter.write_line("")
        terminalreporter.write_line(table)
    if exitstatus != 0:
        from luma_e2e.processes import tail

        for where in summary["logs"]:
            paths = sorted(where.glob("*.log")) if where.is_dir() else [where]
            for path in paths:
                terminalreporter.write_sep("-", str(path))
                terminalreporter.write_line(tail(path, 30))
