"""
Hostile data stays inert: XComs planted through the REST API (as any user allowed to edit XComs
could) into a real run, against the gallery over HTTP, the "Luma asset" extra link, and the gallery
page in Debian's headless chromium.

- stored copies: only the task's own copy is served; a ``file://`` path outside its
  ``output_path``, a dot-dot path, relative paths, a bare path and ``s3://conn@...`` get a 404 and
  nothing is opened (a FIFO planted as ``.png`` would block whoever opened it: nobody does); a
  symbolic link planted in the output folder gets a 404 too;
- thumbnails: a planted ``http`` asset URL (an internal address) is never fetched by the browser;
- asset URLs: ``javascript:``, ``data:``, ``file:`` and disguised forms appear in no ``href`` or
  ``src`` and in no JSON card; the extra link stays the one computed when the task ended;
- every answer of the gallery (pages, JSON, copies, 401, 403, 404) carries its Content-Security-
  Policy, ``nosniff`` and ``no-referrer``; in the browser the page has no script, and an inline
  script injected into it does not run.
"""

from __future__ import annotations

import errno
import html
import os
import re
import socket
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import pytest
from luma_e2e.browser import plugin_frame, rendered_images
from luma_e2e.processes import loopback_session
from luma_e2e.scenarios import assert_run_succeeds
from luma_e2e.settings import E2E_OUTPUT_DIR, RUN_TIMEOUT
from luma_e2e.stack import USERNAME

if TYPE_CHECKING:
    from pathlib import Path

    import requests
    from luma_e2e.stack import AirflowStack
    from playwright.sync_api import Page

DAG_ID = "e2e_luma_planted"
JAVASCRIPT = "javascript:fetch('/api/v2/connections').then(r => r.text()).then(alert)"
HOSTILE_ASSET_URLS = [
    JAVASCRIPT,
    "JaVaScRiPt:alert(document.domain)",
    " javascript:alert(1)",
    "java\tscript:alert(1)",
    "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
    "data:image/svg+xml,<svg onload=alert(1)>",
    "file:///etc/passwd",
    "/api/v2/connections",
]
HOSTILE_PROMPT = '<script>window.__planted = 1</script><img src=x onerror="window.__planted = 2">'
#: Bytes that must never come out of the gallery.
SECRET = b"SECRET-BYTES-the-gallery-must-never-serve"


@pytest.fixture(scope="module")
def planted_run(stack: AirflowStack) -> str:
    """One run of the DAG, succeeded: ``generate`` stored its copy."""
    stack.api.unpause(DAG_ID)
    run_id = stack.api.trigger(DAG_ID)
    assert_run_succeeds(stack.api, DAG_ID, run_id, timeout=RUN_TIMEOUT)
    return run_id


@pytest.fixture(scope="module")
def admin(stack: AirflowStack) -> requests.Session:
    """A loopback session carrying the admin user's token."""
    http = loopback_session()
    http.headers["Authorization"] = f"Bearer {stack.token_for(USERNAME)}"
    return http


def plant(stack: AirflowStack, run_id: str, task_id: str, key: str, value: Any) -> None:
    """Write an XCom of a task instance through the REST API, as a user allowed to edit XComs can."""
    entries = f"/dags/{DAG_ID}/dagRuns/{quote(run_id)}/taskInstances/{task_id}/xcomEntries"
    body = {"value": value, "map_index": -1}
    if stack.api.call("PATCH", f"{entries}/{key}", allowed=(404,), json=body).status_code == 404:
        stack.api.request("POST", entries, json={"key": key, **body})


def gallery(stack: AirflowStack, run_id: str, tail: str = "") -> str:
    return f"{stack.api_url}/luma/runs/{DAG_ID}/{quote(run_id)}{tail}"


def assert_guarded(response: requests.Response, page: bool = False) -> None:
    """The headers every gallery answer carries; a page allows its own style and images, no script."""
    assert response.headers.get("x-content-type-options") == "nosniff", response.headers
    assert response.headers.get("referrer-policy") == "no-referrer", response.headers
    policy = response.headers.get("content-security-policy", "")
    assert "default-src 'none'" in policy, policy
    assert "frame-ancestors 'self'" in policy, policy
    assert "unsafe-inline" not in policy, policy
    assert "unsafe-eval" not in policy, policy
    if page:
        assert "script-src 'none'" in policy, policy
        assert re.search(r"style-src 'nonce-[\w-]{16,}'", policy), policy


def links_and_sources(page_html: str) -> list[str]:
    """Every ``href`` and ``src`` of a page, as a browser would read them."""
    return [html.unescape(value) for value in re.findall(r'\b(?:href|src)="([^"]*)"', page_html)]


def test_only_the_tasks_own_copy_is_served(
    stack: AirflowStack, planted_run: str, admin: requests.Session, airflow_home: Path
) -> None:
    stored_url = gallery(stack, planted_run, "/tasks/generate/-1/stored")
    own_copy = stack.api.xcom(DAG_ID, planted_run, "generate")
    output = airflow_home / E2E_OUTPUT_DIR / "planted"
    assert own_copy.startswith(f"file://{output}/")
    served = admin.get(stored_url, timeout=10)
    assert served.status_code == 200
    assert served.headers["content-type"] == "image/png"
    assert served.content == (output / own_copy.rsplit("/", 1)[1]).read_bytes()
    assert_guarded(served)

    secrets = airflow_home / "secret"
    secrets.mkdir(exist_ok=True)
    (secrets / "secret.png").write_bytes(SECRET)
    fifo = secrets / "fifo.png"
    if not fifo.exists():
        os.mkfifo(fifo)
    link = output / "planted-link.png"  # named as the task names its copies, in its own folder
    if not link.is_symlink():
        link.symlink_to(secrets / "secret.png")
    planted_paths = [
        f"file://{link}",  # a link inside output_path to a file outside it
        f"file://{secrets}/secret.png",  # outside output_path
        f"file://{fifo}",
        str(secrets / "secret.png"),  # a bare absolute path outside it
        f"file://{output}/../../secret/secret.png",  # dot-dot out of it
        "secret/secret.png",  # relative paths
        "../secret/secret.png",
        f"s3://aws_default@luma-bucket/{own_copy.rsplit('/', 1)[1]}",  # names a connection
    ]
    try:
        for path in planted_paths:
            plant(stack, planted_run, "generate", "return_value", path)
            refused = admin.get(stored_url, timeout=10)
            assert refused.status_code == 404, (path, refused.status_code, refused.text[:200])
            assert SECRET not in refused.content
            assert_guarded(refused)
            cards = admin.get(gallery(stack, planted_run, "/generations"), timeout=10).json()["generations"]
            assert all(card["stored_path"] is None and card["stored_url"] is None for card in cards), path
            # Nobody opened the FIFO: opening one for reading blocks until a writer comes, so a reader
            # would still be waiting, and a non-blocking writer would find it.
            with pytest.raises(OSError, match="No such device or address") as no_reader:
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
            assert no_reader.value.errno == errno.ENXIO, path
    finally:  # the run's own copy back, whatever failed: the later tests show it
        plant(stack, planted_run, "generate", "return_value", own_copy)
    assert admin.get(stored_url, timeout=10).status_code == 200  # the real one is served again


def test_planted_asset_urls_are_never_linked(
    stack: AirflowStack, planted_run: str, admin: requests.Session
) -> None:
    generation = stack.api.xcom(DAG_ID, planted_run, "generate", key="generation")
    links = f"/dags/{DAG_ID}/dagRuns/{quote(planted_run)}/taskInstances/generate/links"
    real_link = stack.api.request("GET", links)["extra_links"]["Luma asset"]
    assert real_link == generation["assets"]["image"]
    for url in HOSTILE_ASSET_URLS:
        planted = {**generation, "assets": {"image": url, "video": None}}
        for task_id in ("generate", "bystander"):
            plant(stack, planted_run, task_id, "generation", planted)
        for page_url in (gallery(stack, planted_run), gallery(stack, planted_run, "/tasks/generate/-1")):
            page = admin.get(page_url, timeout=10)
            assert page.status_code == 200
            assert_guarded(page, page=True)
            for target in links_and_sources(page.text):
                assert target.startswith(("http://", "https://", "/luma/")), (url, target)
        answer = admin.get(gallery(stack, planted_run, "/generations"), timeout=10)
        assert_guarded(answer)
        cards = answer.json()["generations"]
        assert {card["task_id"] for card in cards} == {"generate", "bystander"}
        assert all(card["asset_url"] is None for card in cards), (url, cards)
        # Airflow 3 serves the link the worker computed when the task ended (http(s) only, see
        # tests/test_hostile_asset_urls_returned.py): a generation planted later does not reach it.
        assert stack.api.request("GET", links)["extra_links"]["Luma asset"] == real_link, url
    plant(stack, planted_run, "generate", "generation", generation)


def test_a_planted_http_thumbnail_is_never_fetched_by_the_browser(
    stack: AirflowStack, planted_run: str, page: Page
) -> None:
    """An ``http`` asset URL planted as an internal address: the page loads no image from it."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.5)
    internal = f"http://127.0.0.1:{listener.getsockname()[1]}/internal/admin.png"
    generation = stack.api.xcom(DAG_ID, planted_run, "generate", key="generation")
    plant(stack, planted_run, "bystander", "generation", {**generation, "assets": {"image": internal}})
    fetched: list[str] = []
    page.on("request", lambda request: fetched.append(request.url))
    try:
        page.goto(f"{stack.api_url}/dags/{DAG_ID}/runs/{planted_run}/plugin/luma_run_gallery")
        frame = plugin_frame(page, "luma/runs/")
        rendered_images(frame, expected=1)  # the task's own stored copy has loaded
        page.wait_for_timeout(1000)
        sources = frame.evaluate("() => Array.from(document.images).map(image => image.src)")
        assert internal not in sources
        assert internal not in fetched
        with pytest.raises(TimeoutError):  # nothing connected to the internal address
            listener.accept()
    finally:
        listener.close()
        plant(stack, planted_run, "bystander", "generation", generation)


def test_every_refusal_carries_the_headers_too(stack: AirflowStack, planted_run: str) -> None:
    http = loopback_session()
    no_role = {"Authorization": f"Bearer {stack.token_for('e2e-no-role')}"}
    for url in (gallery(stack, planted_run), gallery(stack, planted_run, "/tasks/generate/-1/stored")):
        anonymous = http.get(url, timeout=10)
        assert anonymous.status_code == 401
        assert_guarded(anonymous)
        forbidden = http.get(url, headers=no_role, timeout=10)
        assert forbidden.status_code == 403
        assert_guarded(forbidden)


def test_the_gallery_page_runs_no_script_in_the_browser(
    stack: AirflowStack, planted_run: str, page: Page, airflow_home: Path
) -> None:
    generation = stack.api.xcom(DAG_ID, planted_run, "generate", key="generation")
    hostile = {
        **generation,
        "assets": {"image": JAVASCRIPT, "video": None},
        "request": {**generation["request"], "prompt": HOSTILE_PROMPT},
        "failure_reason": HOSTILE_PROMPT,
    }
    plant(stack, planted_run, "bystander", "generation", hostile)
    plant(stack, planted_run, "generate", "generation", {**hostile, "failure_reason": None})
    answers: list[Any] = []
    page.on("response", lambda response: answers.append(response) if "/luma/runs/" in response.url else None)
    page.goto(f"{stack.api_url}/dags/{DAG_ID}/runs/{planted_run}/plugin/luma_run_gallery")
    frame = plugin_frame(page, "luma/runs/")
    (image,) = rendered_images(frame, expected=1)  # the task's own stored copy, and nothing else
    assert image["naturalWidth"] > 0
    assert image["src"].endswith("/tasks/generate/-1/stored")
    assert HOSTILE_PROMPT in frame.inner_text("body")  # shown as text
    found = frame.evaluate(
        """() => ({
            scripts: document.scripts.length,
            handlers: Array.from(document.querySelectorAll('*')).flatMap(
                element => element.getAttributeNames().filter(name => name.startsWith('on'))),
            targets: Array.from(document.querySelectorAll('[href], [src]')).map(
                element => element.href || element.src),
            planted: window.__planted,
        })"""
    )
    assert found["scripts"] == 0
    assert found["handlers"] == []
    assert all(target.startswith(stack.api_url) for target in found["targets"]), found["targets"]
    assert found["planted"] is None
    # The policy itself: an inline script put into the page (as an injection would) is refused.
    injected = frame.evaluate(
        """() => new Promise(resolve => {
            const violations = [];
            document.addEventListener(
                'securitypolicyviolation', event => violations.push(event.violatedDirective));
            const script = document.createElement('script');
            script.textContent = 'window.__inline_ran = true';
            document.body.appendChild(script);
            setTimeout(() => resolve({ran: window.__inline_ran === true, violations}), 500);
        })"""
    )
    assert injected["ran"] is False
    assert any(directive.startswith("script-src") for directive in injected["violations"]), injected
    gallery_answer = next(response for response in answers if response.request.resource_type == "document")
    assert "script-src 'none'" in gallery_answer.headers["content-security-policy"]
    screenshots = airflow_home / "screenshots"
    screenshots.mkdir(exist_ok=True)
    page.screenshot(path=str(screenshots / "gallery-planted.png"))
    plant(stack, planted_run, "generate", "generation", generation)
