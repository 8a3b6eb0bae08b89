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


def plain_retry_transport() -> type:
    """The async transport with every call inside a tenacity loop from its first try."""
    from tenacity import AsyncRetrying

    from airflow_provider_luma.exceptions import LumaAuthenticationError, LumaError
    from airflow_provider_luma.hooks import _async
    from airflow_provider_luma.hooks._http import ambiguous_create_error, retry_policy

    class PlainRetryTransport(_async.AsyncTransport):
        async def call(
            self,
            session: Any,
            method: str,
            path: str,
            *,
            json: Any = None,
            params: dict[str, Any] | None = None,
            creates: bool = False,
            deadline: float | None = None,
            retry_rate_limits: bool = True,
        ) -> Any:
            request = _async._Request(method, path, json, params, deadline)
            credentials = await self.credentials()
            policy = retry_policy(
                self.settings,
                creates=creates,
                log=self.log,
                deadline=deadline,
                retry_rate_limits=retry_rate_limits,
            )
            try:
                return await AsyncRetrying(**policy)(self._send, session, credentials, request)
            except LumaAuthenticationError:
                _async._shared_credentials().pop(self.settings.conn_id, None)
                fresh = await self.credentials()
                if fresh == credentials:
                    raise
                return await self._send(session, fresh, request)
            except LumaError as exc:
                ambiguous = ambiguous_create_error(exc) if creates else None
                if ambiguous is not None:
                    raise ambiguous from exc
                raise

    return PlainRetryTransport


def plain_retry() -> None:
    """Every call runs inside a tenacity loop from its first try (the hook builds this transport)."""
    from airflow_provider_luma.hooks import luma

    luma.AsyncTransport = plain_retry_transport()  # type: ignore[misc,assignment]


#: Variant name -> the function that puts the plain form in place.
VARIANTS: dict[str, Callable[[], None]] = {
    "plain-import": plain_import,
    "plain-retry": plain_retry,
}


def use(variant: str | None) -> None:
    """
    Put the plain form ``variant`` in place (None: the provider as it is).

    :param variant: a key of :data:`VARIANTS`, or None.
    """
    if variant:
        VARIANTS[variant]()
