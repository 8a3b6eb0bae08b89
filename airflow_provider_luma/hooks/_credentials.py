"""
Where and how to reach Luma: the API, base URL and API key of an Airflow connection.

A connection serves one of Luma's two APIs, by its type: ``luma`` the Dream Machine API,
``luma_agents`` the Agents API. Each has its own keys; a key is never sent to the other API's host.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from airflow_provider_luma.agents import AGENTS, DREAM_MACHINE, api_of_model
from airflow_provider_luma.exceptions import LumaConnectionConfigError
from airflow_provider_luma.key_limits import KeyLimits, KeyRoom, room_for
from airflow_provider_luma.pricing import PriceTable
from airflow_provider_luma.redaction import may_carry_credentials, redacted

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Connection

DEFAULT_BASE_URL = "https://api.lumalabs.ai/dream-machine/v1"
AGENTS_BASE_URL = "https://agents.lumalabs.ai/v1"
#: Each API's base URL when the connection gives none, and Luma's host for it.
DEFAULT_BASE_URLS = {DREAM_MACHINE: DEFAULT_BASE_URL, AGENTS: AGENTS_BASE_URL}
LUMA_HOSTS = {DREAM_MACHINE: "api.lumalabs.ai", AGENTS: "agents.lumalabs.ai"}
API_NAMES = {DREAM_MACHINE: "Dream Machine API", AGENTS: "Agents API"}
#: The connection type of each API.
CONN_TYPES = {DREAM_MACHINE: "luma", AGENTS: "luma_agents"}


def api_of_conn_type(conn_type: str | None) -> str:
    """
    The API a connection of this type serves (the Dream Machine API's ``luma`` unless it is
    ``luma_agents``).

    :param conn_type: the connection's type.
    """
    return AGENTS if (conn_type or "").replace("-", "_") == CONN_TYPES[AGENTS] else DREAM_MACHINE


@dataclass(frozen=True)
class LumaCredentials:
    """
    Where and how to reach Luma, read from an Airflow connection.

    :param base_url: API base URL, without a trailing slash.
    :param api_key: the API key; left out of ``repr`` so it cannot leak through logs.
    :param limits: Luma's limits on the key, which its creates wait for (the extra's ``limits``).
    :param prices: what its creates are estimated by (the extra's ``prices`` over Luma's).
    :param api: the API the key opens (:data:`~airflow_provider_luma.agents.DREAM_MACHINE` or
        :data:`~airflow_provider_luma.agents.AGENTS`), by the connection's type.
    """

    base_url: str
    api_key: str = field(repr=False)
    limits: KeyLimits = field(default_factory=KeyLimits)
    prices: PriceTable = field(default_factory=PriceTable)
    api: str = DREAM_MACHINE

    @classmethod
    def from_connection(cls, conn: Connection) -> LumaCredentials:
        """
        Read the API from the type, the API key from the password and the optional base URL from
        the host.

        :param conn: the Airflow connection.
        """
        api = api_of_conn_type(conn.conn_type)
        if not conn.password:
            raise LumaConnectionConfigError(
                f"Airflow connection {conn.conn_id!r} has no API key: put your Luma API key in its "
                "password field (get one at https://lumalabs.ai/api/keys)"
            )
        extra = conn.extra_dejson if conn.extra else {}
        extra = extra if isinstance(extra, dict) else {}
        return cls(
            _base_url(conn, api),
            conn.password,
            KeyLimits.of_extra(extra, conn.conn_id),
            PriceTable.of_extra(extra, conn.conn_id),
            api,
        )

    def check_serves(self, body: Any, conn_id: str) -> None:
        """
        Refuse a create whose model is not this connection's API, before it is sent.

        :param body: the create's body.
        :param conn_id: the connection, named in the error.
        :raises LumaConnectionConfigError: the model belongs to the other API.
        """
        model = body.get("model") if isinstance(body, dict) else None
        needed = api_of_model(model)
        if needed != self.api:
            raise LumaConnectionConfigError(
                f"Model {model!r} is served by Luma's {API_NAMES[needed]}, but Airflow connection "
                f"{conn_id!r} is a {CONN_TYPES[self.api]!r} connection, for the {API_NAMES[self.api]}: "
                f"give the task a {CONN_TYPES[needed]!r} connection (luma_conn_id) with a key of that API"
            )

    @property
    def room(self) -> KeyRoom:
        """This process's room of the key, whose limits its creates wait for."""
        return room_for(self.base_url, self.api_key, self.limits)

    @cached_property
    def headers(self) -> dict[str, str]:
        """Headers every API request carries (built once: a wait sends them on every poll)."""
        return {"Authorization": f"Bearer {self.api_key}", "Accept": "application/json"}


def _base_url(conn: Connection, api: str) -> str:
    host = (conn.host or "").strip()
    if not host:
        return DEFAULT_BASE_URLS[api]
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
            f"empty for {DEFAULT_BASE_URLS[api]}, or give an http(s) base URL such as "
            "http://127.0.0.1:8765/dream-machine/v1"
        )
    for other, other_host in LUMA_HOSTS.items():
        if other != api and parts.hostname.lower().rstrip(".") == other_host:
            # Each API has its own keys: this one would go to the other API's host.
            raise LumaConnectionConfigError(
                f"Airflow connection {conn.conn_id!r} is of type {conn.conn_type!r}, whose key is for "
                f"{DEFAULT_BASE_URLS[api]}, but its host points at {other_host}: make it a "
                f"{CONN_TYPES[other]!r} connection for that API, or leave the host empty"
            )
    if conn.port and not port:
        host = f"{parts.scheme}://{parts.hostname}:{conn.port}{parts.path}"
    return host.rstrip("/")
