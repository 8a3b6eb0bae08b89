"""Apache Airflow provider for Luma AI's APIs: the Dream Machine API and the Agents API."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

#: The ``luma`` connection form: only the API key (password) and an optional base URL (host).
CONNECTION_FORM: dict[str, Any] = {
    "hidden_fields": ["schema", "port", "login"],
    "relabeling": {"password": "API key", "host": "Base URL (optional)"},
    "placeholders": {
        "password": "luma-...",
        "host": "https://api.lumalabs.ai/dream-machine/v1",
        # Luma's limits on the key when its tier is not Build's, and negotiated prices (see the
        # connection docs).
        "extra": '{"limits": {"image": {"in_flight": 40, "creates_per_minute": 80}}, '
        '"prices": {"image": {"photon-1": 0.006}}}',
    },
}

#: The ``luma_agents`` connection form (Luma's Agents API: uni-1, uni-1-max, ray-3.2).
AGENTS_CONNECTION_FORM: dict[str, Any] = {
    "hidden_fields": CONNECTION_FORM["hidden_fields"],
    "relabeling": CONNECTION_FORM["relabeling"],
    "placeholders": {
        "password": "luma-...",
        "host": "https://agents.lumalabs.ai/v1",
        "extra": '{"prices": {"image": {"uni-1": 0.0404}}}',
    },
}


def _connection_type(hook_class: str, name: str, conn_type: str, form: dict[str, Any]) -> dict[str, Any]:
    return {
        "hook-class-name": hook_class,
        "hook-name": name,
        "connection-type": conn_type,
        "ui-field-behaviour": {
            "hidden-fields": form["hidden_fields"],
            "relabeling": form["relabeling"],
            "placeholders": form["placeholders"],
        },
        "conn-fields": {},
    }


def get_provider_info() -> dict[str, Any]:
    """
    Describe this provider to Airflow's ProvidersManager (entry point ``apache_airflow_provider``).

    The connection form is declared here (``ui-field-behaviour`` and ``conn-fields``), the way
    Airflow 3.2+ reads it; ``LumaHook.get_ui_field_behaviour`` says the same for older Airflow.
    """
    return {
        "package-name": "airflow-provider-luma",
        "name": "Luma AI",
        "description": "Generate images and videos with Luma AI's Dream Machine and Agents APIs.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": "Luma AI",
                "external-doc-url": "https://docs.lumalabs.ai/docs/api",
                "tags": ["software"],
            }
        ],
        "operators": [
            {"integration-name": "Luma AI", "python-modules": ["airflow_provider_luma.operators.luma"]}
        ],
        "sensors": [
            {"integration-name": "Luma AI", "python-modules": ["airflow_provider_luma.sensors.luma"]}
        ],
        "hooks": [{"integration-name": "Luma AI", "python-modules": ["airflow_provider_luma.hooks.luma"]}],
        "triggers": [
            {
                "integration-name": "Luma AI",
                "python-modules": [
                    "airflow_provider_luma.triggers.luma",
                    "airflow_provider_luma.triggers.batch",
                ],
            }
        ],
        "connection-types": [
            _connection_type("airflow_provider_luma.hooks.luma.LumaHook", "Luma AI", "luma", CONNECTION_FORM),
            _connection_type(
                "airflow_provider_luma.hooks.luma.LumaAgentsHook",
                "Luma AI (Agents API)",
                "luma_agents",
                AGENTS_CONNECTION_FORM,
            ),
        ],
        "extra-links": ["airflow_provider_luma.links.LumaGenerationLink"],
        # @task.luma_image, @task.luma_video, and their batches.
        "task-decorators": [
            {"name": "luma_image", "class-name": "airflow_provider_luma.decorators.luma.luma_image_task"},
            {"name": "luma_video", "class-name": "airflow_provider_luma.decorators.luma.luma_video_task"},
            {
                "name": "luma_image_batch",
                "class-name": "airflow_provider_luma.decorators.batch.luma_image_batch_task",
            },
            {
                "name": "luma_video_batch",
                "class-name": "airflow_provider_luma.decorators.batch.luma_video_batch_task",
            },
        ],
    }
