"""A small client for Airflow 3's public REST API (``/api/v2``), authenticated by the simple auth manager."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from luma_e2e.processes import loopback_session, wait_until

if TYPE_CHECKING:
    import requests

TERMINAL_RUN_STATES = ("success", "failed")


class AirflowApi:
    """
    Calls ``/api/v2`` with a JWT from ``POST /auth/token`` (simple auth manager, real user).

    :param base_url: the api-server's root, e.g. ``http://127.0.0.1:8080``.
    :param username: a user of ``[core] simple_auth_manager_users``.
    :param password: that user's password.
    """

    def __init__(self, base_url: str, username: str, password: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.username = username
        self.password = password
        self.session = loopback_session()

    def login(self) -> None:
        """Get a token from ``POST /auth/token`` and send it with every later request."""
        response = self.session.post(
            f"{self.base_url}/auth/token",
            json={"username": self.username, "password": self.password},
            timeout=10,
        )
        response.raise_for_status()
        self.session.headers["Authorization"] = f"Bearer {response.json()['access_token']}"

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """
        One call to ``/api/v2{path}``; raise on an error status, return the JSON answer.

        :param method: HTTP method.
        :param path: path below ``/api/v2``.
        :param kwargs: passed to ``requests`` (``json``, ``params``).
        """
        response = self.call(method, path, **kwargs)
        return response.json() if response.content else None

    def call(self, method: str, path: str, allowed: tuple[int, ...] = (), **kwargs: Any) -> requests.Response:
        """
        One call to ``/api/v2{path}``; raise on an error status other than ``allowed``.

        :param method: HTTP method.
        :param path: path below ``/api/v2``.
        :param allowed: error statuses the caller handles itself, e.g. ``(404,)``.
        :param kwargs: passed to ``requests`` (``json``, ``params``).
        """
        response = self.session.request(method, f"{self.base_url}/api/v2{path}", timeout=30, **kwargs)
        if response.status_code >= 400 and response.status_code not in allowed:
            raise AssertionError(f"{method} /api/v2{path} -> {response.status_code}: {response.text[:500]}")
        return response

    # -- DAGs and runs ----------------------------------------------------------------------------

    def dags(self) -> list[dict[str, Any]]:
        """Every DAG the api-server knows (parsed by the dag-processor)."""
        return list(self.request("GET", "/dags", params={"limit": 1000})["dags"])

    def import_errors(self) -> list[dict[str, Any]]:
        """DAG files that failed to import."""
        return list(self.request("GET", "/importErrors")["import_errors"])

    def unpause(self, dag_id: str) -> None:
        """
        Unpause a DAG.

        :param dag_id: the DAG.
        """
        self.request("PATCH", f"/dags/{dag_id}", json={"is_paused": False})

    def trigger(self, dag_id: str, conf: dict[str, Any] | None = None) -> str:
        """
        Start a manual run now; return its run id.

        :param dag_id: the DAG.
        :param conf: the run's conf (overrides params).
        """
        run = self.request("POST", f"/dags/{dag_id}/dagRuns", json={"logical_date": None, "conf": conf or {}})
        return str(run["dag_run_id"])

    def run_state(self, dag_id: str, run_id: str) -> str:
        """
        The state of one run.

        :param dag_id: the DAG.
        :param run_id: the run.
        """
        return str(self.request("GET", f"/dags/{dag_id}/dagRuns/{quote(run_id)}")["state"])

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float) -> str:
        """
        Wait until a run is over; return its final state.

        :param dag_id: the DAG.
        :param run_id: the run.
        :param timeout: the most seconds to wait.
        """

        def finished() -> str | None:
            state = self.run_state(dag_id, run_id)
            return state if state in TERMINAL_RUN_STATES else None

        return wait_until(finished, timeout=timeout, interval=1.0, what=f"run {run_id} of {dag_id} to end")

    def set_variable(self, key: str, value: str) -> None:
        """
        Create a Variable, or change its value if it exists.

        :param key: the Variable's key.
        :param value: its new value.
        """
        body = {"key": key, "value": value}
        if self.call("PATCH", f"/variables/{quote(key)}", allowed=(404,), json=body).status_code == 404:
            self.request("POST", "/variables", json=body)

    def delete_variable(self, key: str) -> None:
        """
        Delete a Variable (a missing one is fine).

        :param key: the Variable's key.
        """
        self.call("DELETE", f"/variables/{quote(key)}", allowed=(404,))

    # -- task instances and XCom ------------------------------------------------------------------

    def clear_task(self, dag_id: str, run_id: str, task_id: str) -> list[dict[str, Any]]:
        """
        Clear one task of one run, whatever its state, as the UI's "Clear" does; return what was cleared.

        ``POST /dags/{dag_id}/clearTaskInstances`` with the run id; the run goes back to queued.

        :param dag_id: the DAG.
        :param run_id: the run.
        :param task_id: the task.
        """
        body = {"dry_run": False, "dag_run_id": run_id, "task_ids": [task_id], "only_failed": False}
        answer = self.request("POST", f"/dags/{dag_id}/clearTaskInstances", json=body)
        return list(answer["task_instances"])

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        """
        Every task instance of a run, mapped ones included.

        :param dag_id: the DAG.
        :param run_id: the run.
        """
        answer = self.request(
            "GET", f"/dags/{dag_id}/dagRuns/{quote(run_id)}/taskInstances", params={"limit": 1000}
        )
        return list(answer["task_instances"])

    def task_instance(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> dict[str, Any]:
        """
        One task instance.

        :param dag_id: the DAG.
        :param run_id: the run.
        :param task_id: the task.
        :param map_index: its map index (-1 when not mapped).
        """
        path = f"/dags/{dag_id}/dagRuns/{quote(run_id)}/taskInstances/{task_id}"
        if map_index >= 0:
            path += f"/{map_index}"
        return dict(self.request("GET", path))

    def xcom(
        self, dag_id: str, run_id: str, task_id: str, key: str = "return_value", map_index: int = -1
    ) -> Any:
        """
        An XCom value, deserialized.

        :param dag_id: the DAG.
        :param run_id: the run.
        :param task_id: the task.
        :param key: the XCom key.
        :param map_index: the map index (-1 when not mapped).
        """
        path = f"/dags/{dag_id}/dagRuns/{quote(run_id)}/taskInstances/{task_id}/xcomEntries/{key}"
        return self.request("GET", path, params={"map_index": map_index, "deserialize": True})["value"]

    def set_xcom(self, dag_id: str, run_id: str, task_id: str, key: str, value: Any) -> None:
        """
        Write an XCom of a task instance, as a user allowed to edit XComs may.

        :param dag_id: the DAG.
        :param run_id: the run.
        :param task_id: the task.
        :param key: the XCom key.
        :param value: its value (JSON).
        """
        path = f"/dags/{dag_id}/dagRuns/{quote(run_id)}/taskInstances/{task_id}/xcomEntries"
        self.request("POST", path, json={"key": key, "value": value, "map_index": -1})

    def task_tries(self, dag_id: str, run_id: str, task_id: str) -> list[dict[str, Any]]:
        """
        Every try of one (unmapped) task instance, earlier tries from its history, oldest first.

        :param dag_id: the DAG.
        :param run_id: the run.
        :param task_id: the task.
        """
        path = f"/dags/{dag_id}/dagRuns/{quote(run_id)}/taskInstances/{task_id}/tries"
        return sorted(self.request("GET", path)["task_instances"], key=lambda ti: ti["try_number"])

    def task_state(self, dag_id: str, run_id: str, task_id: str) -> dict[str, Any]:
        """
        The task state store of one (unmapped) task instance (Airflow 3.3+), ``{key: value}``.

        :param dag_id: the DAG.
        :param run_id: the run.
        :param task_id: the task.
        """
        path = f"/dags/{dag_id}/dagRuns/{quote(run_id)}/taskInstances/{task_id}/state-store"
        return {entry["key"]: entry["value"] for entry in self.request("GET", path)["task_state_store"]}

    def task_log(
        self, dag_id: str, run_id: str, task_id: str, try_number: int = 1, map_index: int = -1
    ) -> str:
        """
        A task try's log as the UI gets it (worker and triggerer parts), one JSON line per entry.

        :param dag_id: the DAG.
        :param run_id: the run.
        :param task_id: the task.
        :param try_number: the try.
        :param map_index: the map index.
        """
        path = f"/dags/{dag_id}/dagRuns/{quote(run_id)}/taskInstances/{task_id}/logs/{try_number}"
        answer = self.request("GET", path, params={"map_index": map_index, "full_content": True})
        return "\n".join(json.dumps(entry) for entry in answer["content"])

    # -- human-in-the-loop and assets -------------------------------------------------------------

    def answer_hitl(
        self, dag_id: str, run_id: str, task_id: str, chosen: list[str], params_input: dict[str, Any]
    ) -> dict[str, Any]:
        """
        Answer a human-in-the-loop task as the logged-in user.

        :param dag_id: the DAG.
        :param run_id: the run.
        :param task_id: the (unmapped) task.
        :param chosen: the options picked.
        :param params_input: the form's values.
        """
        path = f"/dags/{dag_id}/dagRuns/{quote(run_id)}/taskInstances/{task_id}/-1/hitlDetails"
        return dict(
            self.request("PATCH", path, json={"chosen_options": chosen, "params_input": params_input})
        )

    def asset_events(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        """
        The asset events a run's tasks emitted.

        :param dag_id: the DAG.
        :param run_id: the run.
        """
        params = {"source_dag_id": dag_id, "source_run_id": run_id, "limit": 100}
        return list(self.request("GET", "/assets/events", params=params)["asset_events"])


def wait_for_api(api: AirflowApi, timeout: float) -> None:
    """
    Wait until the api-server answers and a token can be had.

    :param api: the client.
    :param timeout: the most seconds to wait.
    """

    def ready() -> bool:
        api.login()
        api.request("GET", "/version")
        return True

    wait_until(ready, timeout=timeout, interval=1.0, what=f"the api-server at {api.base_url}")
