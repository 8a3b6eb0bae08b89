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


#: Variant name -> the function that puts the plain form in place.
VARIANTS: dict[str, Callable[[], None]] = {
    "plain-import": plain_import,
}


def use(variant: str | None) -> None:
    """
    Put the plain form ``variant`` in place (None: the provider as it is).

    :param variant: a key of :data:`VARIANTS`, or None.
    """
    if variant:
        VARIANTS[variant]()
