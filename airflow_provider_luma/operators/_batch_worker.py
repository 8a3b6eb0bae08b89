"""
What a batch task does in a worker: run its items on the worker's own event loop, hand its items'
records across tries, and copy its items to ``output_path`` a few at a time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context
    from airflow.sdk.types import Logger

    from airflow_provider_luma.batch_flow import BatchOptions
    from airflow_provider_luma.batches import ItemResult
    from airflow_provider_luma.hooks.luma import LumaHook
    from airflow_provider_luma.kinds import GenerationRequest


async def run_in_worker(
    hook: LumaHook,
    context: Context,
    requests: list[GenerationRequest],
    options: BatchOptions,
    sibling_tasks: tuple[str, ...],
    log: Logger,
) -> list[ItemResult]:
    """
    Run a batch on this worker's own event loop, the items' records in the task state store (Airflow
    3.3+; before that nothing is kept, and a retry starts afresh).

    :param hook: the task's hook.
    :param context: the task context.
    :param requests: the items' create calls, validated.
    :param options: how the batch runs.
    :param sibling_tasks: the run's tasks, whose generations are not the batch's to adopt.
    :param log: the task's logger.
    """
    from airflow_provider_luma.batch_flow import ItemRecords, run_batch
    from airflow_provider_luma.hooks.luma import LumaHook
    from airflow_provider_luma.records import STATE_STORE_KEY, Attempt, RecordSeal
    from airflow_provider_luma.run_budget import run_budget_of
    from airflow_provider_luma.runs import WorkerBatchRun

    ti = context["ti"]
    credentials = hook.credentials
    store = context.get("task_state_store")
    attempt = Attempt.of(ti, context.get("dag_run"), max_tries_known=True)
    seal = RecordSeal(credentials.api_key, attempt) if store is not None else None

    async def read(key: str) -> Any:
        return store.get(key) if store is not None else None

    async def write(key: str, value: Any) -> None:
        if store is not None:
            store.set(key, value)

    records = ItemRecords(seal, read, write, STATE_STORE_KEY, log)
    async with LumaHook.async_session() as session:
        run = WorkerBatchRun(hook, session, ti, log, store)
        return await run_batch(
            requests,
            options,
            run.perform,
            records,
            attempt,
            sibling_tasks,
            credentials.base_url,
            log,
            credentials.room,
            credentials.prices,
            run_budget_of(options.max_run_cost, attempt, sibling_tasks, credentials.api_key),
        )


def hand_records(context: Context, count: int, *, to_trigger: bool) -> None:
    """
    Move the items' records between the trigger's store and the worker's, for a batch that defers
    from a worker: the trigger keeps them in XComs of the task instance, which Airflow clears when a
    new try starts in a worker; the task state store keeps them across tries. Before deferring, a
    try hands the trigger what earlier tries left; on resuming, it keeps what the trigger left.
    Sealed as they are: the trigger opens only its task instance's.

    :param context: the task context.
    :param count: the batch's items.
    :param to_trigger: from the task state store to XCom (else back).
    """
    from airflow_provider_luma.records import RECORD_XCOM_KEY, STATE_STORE_KEY, ended_items_key, item_key
    from airflow_provider_luma.run_budget import XCOM_RUN_SPEND

    store, ti = context.get("task_state_store"), context["ti"]
    if store is None:
        return
    keys = [(item_key(STATE_STORE_KEY, index), item_key(RECORD_XCOM_KEY, index)) for index in range(count)]
    keys.append((ended_items_key(STATE_STORE_KEY), ended_items_key(RECORD_XCOM_KEY)))
    keys.append((XCOM_RUN_SPEND, XCOM_RUN_SPEND))  # the task instance's share of its run's budget
    for stored_key, xcom_key in keys:
        if to_trigger:
            record = store.get(stored_key)
            if record is not None:
                ti.xcom_push(key=xcom_key, value=record)
        else:
            record = ti.xcom_pull(task_ids=ti.task_id, key=xcom_key, map_indexes=ti.map_index)
            if record is not None:
                store.set(stored_key, record)


def copy_all(
    hook: LumaHook,
    results: list[ItemResult],
    output_path: str,
    *,
    max_bytes: int,
    deadline_seconds: float,
    parallel: int,
    log: Logger,
) -> list[ItemResult]:
    """
    Copy every completed item under ``output_path`` (a folder), named after its generation id,
    ``parallel`` at a time; a failed copy fails its item (a retry copies it again, paying nothing).

    :param hook: the task's hook.
    :param results: every item's result.
    :param output_path: the folder (a "/" is added when missing).
    :param max_bytes: the largest asset copied.
    :param deadline_seconds: the most one copy may take.
    :param parallel: copies at once.
    :param log: the task's logger.
    """
    from concurrent.futures import ThreadPoolExecutor
    from dataclasses import replace

    from airflow_provider_luma.exceptions import LumaError

    folder = output_path if output_path.endswith("/") else output_path + "/"

    def copy(result: ItemResult) -> ItemResult:
        if not result.succeeded:
            return result
        generation = {
            "id": result.generation_id,
            "state": "completed",
            "assets": result.assets or {},
            "output": result.output,
        }
        try:
            path = hook.copy_generation_asset(
                generation, folder, max_bytes=max_bytes, deadline_seconds=deadline_seconds
            )
        except LumaError as exc:
            log.warning("requests[%d]: the copy to output_path failed: %s", result.index, exc)
            return replace(result, state="error", failure=f"the copy to output_path failed: {exc}")
        return replace(result, path=path)

    with ThreadPoolExecutor(max_workers=min(parallel, len(results))) as pool:
        return list(pool.map(copy, results))


def keep_manifest(batch: dict[str, Any], output_path: str, ti: Any) -> str:
    """
    Write a batch's whole manifest as JSON under ``output_path``; return where. Named after the task
    instance (``batch-<task>[-<map index>]-<run>.json``), so a retry writes over its try's.

    :param batch: the manifest.
    :param output_path: the batch's folder.
    :param ti: its task instance.
    """
    import json
    import re

    from airflow.providers.common.compat.sdk import ObjectStoragePath

    run = re.sub(r"[^A-Za-z0-9._-]", "_", str(ti.run_id))
    mapped = f"-{ti.map_index}" if ti.map_index >= 0 else ""
    path = ObjectStoragePath(output_path) / f"batch-{ti.task_id}{mapped}-{run}.json"
    with path.open("w") as file:
        json.dump(batch, file)
    return str(path)
