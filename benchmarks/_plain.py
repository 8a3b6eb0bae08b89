"""
The plain forms of the provider's performance devices, for A/B runs in a benchmark's child process.

Each device is measured against the form a reader would write without it. :data:`VARIANTS` maps a
variant name to a function that swaps one device of the loaded provider for its plain form; a
benchmark child calls it after importing the provider and before measuring. The product code is
never changed: the swap lives in the child process only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable


def plain_import() -> None:
    """A trigger's first wait imports the hook and its HTTP stack on the event loop."""
    from airflow_provider_luma.triggers import _imports, luma

    async def import_hook_on_the_loop() -> Any:
        _imports._import_modules_off_the_loop()
        from airflow_provider_luma.hooks.luma import LumaHook

        return LumaHook

    luma.import_hook_off_the_loop = import_hook_on_the_loop


def plain_retry() -> None:
    """Every call of the async transport runs inside a tenacity loop from its first try."""
    from tenacity import AsyncRetrying

    from airflow_provider_luma.exceptions import LumaError
    from airflow_provider_luma.hooks import _transport
    from airflow_provider_luma.hooks._http import retry_policy

    async def call(
        self: Any,
        session: Any,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Any = None,
        creates: bool = False,
        deadline: float | None = None,
    ) -> Any:
        credentials = await self.credentials()
        policy = retry_policy(self.settings, creates=creates, log=self.log, deadline=deadline)
        try:
            return await AsyncRetrying(**policy)(
                self._send, session, method, path, json, params, deadline, credentials
            )
        except LumaError as exc:
            _transport._raise_ambiguous(exc, creates)
            raise

    _transport.AsyncTransport.call = call  # type: ignore[method-assign]


def plain_credentials() -> None:
    """Every call looks the connection up (no credentials kept per event loop)."""
    from airflow_provider_luma.hooks import _transport

    _transport.CREDENTIALS_MAX_AGE_SECONDS = -1.0


def plain_session() -> None:
    """Every wait opens its own aiohttp session (none shared on the event loop)."""
    import contextlib

    from airflow_provider_luma.hooks import _transport

    @contextlib.asynccontextmanager
    async def own_session() -> Any:
        import aiohttp

        async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as session:
            yield session

    _transport.shared_session = own_session  # type: ignore[assignment]
    from airflow_provider_luma.hooks import luma

    luma.shared_session = own_session  # type: ignore[attr-defined]


def plain_proxy() -> None:
    """The environment's proxy is looked up again for every request (no cache)."""
    from airflow_provider_luma.hooks import _transport

    _transport._env_proxy = _transport._env_proxy.__wrapped__  # type: ignore[attr-defined]


#: Variant name -> the function that puts the plain form in place.
VARIANTS: dict[str, Callable[[], None]] = {
    "plain-import": plain_import,
    "plain-retry": plain_retry,
    "plain-credentials": plain_credentials,
    "plain-session": plain_session,
    "plain-proxy": plain_proxy,
}


def use(variant: str | None) -> None:
    """
    Put the plain form ``variant`` in place (None: the provider as it is).

    :param variant: a key of :data:`VARIANTS`, or None.
    """
    if variant:
        VARIANTS[variant]()
