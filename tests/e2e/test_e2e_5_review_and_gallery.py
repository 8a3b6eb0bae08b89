"""
The review example and the Luma gallery, in Debian's headless chromium against the running api-server.

A person's path: sign in, open the review task's "Required Action" tab, see every variant's image,
pick one (or reject all with a note) with the UI's own buttons, then find the published file and
its Asset event. The gallery tabs ("Luma") of a run and of a task instance show every generation
with a thumbnail that really rendered. Screenshots go to ``<AIRFLOW_HOME>/screenshots``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import pytest
from luma_e2e.browser import plugin_frame, rendered_images
from luma_e2e.processes import loopback_session
from luma_e2e.scenarios import assert_run_succeeds, describe_run, wait_for_ti_state
from luma_e2e.settings import API_KEY, IMAGE_DAG, REVIEW_DAG, REVIEW_TIMEOUT_SECONDS, RUN_TIMEOUT
from luma_e2e.stack import USERNAME

if TYPE_CHECKING:
    from luma_e2e.scenarios import ImageRun
    from luma_e2e.stack import AirflowStack
    from playwright.sync_api import Page

BATCH_DAG = "example_luma_mapped"
VARIANTS = 3
#: The variants dream for DREAMING_SECONDS before the review asks.
ASKED_WITHIN = 120.0


@pytest.fixture(scope="module")
def review_runs(stack: AirflowStack) -> dict[str, str]:
    """Two runs of the review DAG, started together: one to pick from, one to reject all first."""
    stack.api.unpause(REVIEW_DAG)
    return {"pick": stack.api.trigger(REVIEW_DAG), "reject": stack.api.trigger(REVIEW_DAG)}


@pytest.fixture(scope="module")
def screenshots(airflow_home: Path) -> Path:
    folder = airflow_home / "screenshots"
    folder.mkdir(exist_ok=True)
    return folder


def gallery_urls(stack: AirflowStack, dag_id: str, run_id: str, task_id: str) -> list[str]:
    run = f"{stack.api_url}/luma/runs/{dag_id}/{quote(run_id)}"
    return [run, f"{run}/generations", f"{run}/tasks/{task_id}/-1", f"{run}/tasks/{task_id}/-1/stored"]


def assert_no_secret(text: str) -> None:
    assert API_KEY not in text


# -- the gallery --------------------------------------------------------------------------------


def test_the_gallery_is_served_with_airflows_default_provider_discovery(stack: AirflowStack) -> None:
    """No ``[core] lazy_discover_providers = False``: the stack runs with Airflow's default."""
    assert not any(name.endswith("LAZY_DISCOVER_PROVIDERS") for name in stack.env)
    setting = stack.airflow("config", "get-value", "core", "lazy_discover_providers")
    assert setting.stdout.strip() == "True", setting.stderr
    # The api-server mounted the plugin's app and lists its views for the UI.
    views = stack.api.request("GET", "/plugins")["plugins"]
    gallery = next(plugin for plugin in views if plugin["name"] == "luma_gallery")
    assert {view["destination"] for view in gallery["external_views"]} == {"dag_run", "task_instance"}
    assert loopback_session().get(f"{stack.api_url}/luma/runs/x/y", timeout=10).status_code == 401


def test_gallery_answers_401_without_a_user_and_403_to_a_user_who_may_not_read_the_dag(
    stack: AirflowStack, image_run: ImageRun
) -> None:
    assert_run_succeeds(stack.api, IMAGE_DAG, image_run.run_id, timeout=RUN_TIMEOUT)
    prompt = stack.api.xcom(IMAGE_DAG, image_run.run_id, "text_to_image", key="generation")["request"][
        "prompt"
    ]
    urls = gallery_urls(stack, IMAGE_DAG, image_run.run_id, "text_to_image")
    http = loopback_session()
    no_role = {"Authorization": f"Bearer {stack.token_for('e2e-no-role')}"}
    viewer = {"Authorization": f"Bearer {stack.token_for('e2e-viewer')}"}
    for url in urls:
        anonymous = http.get(url, timeout=10)
        assert anonymous.status_code == 401, (url, anonymous.text)
        forbidden = http.get(url, headers=no_role, timeout=10)
        assert forbidden.status_code == 403, (url, forbidden.text)
        for answer in (anonymous, forbidden):  # nothing of the run in either answer
            assert prompt not in answer.text
            assert "generation_id" not in answer.text
    # A viewer may read every DAG (the simple auth manager's lowest role): the same pages answer.
    for url in urls[:3]:
        allowed = http.get(url, headers=viewer, timeout=10)
        assert allowed.status_code == 200, (url, allowed.text)
        assert prompt in allowed.text
        assert_no_secret(allowed.text)
    # The image DAG stores nothing: there is no stored copy to serve.
    assert http.get(urls[3], headers=viewer, timeout=10).status_code == 404


def test_run_gallery_shows_every_stored_generation_in_the_browser(
    stack: AirflowStack, example_runs: dict[str, dict[str, str]], page: Page, screenshots: Path
) -> None:
    run_id = example_runs["example_luma_mapped.py"][BATCH_DAG]
    assert_run_succeeds(stack.api, BATCH_DAG, run_id, timeout=RUN_TIMEOUT)
    stored = {
        ti["map_index"]: stack.api.xcom(BATCH_DAG, run_id, "product_shot", map_index=ti["map_index"])
        for ti in stack.api.task_instances(BATCH_DAG, run_id)
        if ti["task_id"] == "product_shot"
    }

    page.goto(f"{stack.api_url}/dags/{BATCH_DAG}/runs/{run_id}/plugin/luma_run_gallery")
    frame = plugin_frame(page, "luma/runs/")
    images = rendered_images(frame, expected=len(stored))
    assert len(images) == len(stored) == 20
    assert all(image["naturalWidth"] > 0 for image in images), images
    # Thumbnails of stored copies come through the plugin: a browser cannot open file:// URLs.
    assert all("/luma/runs/" in image["src"] and image["src"].endswith("/stored") for image in images)
    text = frame.content()
    assert all(path in text for path in stored.values())
    assert "photon-flash-1" in text
    assert "$0.0019" in text  # each card's cost: photon-flash-1's published price
    assert_no_secret(text)
    page.screenshot(path=str(screenshots / "gallery-run.png"))

    generations = loopback_session().get(
        f"{stack.api_url}/luma/runs/{BATCH_DAG}/{quote(run_id)}/generations",
        headers={"Authorization": f"Bearer {stack.token_for(USERNAME)}"},
        timeout=10,
    )
    assert_no_secret(generations.text)
    assert {card["stored_path"] for card in generations.json()["generations"]} == set(stored.values())
    assert {card["cost"] for card in generations.json()["generations"]} == {0.0019}


def test_task_gallery_links_an_http_asset_url_and_loads_no_thumbnail_from_it(
    stack: AirflowStack, image_run: ImageRun, page: Page, screenshots: Path
) -> None:
    """
    The emulator's asset URLs are plain ``http``: a page loads thumbnails over ``https`` only (or
    from the api-server), so the task's page links the asset and shows no image of it.
    """
    run_id = image_run.run_id
    assert_run_succeeds(stack.api, IMAGE_DAG, run_id, timeout=RUN_TIMEOUT)
    url = stack.api.xcom(IMAGE_DAG, run_id, "text_to_image")
    assert url.startswith("http://")
    fetched: list[str] = []
    page.on("request", lambda request: fetched.append(request.url))
    page.goto(f"{stack.api_url}/dags/{IMAGE_DAG}/runs/{run_id}/tasks/text_to_image/plugin/luma_task_gallery")
    frame = plugin_frame(page, "/tasks/text_to_image/")
    frame.get_by_text("Luma asset URL").wait_for(timeout=30_000)
    assert frame.evaluate("() => document.images.length") == 0
    assert url in frame.evaluate("() => Array.from(document.links).map(link => link.href)")
    assert url not in fetched
    assert_no_secret(frame.content())
    page.screenshot(path=str(screenshots / "gallery-task.png"))


# -- the review example -------------------------------------------------------------------------


def open_review(page: Page, stack: AirflowStack, run_id: str, task_id: str, variants_task: str) -> list[str]:
    """Open a waiting review in the UI, check every variant's image rendered; return their URLs."""
    wait_for_ti_state(stack.api, REVIEW_DAG, run_id, task_id, "awaiting_input", timeout=ASKED_WITHIN)
    urls = [stack.api.xcom(REVIEW_DAG, run_id, variants_task, map_index=i) for i in range(VARIANTS)]
    page.goto(f"{stack.api_url}/dags/{REVIEW_DAG}/runs/{run_id}/tasks/{task_id}/required_actions")
    page.get_by_role("button", name="Reject all").wait_for(timeout=30_000)
    images = rendered_images(page, expected=VARIANTS)
    shown = [image for image in images if image["src"] in urls]
    assert [image["src"] for image in shown] == urls, images
    assert all(image["naturalWidth"] > 0 for image in shown), shown
    assert_no_secret(page.content())
    return urls


def published(stack: AirflowStack, run_id: str) -> list[dict[str, Any]]:
    return [
        event for event in stack.api.asset_events(REVIEW_DAG, run_id) if event["uri"].startswith("luma://")
    ]


def test_review_shows_the_variants_and_the_pick_made_in_the_ui_is_published(
    stack: AirflowStack, review_runs: dict[str, str], page: Page, screenshots: Path
) -> None:
    run_id = review_runs["pick"]
    urls = open_review(page, stack, run_id, "review", "generate_variants")
    page.get_by_role("button", name="Reject all").scroll_into_view_if_needed()
    page.screenshot(path=str(screenshots / "review-task.png"))
    page.get_by_role("button", name="Variant 2").click()

    assert_run_succeeds(stack.api, REVIEW_DAG, run_id, timeout=RUN_TIMEOUT)
    answer = stack.api.xcom(REVIEW_DAG, run_id, "review")
    assert answer["chosen_options"] == ["Variant 2"]
    assert answer["responded_by_user"]["name"] == USERNAME
    picked = stack.api.xcom(REVIEW_DAG, run_id, "generate_variants", key="generation", map_index=1)
    path = stack.api.xcom(REVIEW_DAG, run_id, "publish")
    assert path.endswith(f"/published/{picked['id']}.png")
    assert (
        Path(path.removeprefix("file://")).read_bytes() == loopback_session().get(urls[1], timeout=10).content
    )
    (event,) = published(stack, run_id)
    assert event["extra"]["generation_id"] == picked["id"]
    assert event["extra"]["reviewed_by"] == USERNAME
    assert stack.api.task_instance(REVIEW_DAG, run_id, "second_review")["state"] == "skipped"


def test_reject_all_regenerates_once_with_the_note_and_asks_again(
    stack: AirflowStack, review_runs: dict[str, str], page: Page
) -> None:
    run_id = review_runs["reject"]
    first_round = open_review(page, stack, run_id, "review", "generate_variants")
    page.locator("#element_note").fill("warmer light")
    page.get_by_role("button", name="Reject all").click()

    second_round = open_review(page, stack, run_id, "second_review", "regenerate_variants")
    assert not set(first_round) & set(second_round)
    for index in range(VARIANTS):
        generation = stack.api.xcom(
            REVIEW_DAG, run_id, "regenerate_variants", key="generation", map_index=index
        )
        assert generation["request"]["prompt"].endswith("Reviewer's note: warmer light")
    # The second answer through the REST API, as a script or another tool would give it.
    stack.api.answer_hitl(REVIEW_DAG, run_id, "second_review", ["Variant 3"], {"note": None})

    assert_run_succeeds(stack.api, REVIEW_DAG, run_id, timeout=RUN_TIMEOUT)
    picked = stack.api.xcom(REVIEW_DAG, run_id, "regenerate_variants", key="generation", map_index=2)
    assert stack.api.xcom(REVIEW_DAG, run_id, "publish").endswith(f"/{picked['id']}.png")
    (event,) = published(stack, run_id)
    assert event["extra"]["generation_id"] == picked["id"]


def test_a_review_nobody_answers_times_out_and_publishes_nothing(
    stack: AirflowStack, example_runs: dict[str, dict[str, str]]
) -> None:
    run_id = example_runs["example_luma_review.py"][REVIEW_DAG]  # triggered with the other examples
    # The reviewer's time, plus the scheduler's 15 s sweep for it, plus the variants before it.
    state = stack.api.wait_for_run(REVIEW_DAG, run_id, timeout=REVIEW_TIMEOUT_SECONDS + RUN_TIMEOUT)
    assert state == "failed", describe_run(stack.api, REVIEW_DAG, run_id)
    states = {ti["task_id"]: ti["state"] for ti in stack.api.task_instances(REVIEW_DAG, run_id)}
    assert states["review"] == "failed"
    assert states["publish"] == "upstream_failed"
    assert published(stack, run_id) == []
    assert "Human-in-the-loop response timeout" in stack.api.task_log(REVIEW_DAG, run_id, "review")
