"""
Shared fixtures of the emulator tests: one emulator for the module run, reset before each test,
and a small ``requests`` client for its API.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import pytest
import requests

from airflow_provider_luma.testing import EmulatorConfig, LumaEmulator

# The plugin's fixtures, so these tests do not depend on a top-level conftest registering it.
from airflow_provider_luma.testing.pytest_plugin import (  # noqa: F401
    luma_connection_env,
    luma_emulator,
    luma_emulator_session,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

API_KEY = "emu-test-key-7f3a"
FAST = {"queued_seconds": 0.1, "dreaming_seconds": 0.3}


class Api:
    """
    A ``requests`` client of one emulator's API, authenticated, with paths relative to the base URL.

    :param emulator: the emulator.
    """

    def __init__(self, emulator: LumaEmulator) -> None:
        self.emulator = emulator
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {emulator.api_key}"

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", 10)
        return self.session.request(method, self.emulator.base_url + path, **kwargs)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, json: Any = None, **kwargs: Any) -> requests.Response:
        return self.request("POST", path, json=json, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("DELETE", path, **kwargs)

    def create(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST a create and return the generation, asserting 201."""
        response = self.post(path, body)
        assert response.status_code == 201, response.text
        return response.json()  # type: ignore[no-any-return]

    def image(self, prompt: str = "a lighthouse at dawn", **fields: Any) -> dict[str, Any]:
        return self.create("/generations/image", {"model": "photon-1", "prompt": prompt, **fields})

    def video(self, prompt: str = "waves at night", **fields: Any) -> dict[str, Any]:
        return self.create("/generations/video", {"model": "ray-2", "prompt": prompt, **fields})

    def wait(self, generation_id: str, states: tuple[str, ...] = ("completed", "failed"), limit: float = 5):
        """Poll until the generation reaches one of ``states``; return it."""
        deadline = time.monotonic() + limit
        while True:
            generation = self.get(f"/generations/{generation_id}").json()
            if generation["state"] in states:
                return generation
            if time.monotonic() > deadline:
                raise AssertionError(f"{generation_id} still {generation['state']}")
            time.sleep(0.03)

    def close(self) -> None:
        self.session.close()


@pytest.fixture(scope="session")
def shared_emulator() -> Iterator[LumaEmulator]:
    """One emulator for all emulator tests (fast timings)."""
    with LumaEmulator(api_key=API_KEY, config=EmulatorConfig(**FAST)) as emulator:
        yield emulator


@pytest.fixture
def emu(shared_emulator: LumaEmulator) -> LumaEmulator:
    """The shared emulator, reset to its starting state."""
    shared_emulator.reset()
    return shared_emulator


@pytest.fixture
def api(emu: LumaEmulator) -> Iterator[Api]:
    """An authenticated client of ``emu``."""
    client = Api(emu)
    yield client
    client.close()
