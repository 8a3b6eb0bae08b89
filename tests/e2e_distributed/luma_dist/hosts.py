"""
Where each part runs: the core address every service listens on, and how a Celery worker is put
on a "host" of its own (a network namespace made by ``scripts/e2e_distributed.sh``, a UTS
namespace for its hostname).
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Topology:
    """
    The addresses and namespaces of one harness run.

    :param core_address: the address of the core services (PostgreSQL, Redis, S3, emulator,
        api-server), reachable from the core and from every worker.
    :param worker_netns: one network namespace per worker; empty when everything is on loopback.
    """

    core_address: str
    worker_netns: tuple[str, ...]

    @classmethod
    def from_environment(cls) -> Topology:
        """Read ``LUMA_DIST_CORE_ADDRESS`` and ``LUMA_DIST_WORKER_NETNS`` (set by the script)."""
        return cls(
            core_address=os.environ.get("LUMA_DIST_CORE_ADDRESS", "127.0.0.1"),
            worker_netns=tuple(os.environ.get("LUMA_DIST_WORKER_NETNS", "").split()),
        )

    @property
    def isolation(self) -> str:
        """How far the workers are apart from the core, in words, for the run's summary."""
        if self.worker_netns:
            return (
                f"network namespaces {', '.join(self.worker_netns)} (own address, loopback, hostname, "
                "AIRFLOW_HOME and working directory)"
            )
        return "loopback only; own hostname (UTS namespace), AIRFLOW_HOME and working directory"

    def worker_argv(self, index: int, hostname: str, argv: list[str]) -> list[str]:
        """
        ``argv`` wrapped to run on worker ``index``'s host with ``hostname``.

        :param index: 0 or 1.
        :param hostname: the host name the worker's processes see (and record on task instances).
        :param argv: the command.
        """
        on_host = ["unshare", "--uts", "--", "sh", "-c", 'hostname "$0" && exec "$@"', hostname, *argv]
        if not self.worker_netns:
            return on_host
        return ["ip", "netns", "exec", self.worker_netns[index], *on_host]
