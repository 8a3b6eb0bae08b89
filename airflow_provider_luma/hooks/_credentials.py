"""Where and how to reach Luma: the base URL and API key of an Airflow ``luma`` connection."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from airflow_provider_luma.exceptions import LumaConnectionConfigError
from airflow_provider_luma.key_limits import KeyLimits, KeyRoom, room_for
from airflow_provider_luma.pricing import PriceTable
from airflow_provider_luma.redaction import may_carry_credentials, redacted

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Connection

DEFAULT_BASE_URL = "https://api.lumalabs.ai/dream-machine/v1"


@dataclass(frozen=True)
class LumaCredentials:
    """
    Where and how to reach Luma, read from an Airflow connection.

    :param base_url: API base URL, without a trailing slash.
    :param api_key: the API key; left out of ``repr`` so it cannot leak through logs.
    :param limits: Luma's limits on the key, which its creates wait for (the extra's ``limits``).
    :param prices: what its creates are estimated by (the extra's ``prices`` over Luma's).
    """

    base_url: str
    api_key: str = field(repr=False)
    limits: KeyLimits = field(default_factory=KeyLimits)
    prices: PriceTable = field(default_factory=PriceTable)

    @classmethod
    def from_connection(cls, conn: Connection) -> LumaCredentials:
        """
        Read the API key from the password and the optional base URL from the host.

        :param conn: the Airflow connection.
        """
        if not conn.password:
            raise LumaConnectionConfigError(
                f"Airflow connection {conn.conn_id!r} has no API key: put your Luma API key in its "
                "password field (get one at https://lumalabs.ai/dream-machine/api/keys)"
            )
        extra = conn.extra_dejson if conn.extra else {}
        extra = extra if isinstance(extra, dict) else {}
        return cls(
            _base_url(conn),
            conn.password,
            KeyLimits.of_extra(extra, conn.conn_id),
            PriceTable.of_extra(extra, conn.conn_id),
        )

    @property
    def room(self) -> KeyRoom:
        """This process's room of the key, whose limits its creates wait for."""
        return room_for(self.base_url, self.api_key, self.limits)

    @cached_property
    def headers(self) -> dict[str, str]:
        """Headers every API request carries (built once: a wait sends them on every poll)."""
        return {"Authorization": f"Bearer {self.api_key}", "Accept": "application/json"}


def _base_url(conn: Connection) -> str:
    host = (conn.host or "").strip()
    if not host:
        return DEFAULT_BASE_URL
    if "://" not in host:
        host = f"https://{host}"
    if may_carry_credentials(host):
        # Refused, not stripped: the base URL is shown (connections test, errors) and sent everywhere.
        raise LumaConnectionConfigError(
            f"Airflow connection {conn.conn_id!r} has credentials in its host {redacted(conn.host)!r}: put "
            "the API key in the password field and only the base URL in the host"
        )
    try:
        parts = urlsplit(host)
        port = parts.port  # a port that is not a number raises
    except ValueError:
        parts, port = None, None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise LumaConnectionConfigError(
            f"Airflow connection {conn.conn_id!r} has an unusable host {redacted(conn.host)!r}: leave it "
            f"empty for {DEFAULT_BASE_URL}, or give an http(s) base URL such as "
            "http://127.0.0.1:8765/dream-machine/v1"
        )
    if conn.port and not port:
        host = f"{parts.scheme}://{parts.hostname}:{conn.port}{parts.path}"
    return host.rstrip("/")
