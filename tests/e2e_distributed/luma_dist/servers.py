"""
The real servers the distributed harness starts: PostgreSQL (Airflow's metadata database), Redis
(the Celery broker) and moto in server mode (S3). Each keeps its files in a throwaway directory.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from luma_e2e.processes import ManagedProcess, clean_environ, free_port, loopback_session, wait_until

VENV_BIN = Path(sys.executable).parent
#: PostgreSQL refuses to run as root; the Debian package makes this user.
POSTGRES_USER = "postgres"
DATABASE = "airflow"


class PostgresServer:
    """
    A PostgreSQL cluster in a throwaway data directory owned by the ``postgres`` user.

    ``stop()`` and ``start()`` may be called again mid-run (the outage scenario); ``destroy()``
    stops it for good and removes the directory.

    :param address: the address to listen on.
    :param log_dir: where the server log goes.
    """

    def __init__(self, address: str, log_dir: Path) -> None:
        self.address = address
        self.port = free_port()
        # Not under pytest's tmp dir: the postgres user cannot enter root's 0700 folders there.
        self.root = Path(tempfile.mkdtemp(prefix="luma-dist-pg-"))
        self.data_dir = self.root / "data"
        self.server_log = self.root / "postgresql.log"
        #: Where the server log is copied when the server is destroyed.
        self.log_path = log_dir / "postgresql.log"
        entry = pwd.getpwnam(POSTGRES_USER)
        os.chown(self.root, entry.pw_uid, entry.pw_gid)
        self._as_postgres(
            "initdb", "-D", str(self.data_dir), "-A", "trust", "-U", POSTGRES_USER, "-E", "UTF8"
        )
        # Clients come from the core and from the worker hosts, all on the subnets the server is on.
        (self.data_dir / "pg_hba.conf").write_text("local all all trust\nhost all all samenet trust\n")

    @property
    def url(self) -> str:
        """The SQLAlchemy URL of Airflow's database."""
        return f"postgresql+psycopg2://{POSTGRES_USER}@{self.address}:{self.port}/{DATABASE}"

    def _as_postgres(self, *argv: str, timeout: float = 120) -> None:
        result = subprocess.run(
            ["runuser", "-u", POSTGRES_USER, "--", *argv],
            env=clean_environ(),
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            raise AssertionError(f"{' '.join(argv)} failed:\n{result.stdout}{result.stderr}")

    def start(self) -> None:
        """Start the server (``pg_ctl start -w``) and create the database on the first start."""
        options = (
            f"-c listen_addresses={self.address} -p {self.port} -k {self.data_dir} "
            "-c max_connections=400 -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._as_postgres(
            "pg_ctl", "-D", str(self.data_dir), "-l", str(self.server_log), "-o", options, "-w", "start"
        )
        import psycopg2

        conn = psycopg2.connect(host=self.address, port=self.port, user=POSTGRES_USER, dbname="postgres")
        try:
            conn.autocommit = True
            with conn.cursor() as cursor:
                cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,))
                if cursor.fetchone() is None:
                    cursor.execute(f"CREATE DATABASE {DATABASE}")
        finally:
            conn.close()

    def stop(self, mode: str = "fast") -> None:
        """
        Stop the server (``pg_ctl stop``): every client connection is cut.

        :param mode: ``fast`` (roll back and disconnect) or ``immediate``.
        """
        self._as_postgres("pg_ctl", "-D", str(self.data_dir), "-m", mode, "-w", "stop")

    def connect(self):  # type: ignore[no-untyped-def]
        """A new psycopg2 connection to Airflow's database (autocommit: every read sees the latest)."""
        import psycopg2

        conn = psycopg2.connect(host=self.address, port=self.port, user=POSTGRES_USER, dbname=DATABASE)
        conn.autocommit = True
        return conn

    def destroy(self) -> None:
        """Stop (if running), keep a copy of the server log, remove the data directory."""
        with contextlib.suppress(AssertionError, subprocess.TimeoutExpired):
            self.stop("immediate")
        with contextlib.suppress(OSError):
            shutil.copy(self.server_log, self.log_path)
        shutil.rmtree(self.root, ignore_errors=True)


class RedisServer:
    """
    Debian's ``redis-server`` without persistence, as the Celery broker.

    :param address: the address to listen on.
    :param work_dir: its working directory and log folder.
    """

    def __init__(self, address: str, work_dir: Path) -> None:
        self.port = free_port()
        self.url = f"redis://{address}:{self.port}/0"
        argv = [
            "redis-server",
            "--bind",
            address,
            "--port",
            str(self.port),
            "--save",
            "",
            "--appendonly",
            "no",
        ]
        argv += ["--protected-mode", "no", "--dir", str(work_dir)]
        self.process = ManagedProcess("redis", argv, clean_environ(), work_dir / "redis.log", cwd=work_dir)

        def answers() -> bool:
            self.process.check_running()
            result = subprocess.run(
                ["redis-cli", "-h", address, "-p", str(self.port), "ping"],
                capture_output=True,
                text=True,
                timeout=5,
                check=False,
            )
            return result.stdout.strip() == "PONG"

        wait_until(answers, timeout=30, what="redis-server to answer PING")


class MotoS3Server:
    """
    moto in server mode: an S3 API on ``address``, with one bucket made at start.

    :param address: the address to listen on.
    :param work_dir: its working directory and log folder.
    :param bucket: the bucket to create.
    """

    ACCESS_KEY = "luma-dist-access-key"
    SECRET_KEY = "luma-dist-secret-key"
    REGION = "us-east-1"

    def __init__(self, address: str, work_dir: Path, bucket: str) -> None:
        self.port = free_port()
        self.endpoint_url = f"http://{address}:{self.port}"
        self.bucket = bucket
        argv = [str(VENV_BIN / "moto_server"), "-H", address, "-p", str(self.port)]
        self.process = ManagedProcess("moto-s3", argv, clean_environ(), work_dir / "moto.log", cwd=work_dir)
        http = loopback_session()

        def answers() -> bool:
            self.process.check_running()
            return http.get(f"{self.endpoint_url}/moto-api/", timeout=5).status_code == 200

        wait_until(answers, timeout=60, what="moto_server to answer")
        self.client().create_bucket(Bucket=bucket)

    def client(self):  # type: ignore[no-untyped-def]
        """A boto3 S3 client for the harness's own reads."""
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=self.ACCESS_KEY,
            aws_secret_access_key=self.SECRET_KEY,
            region_name=self.REGION,
        )

    def connection(self) -> dict[str, object]:
        """The ``aws_default`` connection Airflow's processes get (JSON-ready)."""
        return {
            "conn_type": "aws",
            "login": self.ACCESS_KEY,
            "password": self.SECRET_KEY,
            "extra": {"endpoint_url": self.endpoint_url, "region_name": self.REGION},
        }

    def objects(self, prefix: str) -> dict[str, bytes]:
        """
        Every object under ``prefix``, ``{key: bytes}``.

        :param prefix: a key prefix.
        """
        client = self.client()
        found: dict[str, bytes] = {}
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                found[item["Key"]] = client.get_object(Bucket=self.bucket, Key=item["Key"])["Body"].read()
        return found
