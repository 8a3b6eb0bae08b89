"""Debian's headless chromium driven by Playwright (never a browser that Playwright downloads)."""

from __future__ import annotations

import shutil
from typing import TYPE_CHECKING, Any

from luma_e2e.processes import wait_until

if TYPE_CHECKING:
    from pathlib import Path

    from playwright.sync_api import BrowserContext, Frame, Page

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
#: Headless, and nothing that reaches beyond loopback on its own (updates, sync, QUIC probes).
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1400, "height": 1000}


def open_browser(playwright: Any, user_data_dir: Path) -> BrowserContext:
    """
    Chromium with a fresh profile in ``user_data_dir``.

    :param playwright: the started ``sync_playwright()``.
    :param user_data_dir: an empty folder for the profile.
    """
    return playwright.chromium.launch_persistent_context(
        str(user_data_dir), executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True, viewport=VIEWPORT
    )


def log_in(page: Page, base_url: str, username: str, password: str) -> None:
    """
    Sign in on the simple auth manager's login form, as a person would.

    :param page: a browser page.
    :param base_url: the api-server's root.
    :param username: the user.
    :param password: the password.
    """
    page.goto(f"{base_url}/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base_url}/", timeout=30_000)


def rendered_images(frame: Page | Frame, expected: int, timeout: float = 30) -> list[dict[str, Any]]:
    """
    ``[{src, naturalWidth}]`` of the frame's ``<img>`` elements, once ``expected`` of them have loaded.

    A broken image completes too, with a natural width of 0: callers check the widths.

    :param frame: a page or a frame in it.
    :param expected: how many images to wait for.
    :param timeout: the most seconds to wait.
    """
    script = (
        "() => Array.from(document.images).map(i => ({src: i.src, complete: i.complete,"
        " naturalWidth: i.naturalWidth}))"
    )

    def loaded() -> list[dict[str, Any]] | None:
        images = frame.evaluate(script)
        return images if len(images) >= expected and all(image["complete"] for image in images) else None

    return wait_until(loaded, timeout=timeout, interval=0.5, what=f"{expected} images to load")


def plugin_frame(page: Page, src_part: str, timeout: float = 30) -> Frame:
    """
    The frame in which the UI shows a plugin page whose address contains ``src_part``.

    :param page: the UI page.
    :param src_part: e.g. ``"luma/runs/"`` (the UI keeps a plugin's relative ``href`` as it is).
    :param timeout: the most seconds to wait.
    """
    # Playwright's own wait: it handles the page's events meanwhile (a sleep would not).
    handle = page.wait_for_selector(f'iframe[src*="{src_part}"]', timeout=timeout * 1000)
    frame = handle.content_frame()
    assert frame is not None, f"the frame showing {src_part} has no document"
    frame.wait_for_load_state()
    return frame
