"""
TaskFlow decorators for batches: ``@task.luma_image_batch`` and ``@task.luma_video_batch``.

The decorated function runs on a worker when the task starts and returns the batch's ``requests``:
a list whose items are each a prompt, or a dict of the single operator's parameters. Everything
given to the decorator goes to the batch operator as it is (``max_in_flight``, ``output_path``,
``model``...). The task then validates every item and defers once, like
:class:`~airflow_provider_luma.operators.batch.LumaImageBatchOperator`, and its XCom is theirs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import DecoratedOperator, context_merge, determine_kwargs

from airflow_provider_luma.decorators.luma import make_task_decorator
from airflow_provider_luma.operators.batch import (
    LumaBatchOperatorBase,
    LumaImageBatchOperator,
    LumaVideoBatchOperator,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Mapping, Sequence

    from airflow.providers.common.compat.sdk import Context, TaskDecorator


class _LumaBatchDecoratedOperator(DecoratedOperator, LumaBatchOperatorBase):
    """
    Calls the decorated function for the batch's ``requests``, then runs the batch operator.

    :param python_callable: the decorated function; returns the list of items.
    :param op_args: positional arguments of the function (templated).
    :param op_kwargs: keyword arguments of the function (templated).
    :param kwargs: the batch operator's options and BaseOperator's.
    """

    #: The requests in the UI's "Rendered Template" view are the function's, not a placeholder.
    overwrite_rtif_after_execution: bool = True

    def __init__(
        self,
        *,
        python_callable: Callable[..., Any],
        op_args: Collection[Any] | None = None,
        op_kwargs: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        # The requests come from the function, which runs in a worker: never on the triggerer.
        super().__init__(
            python_callable=python_callable,
            op_args=op_args,
            op_kwargs=op_kwargs,
            requests=None,
            start_from_trigger=False,
            **kwargs,
        )
        self._why_in_a_worker = "its TaskFlow function gives the requests, and runs in a worker"

    def execute(self, context: Context) -> Any:
        """Call the function for the requests (once per try: the task resumes with results), then run."""
        context_merge(context, self.op_kwargs)
        kwargs = determine_kwargs(self.python_callable, self.op_args, context)
        self.requests = self.python_callable(*self.op_args, **kwargs)
        # Past DecoratedOperator.execute, as the single decorators do (see decorators/luma.py).
        return super(DecoratedOperator, self).execute(context)


class _LumaImageBatchDecoratedOperator(_LumaBatchDecoratedOperator, LumaImageBatchOperator):
    """``@task.luma_image_batch``: a :class:`LumaImageBatchOperator` whose requests a function returns."""

    template_fields: Sequence[str] = (
        *DecoratedOperator.template_fields,
        *LumaImageBatchOperator.template_fields,
    )
    custom_operator_name: str = "@task.luma_image_batch"


class _LumaVideoBatchDecoratedOperator(_LumaBatchDecoratedOperator, LumaVideoBatchOperator):
    """``@task.luma_video_batch``: a :class:`LumaVideoBatchOperator` whose requests a function returns."""

    template_fields: Sequence[str] = (
        *DecoratedOperator.template_fields,
        *LumaVideoBatchOperator.template_fields,
    )
    custom_operator_name: str = "@task.luma_video_batch"


def luma_image_batch_task(python_callable: Callable[..., Any] | None = None, **kwargs: Any) -> TaskDecorator:
    """
    ``@task.luma_image_batch``: the function returns the list of images to make (prompts, or dicts
    of :class:`~airflow_provider_luma.operators.luma.LumaImageGenerateOperator` parameters);
    ``return_value`` lists their URLs.

    :param python_callable: the decorated function.
    :param kwargs: the batch operator's options (``max_in_flight``, ``output_path``, ``model``...)
        and BaseOperator's (``retries``, ``pool``...).
    """
    return make_task_decorator(_LumaImageBatchDecoratedOperator, python_callable, kwargs)


def luma_video_batch_task(python_callable: Callable[..., Any] | None = None, **kwargs: Any) -> TaskDecorator:
    """
    ``@task.luma_video_batch``: the function returns the list of videos to make (prompts, or dicts
    of :class:`~airflow_provider_luma.operators.luma.LumaVideoGenerateOperator` parameters);
    ``return_value`` lists their URLs.

    :param python_callable: the decorated function.
    :param kwargs: the batch operator's options and BaseOperator's.
    """
    return make_task_decorator(_LumaVideoBatchDecoratedOperator, python_callable, kwargs)
