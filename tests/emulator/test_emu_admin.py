"""The ``/_emulator/`` control endpoints, for an emulator in another process: only with its token."""

from __future__ import annotations

import pytest
import requests

from airflow_provider_luma.testing import LumaEmulator


def admin(emu, method: str, path: str, **kwargs) -> requests.Response:
    headers = {**emu.control_headers, **kwargs.pop("headers", {})}
    return requests.request(method, f"{emu.url}/_emulator/{path}", timeout=10, headers=headers, **kwargs)


ROUTES = [
    ("GET", "stats"),
    ("GET", "config"),
    ("POST", "config"),
    ("POST", "reset"),
    ("GET", "generations"),
    ("POST", "generations/{id}/complete"),
    ("POST", "generations/{id}/fail"),
]


@pytest.mark.parametrize(("method", "path"), ROUTES)
@pytest.mark.parametrize("token", [None, "", "wrong-token"])
def test_every_control_route_refuses_a_call_without_the_token_whatever_its_origin(
    api, emu, method, path, token
):
    """
    A web page's cross-site "simple" request (a ``text/plain`` POST, no preflight) carries no
    token: refused, and nothing changes.
    """
    generation_id = api.image()["id"]
    headers = {"Origin": "https://evil.example", "Content-Type": "text/plain"}
    if token is not None:
        headers["X-Luma-Emulator-Token"] = token
    body = '{"dreaming_seconds": 99, "faults": [{"route": "*", "kind": "500"}]}'
    url = f"{emu.url}/_emulator/{path.format(id=generation_id)}"
    answer = requests.request(
        method, url, data=body if method == "POST" else None, headers=headers, timeout=10
    )
    assert answer.status_code == 401
    assert "control token" in answer.json()["detail"]
    assert emu.config.faults == []
    assert emu.config.dreaming_seconds != 99
    assert emu.generation(generation_id)["state"] != "failed"
    assert len(emu.generations) == 1  # not reset


def test_each_emulator_has_a_token_of_its_own():
    first, second = LumaEmulator(), LumaEmulator(control_token="chosen")
    assert first.control_token != LumaEmulator().control_token
    assert len(first.control_token) >= 32
    assert second.control_headers == {"X-Luma-Emulator-Token": "chosen"}
    assert first.control_token not in repr(first)


def test_stats_count_api_requests_but_not_admin_ones(api, emu):
    generation = api.image()
    api.get(f"/generations/{generation['id']}")
    stats = admin(emu, "GET", "stats").json()
    assert stats["creates"] == 1
    assert stats["total_requests"] == 2
    assert stats["requests"] == {"POST /generations/image": 1, "GET /generations/{id}": 1}
    assert stats["last_requests"][0] == {"method": "POST", "path": "/generations/image", "status": 201}
    assert stats["generation_count"] == 1
    assert stats["generations"][0]["id"] == generation["id"]
    assert "generations" not in admin(emu, "GET", "stats", params={"generations": "0"}).json()
    assert emu.stats.total_requests == 2


def test_stats_count_answers_by_status_and_requests_by_path(api, emu):
    first, second = api.image(), api.image()
    api.get(f"/generations/{first['id']}")
    api.get(f"/generations/{first['id']}")
    api.get("/generations/00000000-0000-4000-8000-000000000000")
    stats = admin(emu, "GET", "stats", params={"generations": "0"}).json()
    assert stats["answers"] == {"POST 201": 2, "GET 200": 2, "GET 404": 1}
    assert stats["requests_by_path"][f"GET /generations/{first['id']}"] == 2
    assert f"GET /generations/{second['id']}" not in stats["requests_by_path"]


def test_config_changes_faults_timings_and_words(api, emu):
    changes = {
        "dreaming_seconds": [1, 2],
        "blocked_words": ["nope"],
        "faults": [{"route": "GET /ping", "kind": "503", "times": 1}],
        "credits": 500,
    }
    answer = admin(emu, "POST", "config", json=changes)
    assert answer.status_code == 200
    config = admin(emu, "GET", "config").json()
    assert config["dreaming_seconds"] == [1.0, 2.0]
    assert config["faults"][0]["kind"] == "503"
    assert emu.config.blocked_words == ["nope"]
    assert api.get("/ping").status_code == 503
    assert api.get("/credits").json() == {"credit_balance": 500}


def test_invalid_config_is_400_and_changes_nothing(emu):
    for bad in ({"no_such_setting": 1}, {"faults": [{"kind": "explode"}]}, {"stuck_rate": 2}, [1]):
        answer = admin(emu, "POST", "config", json=bad)
        assert answer.status_code == 400
        assert answer.json()["detail"]
    assert admin(emu, "POST", "config", data=b"{oops").status_code == 400
    assert emu.config.faults == []


def test_reset(api, emu):
    api.image()
    admin(emu, "POST", "config", json={"queued_seconds": 9})
    assert admin(emu, "POST", "reset").json() == {"ok": True}
    assert emu.generations == []
    assert emu.stats.total_requests == 0
    assert emu.config.queued_seconds == 0.1


def test_force_states_and_list_generations(api, emu):
    emu.configure(dreaming_seconds=60)
    done, failed = api.image("one")["id"], api.image("two")["id"]
    assert admin(emu, "POST", f"generations/{done}/complete").status_code == 200
    assert admin(emu, "POST", f"generations/{failed}/fail", json={"reason": "Frame moderation failed"}).ok
    states = {g["id"]: (g["state"], g["failure_reason"]) for g in admin(emu, "GET", "generations").json()}
    assert states == {done: ("completed", None), failed: ("failed", "Frame moderation failed")}
    assert admin(emu, "POST", "generations/nope/complete").status_code == 404
