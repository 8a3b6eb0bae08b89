"""
The plain forms of the provider's performance devices, for A/B runs in a benchmark's child process.

Each device is measured against the form a reader would write without it. :data:`VARIANTS` maps a
variant name to a function that swaps one device of the loaded provider for its plain form; a
benchmark child calls it after importing the provider and before measuring. The product code is
never changed: the swap lives in the child process only.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable


def plain_sleep() -> None:
    """Polls sleep with ``asyncio.sleep`` until they are due, each on its own timer (no grid)."""
    from airflow_provider_luma.triggers import _wait

    async def sleep_until(when: float) -> None:
        await asyncio.sleep(max(0.0, when - asyncio.get_running_loop().time()))

    _wait.sleep_until_tick = sleep_until  # type: ignore[assignment]
    _wait.POLL_GRID_SECONDS = 0.0  # type: ignore[misc]  # no tick to be early by


def plain_retry_transport() -> type:
    """The async transport with every call inside a tenacity loop from its first try."""
    from tenacity import AsyncRetrying

    from airflow_provider_luma.exceptions import LumaAuthenticationError
    from airflow_provider_luma.hooks import _async
    from airflow_provider_luma.hooks._http import retry_policy

    class PlainRetryTransport(_async.AsyncTransport):
        async def call(
            self, session: Any, method: str, path: str, *, deadline: float | None = None, **_: Any
        ) -> Any:
            request = _async._Request(method, path, None, None, deadline)
            credentials = await self.credentials()
            policy = retry_policy(self.settings, creates=False, log=self.log, deadline=deadline)
            try:
                return await AsyncRetrying(**policy)(self._send, session, credentials, request)
            except LumaAuthenticationError:
                _async._shared_credentials.forget(self.settings.conn_id)
                fresh = await self.credentials()
                if fresh == credentials:
                    raise
                return await self._send(session, fresh, request)

    return PlainRetryTransport


def plain_import() -> None:
    """A trigger's first wait imports the hook and its HTTP stack on the event loop."""
    from airflow_provider_luma.triggers import _imports, luma

    async def import_hook_on_the_loop() -> Any:
        _imports._import_modules_off_the_loop()
        from airflow_provider_luma.hooks.luma import LumaHook

        return LumaHook

    luma.import_hook_off_the_loop = import_hook_on_the_loop


#: Variant name -> the plain async transport class (for A/B runs within one process).
TRANSPORTS: dict[str, Callable[[], type]] = {"plain-retry": plain_retry_transport}
#: Variant name -> the function that puts the plain form in place.
VARIANTS: dict[str, Callable[[], None]] = {
    "plain-sleep": plain_sleep,
    "plain-import": plain_import,
}


def use(variant: str | None) -> None:
    """
    Put the plain form ``variant`` in place (None: the provider as it is).

    :param variant: a key of :data:`VARIANTS`, or None.
    """
    if variant:
        VARIANTS[variant]()
