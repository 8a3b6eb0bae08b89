"""
Shared fixtures of the emulator tests: one emulator for the module run, reset before each test,
and small ``requests`` clients for its Dream Machine API and its Agents API.
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


class AgentsApi:
    """
    A ``requests`` client of one emulator's Agents API, authenticated, with paths relative to
    ``agents_base_url``.

    :param emulator: the emulator.
    """

    def __init__(self, emulator: LumaEmulator) -> None:
        self.emulator = emulator
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {emulator.api_key}"
        #: the states each polled generation was seen in, in order, without repeats.
        self.seen: dict[str, list[str]] = {}

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", 10)
        return self.session.request(method, self.emulator.agents_base_url + path, **kwargs)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, json: Any = None, **kwargs: Any) -> requests.Response:
        return self.request("POST", path, json=json, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("DELETE", path, **kwargs)

    def create(self, prompt: str = "a lighthouse at dawn", **fields: Any) -> dict[str, Any]:
        """POST a generation and return it, asserting 201."""
        response = self.post("/generations", {"prompt": prompt, **fields})
        assert response.status_code == 201, response.text
        generation = response.json()
        self.seen[generation["id"]] = [generation["state"]]
        return generation  # type: ignore[no-any-return]

    def _poll(self, generation_id: str) -> dict[str, Any]:
        answer = self.get(f"/generations/{generation_id}")
        assert answer.status_code == 200, answer.text
        generation = answer.json()
        seen = self.seen.setdefault(generation_id, [])
        if not seen or seen[-1] != generation["state"]:
            seen.append(generation["state"])
        return generation  # type: ignore[no-any-return]

    def wait_all(
        self, generation_ids: list[str], states: tuple[str, ...] = ("completed", "failed"), limit: float = 5
    ) -> dict[str, dict[str, Any]]:
        """Poll the generations in turn until each reaches one of ``states``; return them by id."""
        deadline = time.monotonic() + limit
        done: dict[str, dict[str, Any]] = {}
        while len(done) < len(generation_ids):
            for generation_id in generation_ids:
                if generation_id not in done:
                    generation = self._poll(generation_id)
                    if generation["state"] in states:
                        done[generation_id] = generation
            if len(done) < len(generation_ids):
                if time.monotonic() > deadline:
                    raise AssertionError(f"still running: {set(generation_ids) - set(done)}")
                time.sleep(0.02)
        return done

    def wait(self, generation_id: str, states: tuple[str, ...] = ("completed", "failed"), limit: float = 5):
        """Poll until the generation reaches one of ``states``; return it."""
        return self.wait_all([generation_id], states, limit)[generation_id]

    def new_file(self, data: bytes, mime_type: str = "image/png", **fields: Any) -> dict[str, Any]:
        """Create a file (presigned), PUT ``data`` to its upload URL; return the CreateFileResponse."""
        created = self.post("/files", {"mime_type": mime_type, "size_bytes": len(data), **fields})
        assert created.status_code == 201, created.text
        body = created.json()
        put = requests.put(body["upload"]["url"], data=data, headers=body["upload"]["headers"], timeout=10)
        assert put.status_code == 200, put.text
        return body  # type: ignore[no-any-return]

    def ready_file(self, data: bytes, mime_type: str = "image/png", **fields: Any) -> dict[str, Any]:
        """Create, upload and complete a file; return it, asserting it is ready."""
        file_id = self.new_file(data, mime_type, **fields)["id"]
        completed = self.post(f"/files/{file_id}/complete")
        assert completed.status_code == 200, completed.text
        assert completed.json()["state"] == "ready", completed.text
        return completed.json()  # type: ignore[no-any-return]

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


@pytest.fixture
def agents(emu: LumaEmulator) -> Iterator[AgentsApi]:
    """An authenticated client of ``emu``'s Agents API."""
    client = AgentsApi(emu)
    yield client
    client.close()
