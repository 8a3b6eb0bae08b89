"""
What a create is estimated to cost, and ``max_cost``: the price table and a connection's own
prices, the cap refusing before any create on every path, and the emulator's balance moving by
exactly the estimates.
"""

from __future__ import annotations

import pytest
from airflow.providers.common.compat.version_compat import AIRFLOW_V_3_1_PLUS, AIRFLOW_V_3_3_PLUS

from airflow_provider_luma.exceptions import LumaConnectionConfigError, LumaValidationError
from airflow_provider_luma.kinds import build_request
from airflow_provider_luma.pricing import PriceTable
from tests.conftest import plain_text, sync_dags_to_db

UPSCALE_SOURCE = "00000000-0000-4000-8000-000000000000"


def estimate(kind: str, table: PriceTable | None = None, **params):
    return (table or PriceTable()).estimate(build_request(kind, params))


def test_images_and_ray_2_videos_are_priced_by_model_resolution_and_duration():
    assert estimate("image", prompt="a lighthouse", model="photon-1").usd == pytest.approx(0.0073)
    assert estimate("image", prompt="a lighthouse", model="photon-flash-1").usd == pytest.approx(0.0019)
    nine_at_1080 = estimate("video", prompt="a lighthouse", model="ray-2", resolution="1080p", duration="9s")
    assert nine_at_1080.usd == pytest.approx(0.318 * 9)
    assert nine_at_1080.what == "ray-2 video, 9 s at 1080p"
    # Left to Luma: 5 s at 720p, $0.71 in the published table.
    assert estimate("video", prompt="a lighthouse", model="ray-2").usd == pytest.approx(0.71)


def test_what_luma_publishes_no_price_for_is_unknown_never_free():
    assert estimate("video", prompt="a lighthouse", model="ray-flash-2").usd is None
    assert estimate("video_upscale", generation_id=UPSCALE_SOURCE, resolution="4k").usd is None
    assert estimate("image", prompt="a lighthouse", model="photon-2").usd is None  # a model to come
    assert estimate("image", prompt="a lighthouse", model="photon-2").over(1_000_000)


def test_a_connections_prices_override_and_extend_the_table():
    table = PriceTable.of_extra(
        {
            "prices": {
                "image": {"photon-1": 0.005},
                "video": {"ray-flash-2": {"per_second": {"720p": 0.05}}},
                "upscale_video": {"*": 0.4},
            }
        },
        "luma_negotiated",
    )
    assert estimate("image", table, prompt="a lighthouse", model="photon-1").usd == 0.005
    assert estimate("image", table, prompt="a lighthouse", model="photon-flash-1").usd == pytest.approx(
        0.0019
    )
    assert estimate("video", table, prompt="a lighthouse", model="ray-flash-2").usd == pytest.approx(0.25)
    assert estimate("video", table, prompt="a lighthouse", model="ray-2").usd == pytest.approx(0.71)
    assert estimate("video_upscale", table, generation_id=UPSCALE_SOURCE, resolution="4k").usd == 0.4


@pytest.mark.parametrize(
    ("prices", "named"),
    [
        ([1], "extra 'prices' must be a mapping"),
        ({"image": 0.1}, "extra 'prices'['image'] must be a mapping"),
        ({"image": {"photon-1": -1}}, "extra 'prices'['image']['photon-1'] must be US dollars"),
        ({"image": {"photon-1": True}}, "extra 'prices'['image']['photon-1'] must be US dollars"),
        ({"video": {"ray-2": {"per_second": {"720p": "cheap"}}}}, "extra 'prices'['video']['ray-2'] must be"),
    ],
)
def test_bad_prices_in_the_extra_name_the_field(prices, named):
    with pytest.raises(
        LumaConnectionConfigError, match=named.replace("[", r"\[").replace("]", r"\]")
    ) as error:
        PriceTable.of_extra({"prices": prices}, "luma_bad")
    assert "'luma_bad'" in str(error.value)


@pytest.mark.parametrize("value", [-0.01, "1", float("inf"), True])
def test_a_bad_max_cost_fails_the_dag_import_naming_it(value):
    from airflow_provider_luma.operators.luma import LumaImageGenerateOperator

    with pytest.raises(LumaValidationError, match="max_cost"):
        LumaImageGenerateOperator(task_id="bad", prompt="a lighthouse", max_cost=value)


def test_a_create_over_max_cost_fails_before_it_is_sent(run_dag, emulator, read_logs):
    result = run_dag("luma_test_max_cost_over")
    assert result.state == "failed"
    logs = plain_text(read_logs())
    assert "max_cost is $0.005 and this create (photon-1 image) is estimated at $0.0073" in logs
    assert emulator.stats.creates == 0


def test_the_balance_moves_by_exactly_the_estimate(run_dag, emulator, read_logs):
    from airflow_provider_luma.hooks.luma import LumaHook

    hook = LumaHook()
    before = hook.get_credits()["credit_balance"]
    result = run_dag("luma_test_max_cost_within")
    assert result.state == "success", read_logs()[-3000:]
    spent_cents = before - hook.get_credits()["credit_balance"]
    assert spent_cents == pytest.approx(estimate("image", prompt="a lighthouse", model="photon-1").usd * 100)
    assert emulator.stats.creates == 1


def test_an_unknown_price_under_max_cost_is_refused_and_without_it_is_warned_of(run_dag, emulator, read_logs):
    result = run_dag("luma_test_max_cost_unknown")
    assert result.state == "failed"
    assert "(ray-flash-2 video, 5 s at 720p) has no known price" in plain_text(read_logs())
    assert emulator.stats.creates == 0


def test_a_batch_over_max_cost_fails_before_any_create_naming_the_item(run_dag, dagbag, emulator, read_logs):
    if not AIRFLOW_V_3_1_PLUS:  # 3.0's dag.test() fails a task whose Asset outlet is not registered
        sync_dags_to_db(dagbag)
    result = run_dag("luma_test_max_cost_batch")
    assert result.state == "failed"
    logs = plain_text(read_logs())
    assert "requests[1]: max_cost is $0.005 and this create (photon-1 image) is estimated at $0.0073" in logs
    assert emulator.stats.creates == 0  # item 0 (photon-flash-1, $0.0019) was not created either


@pytest.mark.skipif(not AIRFLOW_V_3_3_PLUS, reason="tasks start on the triggerer on Airflow 3.3+")
async def test_a_task_started_on_the_triggerer_over_max_cost_fails_before_creating(dagbag, emulator):
    from tests.test_generate_trigger import StartedRun

    event = await StartedRun(dagbag.get_dag("luma_test_start")).run("capped")
    assert (event.payload["status"], event.payload["final"]) == ("error", True)
    assert "max_cost is $0.001" in event.payload["message"]
    assert emulator.stats.creates == 0


def test_a_negotiated_price_is_what_max_cost_holds_the_create_to(run_dag, monkeypatch, emulator, read_logs):
    import json

    negotiated = {"prices": {"image": {"photon-1": 0.004}}}
    connection = {"conn_type": "luma", "password": emulator.api_key, "host": emulator.base_url}
    monkeypatch.setenv("AIRFLOW_CONN_LUMA_NEGOTIATED", json.dumps({**connection, "extra": negotiated}))
    result = run_dag("luma_test_max_cost_negotiated")
    assert result.state == "success", read_logs()[-3000:]
    assert emulator.stats.creates == 1


def test_what_a_task_spent_is_its_cost_xcom_and_a_failed_one_is_refunded(run_dag, emulator, read_logs):
    result = run_dag("luma_test_max_cost_within")
    assert result.state == "success", read_logs()[-3000:]
    assert result.xcom("image", "cost") == pytest.approx(0.0073)
    emulator.configure(blocked_words=["lighthouse"])  # moderated: Luma fails it and refunds it
    failed = run_dag("luma_test_max_cost_within")
    assert failed.state == "failed"
    assert failed.xcom("image", "cost") == 0.0
    assert emulator.stats.creates == 2


@pytest.mark.skipif(not AIRFLOW_V_3_3_PLUS, reason="tasks start on the triggerer on Airflow 3.3+")
async def test_a_task_that_starts_on_the_triggerer_says_what_it_cost(dagbag, emulator):
    from tests.test_generate_trigger import StartedRun, is_task_success

    run = StartedRun(dagbag.get_dag("luma_test_start"))
    assert is_task_success(await run.run("generate"))
    assert run.xcom("generate", "cost") == pytest.approx(0.0073)


def test_a_batch_says_what_each_item_and_the_whole_cost(run_dag, emulator, read_logs):
    from airflow_provider_luma.hooks.luma import LumaHook

    emulator.configure(blocked_words=["forbidden"])  # item 1 fails, and Luma refunds it
    before = LumaHook().get_credits()["credit_balance"]
    result = run_dag("luma_test_batch_failures")
    assert result.task_state("within") == "success", read_logs()[-3000:]
    within = result.xcom("within", "batch")
    assert [item["cost"] for item in within["items"]] == [0.0073, 0.0, 0.0073]
    assert within["cost"] == result.xcom("within", "cost") == pytest.approx(0.0146)
    # Both batches of three, each with one refunded item: the balance moved by their costs.
    spent_cents = before - LumaHook().get_credits()["credit_balance"]
    assert spent_cents == pytest.approx((within["cost"] + result.xcom("beyond", "batch")["cost"]) * 100)


# -- the dry run -----------------------------------------------------------------------------------


def dry_run(capsys, dag_id: str) -> tuple[int, str]:
    from airflow_provider_luma.dry_run import main
    from tests.conftest import DAGS_FOLDER

    code = main([dag_id, "--subdir", str(DAGS_FOLDER)])
    return code, capsys.readouterr().out


def test_a_dry_run_prices_every_luma_task_and_creates_nothing(airflow_db, emulator, capsys):
    code, out = dry_run(capsys, "example_luma_edit")
    assert code == 0, out
    assert "Luma dry run of example_luma_edit: nothing was created" in out
    assert "harbour          1 x     $0.0073  photon-1 image" in out
    assert "waves            1 x     $0.7100  ray-2 video, 5 s at 720p" in out
    # Templated values are checked by the run; what Luma does not price is said to be unknown.
    assert "restyled         1 x     unknown  ray-2 modify_video: no known price (templated values" in out
    assert "total: $0.7173 and 4 task(s) of unknown cost" in out
    assert emulator.stats.total_requests == 0


def test_a_dry_run_counts_a_batchs_items_and_says_what_only_a_run_knows(airflow_db, emulator, capsys):
    assert (
        "product_shots    20 x     $0.0380  photon-flash-1 image" in dry_run(capsys, "example_luma_batch")[1]
    )
    taskflow = dry_run(capsys, "example_luma_taskflow")[1]
    assert "product_shot     ? x     unknown  mapped with .expand(): known at run time" in taskflow
    assert "teaser           ? x     unknown  its function gives its parameters at run time" in taskflow


def test_a_dry_run_names_what_a_run_would_refuse_and_exits_1(airflow_db, emulator, capsys):
    code, out = dry_run(capsys, "luma_test_max_cost_over")
    assert code == 1
    assert "photon-1 image; over max_cost $0.005  REFUSED" in out
    code, out = dry_run(capsys, "luma_test_batch_bad")
    assert code == 1
    assert "requests[1]" in out


# -- reuse_on_clear (Airflow 3.3: the records that outlive a clear) --------------------------------


@pytest.mark.skipif(not AIRFLOW_V_3_3_PLUS, reason="tasks start on the triggerer on Airflow 3.3+")
async def test_reuse_on_clear_takes_up_the_completed_generation_and_pays_nothing(dagbag, emulator, read_logs):
    from tests.test_generate_trigger import StartedRun, is_task_success

    run = StartedRun(dagbag.get_dag("luma_test_start"))
    assert is_task_success(await run.run("reused"))
    earlier = run.xcom("reused", "generation_id")
    assert is_task_success(await run.run("reused", try_number=2, clears=1))  # the whole run cleared
    assert run.xcom("reused", "generation_id") == earlier
    assert run.xcom("reused", "cost") == pytest.approx(0.0073)  # what the task instance's image cost
    assert emulator.stats.creates == 1
    assert f"Re-attaching to generation {earlier} created by an earlier try (completed)" in read_logs()
    # Its request changed since (here: the prompt): a new image, paid for.
    assert is_task_success(await run.run("reused", try_number=3, clears=2, prompt="a kingfisher, anew"))
    assert run.xcom("reused", "generation_id") != earlier
    assert emulator.stats.creates == 2


@pytest.mark.skipif(not AIRFLOW_V_3_3_PLUS, reason="tasks start on the triggerer on Airflow 3.3+")
async def test_a_batch_with_reuse_on_clear_pays_nothing_again_after_a_clear(dagbag, emulator):
    from tests.test_generate_trigger import StartedRun, is_task_success

    emulator.configure(queued_seconds=0.1, dreaming_seconds=0.3)
    run = StartedRun(dagbag.get_dag("luma_test_batch_start"))
    assert is_task_success(await run.run("reused"))
    ids = [item["generation_id"] for item in run.xcom("reused", "batch")["items"]]
    assert is_task_success(await run.run("reused", try_number=2, clears=1))
    assert [item["generation_id"] for item in run.xcom("reused", "batch")["items"]] == ids
    assert emulator.stats.creates == 2


def test_a_decorators_max_cost_holds_what_its_function_returns(run_dag, emulator, read_logs):
    result = run_dag("luma_test_decorated_max_cost")
    assert result.state == "failed"
    assert "(ray-2 video, 9 s at 1080p) is estimated at $2.8620" in plain_text(read_logs())
    assert emulator.stats.creates == 0
