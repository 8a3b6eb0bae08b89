"""
Example: a person looks at generated images before one is published (needs Airflow 3.1+).

Three variants of one prompt are generated (mapped), then a review task in Airflow's UI
(human-in-the-loop, "Required actions") shows every variant's image and asks the reviewer to pick
one or to reject all with a note. The picked image is copied to storage and published as an Asset
event. "Reject all" regenerates the variants once, with the reviewer's note added to each prompt,
and asks again; a second "Reject all" publishes nothing. A review nobody answers in time fails,
and nothing is published.

The "Luma" tab of the run (the gallery plugin shipped with this provider) shows the same images
with their prompts, models and timings.

Airflow before 3.1 has no human-in-the-loop operators: there this file defines no DAG (and logs
why), so the DAG processor reports no import error.
"""

from __future__ import annotations

import inspect
import logging
import os
from datetime import datetime, timedelta
from typing import Any

from airflow.providers.common.compat.version_compat import AIRFLOW_V_3_1_PLUS

POLL_INTERVAL = float(os.environ.get("LUMA_EXAMPLE_POLL_INTERVAL", "5"))
OUTPUT_URL = os.environ.get("LUMA_EXAMPLE_PUBLISH_URL", "file:///tmp/luma-images/published/")
#: How long the reviewer has, each round.
REVIEW_TIMEOUT = timedelta(seconds=float(os.environ.get("LUMA_EXAMPLE_REVIEW_TIMEOUT", str(24 * 3600))))
STYLES = ["as a watercolour", "as a studio photograph", "as a linocut print"]
VARIANTS = [f"Variant {number}" for number in range(1, len(STYLES) + 1)]
REJECT_ALL = "Reject all"
PUBLISHED_URI = "luma://example/published-images"


def review_body(variants_task: str, base_url: str) -> str:
    """
    The review's Markdown (a template): every variant's image, numbered like the options.

    :param variants_task: the mapped task whose generations are shown.
    :param base_url: the Airflow UI's address, for the link to the gallery.
    """
    return (
        "Pick the image to publish, or reject all and say what to change.\n\n"
        "**Variants 1 to 3, left to right:**\n\n"
        f"{{% for url in ti.xcom_pull(task_ids='{variants_task}') %}}"
        "![Variant {{ loop.index }}]({{ url }}) "
        "{% endfor %}\n\n"
        "All of them, with prompts and models, in the run's **Luma** tab: "
        f"[gallery]({base_url.rstrip('/')}/luma/runs/{{{{ dag.dag_id }}}}/{{{{ run_id }}}})"
    )


def build_review_dag() -> Any:
    """The review DAG (Airflow 3.1+: the human-in-the-loop operators are imported here)."""
    from airflow.providers.common.compat.sdk import (
        DAG,
        AirflowSkipException,
        Asset,
        Param,
        TriggerRule,
        conf,
        task,
    )
    from airflow.providers.standard.operators.hitl import HITLOperator

    from airflow_provider_luma.operators.luma import LumaImageGenerateOperator

    published_images = Asset(PUBLISHED_URI)

    def generate(task_id: str) -> Any:
        return LumaImageGenerateOperator.partial(
            task_id=task_id,
            model="photon-flash-1",
            aspect_ratio="1:1",
            format="png",
            deferrable=True,
            poll_interval=POLL_INTERVAL,
        )

    # [START howto_review_hitl]
    # The standard provider of Airflow 3.1 (1.12) bounds the wait with execution_timeout; later ones
    # with response_timeout, and warn about the older name.
    hitl_arguments = inspect.signature(HITLOperator.__init__).parameters
    wait_timeout = "response_timeout" if "response_timeout" in hitl_arguments else "execution_timeout"

    def review(task_id: str, variants_task: str) -> HITLOperator:
        return HITLOperator(
            task_id=task_id,
            subject="Which image goes out?",
            body=review_body(variants_task, conf.get("api", "base_url", fallback="")),
            options=[*VARIANTS, REJECT_ALL],
            # Optional (null allowed), so picking a variant needs no note.
            params={
                "note": Param(None, type=["null", "string"], description="When rejecting all: what to change")
            },
            **{wait_timeout: REVIEW_TIMEOUT},
        )

    # [END howto_review_hitl]

    with DAG(
        dag_id="example_luma_review",
        schedule=None,
        start_date=datetime(2025, 1, 1),
        catchup=False,
        tags=["example", "luma", "review"],
        params={"prompt": "A lighthouse on a basalt cliff at dawn"},
    ) as dag:
        # [START howto_review_flow]
        variants = generate("generate_variants").expand(
            prompt=[f"{{{{ params.prompt }}}}, {style}" for style in STYLES]
        )
        first_review = review("review", "generate_variants")

        @task
        def revised_prompts(answer: dict[str, Any], params: Any = None) -> list[str]:
            """After "Reject all": every prompt again, with the reviewer's note; else skip round two."""
            if answer["chosen_options"] != [REJECT_ALL]:
                raise AirflowSkipException(f"{answer['chosen_options'][0]} was picked: no second round")
            note = str((answer.get("params_input") or {}).get("note") or "").strip()
            suffix = f". Reviewer's note: {note}" if note else ""
            return [f"{params['prompt']}, {style}{suffix}" for style in STYLES]

        regenerated = generate("regenerate_variants").expand(prompt=revised_prompts(first_review.output))
        second_review = review("second_review", "regenerate_variants")
        # [END howto_review_flow]

        @task(outlets=[published_images], trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS)
        def publish(ti: Any = None, outlet_events: Any = None) -> str:
            """Copy the picked image to storage and record it as an event of the published-images Asset."""
            from airflow_provider_luma.hooks.luma import LumaHook

            answer = ti.xcom_pull(task_ids="second_review")
            variants_task = "regenerate_variants"
            if answer is None:  # picked in the first round
                answer, variants_task = ti.xcom_pull(task_ids="review"), "generate_variants"
            choice = answer["chosen_options"][0]
            if choice == REJECT_ALL:
                raise AirflowSkipException("Every variant was rejected twice: nothing is published")
            generation = ti.xcom_pull(
                task_ids=variants_task, key="generation", map_indexes=VARIANTS.index(choice)
            )
            # The hook checks the asset URL (untrusted: https on public hosts, or the connection's own
            # origin) and stores it as output_path does: OUTPUT_URL/<generation id>.<extension>.
            path = LumaHook().copy_generation_asset(generation, OUTPUT_URL)
            outlet_events[published_images].extra = {
                "path": path,
                "generation_id": generation["id"],
                "prompt": generation["request"]["prompt"],
                "picked": choice,
                "reviewed_by": (answer.get("responded_by_user") or {}).get("name"),
            }
            return path

        variants >> first_review
        regenerated >> second_review
        [first_review, second_review] >> publish()
    return dag


if AIRFLOW_V_3_1_PLUS:
    dag = build_review_dag()
else:
    logging.getLogger(__name__).warning(
        "example_luma_review needs Airflow 3.1+ (human-in-the-loop operators): no DAG defined here."
    )
