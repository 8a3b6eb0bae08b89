"""
Lineage and the UI: OpenLineage events of a real DAG run, the facets of a real generation, no
OpenLineage import for DAG files, and JSON renderers for dict and list fields. That the provider is
unharmed where the OpenLineage provider is not installed is checked by ``make dist-check``, in a
fresh Airflow environment that has only the wheel (scripts/check_dist.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from airflow_provider_luma.operators import luma as operators

REFERENCES = {
    "style_ref": [{"url": "https://cdn.example.com/styles/ink.png?X-Signature=abc", "weight": 0.7}],
    "image_ref": [{"url": "https://cdn.example.com/photos/harbour.jpg", "weight": 0.5}],
    "character_ref": {"identity0": {"images": ["https://cdn.example.com/people/ada.jpg"]}},
}
EXPECTED_INPUTS = {
    ("https://cdn.example.com", "/styles/ink.png"),
    ("https://cdn.example.com", "/photos/harbour.jpg"),
    ("https://cdn.example.com", "/people/ada.jpg"),
}


def test_facets_of_a_real_generation(emulator):
    pytest.importorskip("airflow.providers.openlineage")
    from airflow_provider_luma.lineage import RUN_FACET_NAME, generation_lineage

    headers = {"Authorization": f"Bearer {emulator.api_key}"}
    body = {"model": "photon-1", "prompt": "a harbour at dawn", **REFERENCES}
    created = requests.post(f"{emulator.base_url}/generations/image", json=body, headers=headers, timeout=10)
    created.raise_for_status()
    generation_id = created.json()["id"]
    emulator.complete(generation_id)
    generation = requests.get(f"{emulator.base_url}/generations/{generation_id}", headers=headers, timeout=10)
    generation = generation.json()

    lineage = generation_lineage(generation, "s3://media-bucket/luma/harbour.png")
    assert {(d.namespace, d.name) for d in lineage.inputs} == EXPECTED_INPUTS
    assert [(d.namespace, d.name) for d in lineage.outputs] == [("s3://media-bucket", "luma/harbour.png")]
    facet = lineage.run_facets[RUN_FACET_NAME]
    assert (facet.generation_id, facet.state, facet.generation_type) == (generation_id, "completed", "image")
    assert facet.asset_url == generation["assets"]["image"].split("?")[0]

    # Without output_path nothing is written; a failed task with no generation reports nothing.
    assert generation_lineage(generation, None).outputs == []
    empty = generation_lineage(None, None)
    assert (empty.inputs, empty.outputs, empty.run_facets) == ([], [], {})


def test_video_keyframes_and_media_are_inputs():
    pytest.importorskip("airflow.providers.openlineage")
    from airflow_provider_luma.lineage import generation_lineage

    request = {
        "keyframes": {
            "frame0": {"type": "image", "url": "https://img.example.org/start.jpg"},
            "frame1": {"type": "generation", "id": "6f1c1f9e-3c1a-4b8e-9d63-2f0f5c7a1b2c"},
        },
        "media": {"url": "https://img.example.org/clip.mp4"},
    }
    lineage = generation_lineage({"id": "x", "request": request}, "file:///data/out/clip.mp4")
    assert [(d.namespace, d.name) for d in lineage.inputs] == [
        ("https://img.example.org", "/clip.mp4"),
        ("https://img.example.org", "/start.jpg"),
    ]
    assert [(d.namespace, d.name) for d in lineage.outputs] == [("file", "/data/out/clip.mp4")]


def test_credentials_in_urls_never_reach_lineage():
    """A hostile API could echo a URL with credentials; an output_path may name a connection."""
    pytest.importorskip("airflow.providers.openlineage")
    from airflow_provider_luma.lineage import generation_lineage

    request = {"media": {"url": "https://luma:hunter2@img.example.org/clip.mp4"}}
    lineage = generation_lineage({"id": "x", "request": request}, "s3://my_conn@bucket/out/clip.mp4")
    assert [(d.namespace, d.name) for d in lineage.inputs] == [("https://img.example.org", "/clip.mp4")]
    assert [(d.namespace, d.name) for d in lineage.outputs] == [("s3://bucket", "out/clip.mp4")]
    assert "hunter2" not in repr(lineage)


@pytest.mark.slow
def test_openlineage_listener_reports_the_run(emulator, airflow_db, tmp_path):
    """A real ``airflow dags test`` with the OpenLineage provider sending events to a file."""
    pytest.importorskip("airflow.providers.openlineage")
    events_file = tmp_path / "openlineage.jsonl"
    env = {
        **os.environ,
        "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(
            {"type": "file", "log_file_path": str(events_file), "append": True}
        ),
        "AIRFLOW__OPENLINEAGE__NAMESPACE": "luma-tests",
    }
    airflow = str(Path(sys.executable).parent / "airflow")
    done = subprocess.run(
        [airflow, "dags", "test", "luma_test_lineage"], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    events = [json.loads(line) for line in events_file.read_text().splitlines() if line.strip()]
    complete = [
        e for e in events if e.get("eventType") == "COMPLETE" and e["job"]["name"].endswith(".styled")
    ]
    assert complete, ([(e.get("eventType"), e["job"]["name"]) for e in events], _lineage_lines(done))
    event = complete[-1]
    assert {(d["namespace"], d["name"]) for d in event["inputs"]} == EXPECTED_INPUTS
    [output] = event["outputs"]
    assert output["namespace"] == "file"
    assert output["name"].endswith(".png")
    assert Path(output["name"]).is_file()  # the stored file itself
    facet = event["run"]["facets"]["luma_generation"]
    assert facet["state"] == "completed"
    assert facet["cost_usd"] == 0.0073  # photon-1's published price
    assert Path(output["name"]).stem == facet["generation_id"]  # a folder output_path: named by id
    assert emulator.stats.creates == 1
    assert "X-Signature" not in events_file.read_text()


def _lineage_lines(done: subprocess.CompletedProcess[str]) -> str:
    lines = (done.stdout + done.stderr).splitlines()
    return "\n".join(line for line in lines if "lineage" in line.lower() or "Error" in line)[-4000:]


def test_importing_the_operators_does_not_load_openlineage():
    script = (
        "import sys, airflow\n"
        "import airflow_provider_luma.operators.luma\n"
        "print(sorted(m for m in sys.modules if 'openlineage' in m and 'airflow_provider_luma' not in m))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    loaded_before = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, airflow; print(sorted(m for m in sys.modules if 'openlineage' in m))",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    # Whatever Airflow itself loads, the operators module adds nothing OpenLineage.
    assert done.stdout.strip().splitlines()[-1] == loaded_before.stdout.strip().splitlines()[-1]


def _dict_and_list_fields(operator) -> set[str]:
    return {name for name in operator.template_fields if isinstance(getattr(operator, name), (dict, list))}


@pytest.mark.parametrize(
    "operator",
    [
        operators.LumaImageGenerateOperator(
            task_id="image",
            prompt="a lighthouse",
            modify_image_ref={"url": "https://x.example/a.png", "weight": 0.1},
            **REFERENCES,
        ),
        operators.LumaVideoGenerateOperator(
            task_id="video",
            prompt="waves",
            concepts=["dolly_zoom"],
            keyframes={"frame0": "https://x.example/a.png"},
        ),
    ],
    ids=lambda operator: operator.task_id,
)
def test_dict_and_list_fields_render_as_json(operator):
    fields = _dict_and_list_fields(operator)
    assert fields  # the operator does have such fields
    assert {name: operator.template_fields_renderers.get(name) for name in fields} == dict.fromkeys(
        fields, "json"
    )
