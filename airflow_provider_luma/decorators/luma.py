"""
TaskFlow decorators: ``@task.luma_image`` and ``@task.luma_video``.

The decorated function runs on a worker when the task starts and returns what to generate: the
prompt (a string), or a dict of the operator's generation parameters (``prompt``, ``model``,
``aspect_ratio``...). Everything given to the decorator goes to the operator as it is
(``deferrable``, ``output_path``, ``retries``...). The task then validates, creates and waits
like :class:`~airflow_provider_luma.operators.luma.LumaImageGenerateOperator` or
:class:`~airflow_provider_luma.operators.luma.LumaVideoGenerateOperator`, and its XCom is theirs.

Registered under ``task-decorators`` in the provider info; Airflow's ``DecoratedOperator``
pattern, as the standard provider's ``@task.bash``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.providers.common.compat.sdk import (
    DecoratedOperator,
    context_merge,
    determine_kwargs,
    task_decorator_factory,
)

from airflow_provider_luma.exceptions import LumaValidationError
from airflow_provider_luma.kinds import operator_params
from airflow_provider_luma.operators.base import LumaGenerationOperatorBase
from airflow_provider_luma.operators.luma import LumaImageGenerateOperator, LumaVideoGenerateOperator

if TYPE_CHECKING:
    from collections.abc import Collection, Sequence

    from airflow.providers.common.compat.sdk import Context, TaskDecorator

    from airflow_provider_luma.records import RecordSeal

#: XCom key of the parameters the function returned, sealed (``mac``) as the task's record is: a
#: task resumed after a deferral (or after waiting out a rate limit) takes them from here instead of
#: calling the function again, and only if this task instance wrote them (any task or REST API user
#: may write an XCom; see :mod:`airflow_provider_luma.records`).
XCOM_PARAMETERS = "parameters"


def generation_parameters(operator_class: type[LumaGenerationOperatorBase]) -> tuple[str, ...]:
    """
    The generation parameters of a generate operator: those its kind declares.

    :param operator_class: the operator the decorator builds on.
    """
    return operator_params(operator_class.kind)


class _LumaDecoratedOperator(DecoratedOperator, LumaGenerationOperatorBase):
    """
    Calls the decorated function for the generation parameters, then runs the generate operator.

    :param python_callable: the decorated function; returns the prompt or a dict of parameters.
    :param op_args: positional arguments of the function (templated).
    :param op_kwargs: keyword arguments of the function (templated).
    :param kwargs: the generate operator's options and BaseOperator's.
    """

    #: The parameters in the UI's "Rendered Template" view are the function's, not placeholders.
    overwrite_rtif_after_execution: bool = True
    generate_operator: ClassVar[type[LumaGenerationOperatorBase]]

    def __init__(
        self,
        *,
        python_callable: Callable[..., Any],
        op_args: Collection[Any] | None = None,
        op_kwargs: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        # The prompt comes from the function when the task runs, and the function runs in a
        # worker: such a task never starts on the triggerer.
        super().__init__(
            python_callable=python_callable,
            op_args=op_args,
            op_kwargs=op_kwargs,
            prompt=None,
            start_from_trigger=False,
            **kwargs,
        )
        self._why_in_a_worker = "its TaskFlow function gives the parameters, and runs in a worker"
        self._parameters: dict[str, Any] | None = None

    def execute(self, context: Context) -> Any:
        """Call the function for the generation parameters (once per try), then generate."""
        if self._parameters is None:
            context_merge(context, self.op_kwargs)
            kwargs = determine_kwargs(self.python_callable, self.op_args, context)
            self._parameters = self._validate(self.python_callable(*self.op_args, **kwargs))
            sealed = self._seal(context).seal_fields(XCOM_PARAMETERS, self._parameters)
            context["ti"].xcom_push(key=XCOM_PARAMETERS, value=sealed)
        self._apply(self._parameters)
        # Straight to the generate operator, past DecoratedOperator.execute: all it adds is Asset
        # arguments as inlets and an Asset return value as an outlet (ours is a URL), and on
        # Airflow 3.0 it fails on ``self.xcom_push``, which the Task SDK's BaseOperator lacks there.
        return super(DecoratedOperator, self).execute(context)

    def resume_execution(self, next_method: str, next_kwargs: dict[str, Any] | None, context: Context) -> Any:
        """
        Resume after a deferral with the parameters the function gave this try (its sealed XCom):
        the function is not called again, even when the task starts over after a rate limit. They
        are checked again as when the function returned them; a value this task instance did not
        write is ignored (a rate-limited task then calls the function again).

        :param next_method: the method to resume in.
        :param next_kwargs: its keyword arguments.
        :param context: the task context.
        """
        ti = context["ti"]
        stored = ti.xcom_pull(task_ids=self.task_id, key=XCOM_PARAMETERS, map_indexes=ti.map_index)
        earlier = self._seal(context).open_fields(XCOM_PARAMETERS, stored, self.log)
        if earlier is not None:
            self._parameters = self._validate(earlier)
            self._apply(self._parameters)
        return super().resume_execution(next_method, next_kwargs, context)

    def _seal(self, context: Context) -> RecordSeal:
        from airflow_provider_luma.records import Attempt, RecordSeal

        attempt = Attempt.of(context["ti"], context.get("dag_run"), max_tries_known=True)
        return RecordSeal(self.hook.credentials.api_key, attempt)

    def _validate(self, returned: Any) -> dict[str, Any]:
        name = f"return value of {self.python_callable.__name__}()"
        allowed = generation_parameters(self.generate_operator)
        if isinstance(returned, str):
            return {"prompt": returned}
        if not isinstance(returned, Mapping):
            raise LumaValidationError(
                name,
                f"must be the prompt (a string) or a dict of {', '.join(allowed)}; "
                f"got {type(returned).__name__}",
            )
        unknown = sorted(set(returned) - set(allowed))
        if unknown:
            raise LumaValidationError(
                name,
                f"unknown keys {unknown}; {self.generate_operator.__name__} takes {', '.join(allowed)} "
                "(options such as deferrable or output_path go to the decorator)",
            )
        if "prompt" not in returned:
            raise LumaValidationError(name, "needs a 'prompt'")
        return dict(returned)

    def _apply(self, parameters: Mapping[str, Any]) -> None:
        for parameter, value in parameters.items():
            setattr(self, parameter, value)


class _LumaImageDecoratedOperator(_LumaDecoratedOperator, LumaImageGenerateOperator):
    """``@task.luma_image``: a :class:`LumaImageGenerateOperator` whose parameters a function returns."""

    template_fields: Sequence[str] = (
        *DecoratedOperator.template_fields,
        *LumaImageGenerateOperator.template_fields,
    )
    custom_operator_name: str = "@task.luma_image"
    generate_operator = LumaImageGenerateOperator


class _LumaVideoDecoratedOperator(_LumaDecoratedOperator, LumaVideoGenerateOperator):
    """``@task.luma_video``: a :class:`LumaVideoGenerateOperator` whose parameters a function returns."""

    template_fields: Sequence[str] = (
        *DecoratedOperator.template_fields,
        *LumaVideoGenerateOperator.template_fields,
    )
    custom_operator_name: str = "@task.luma_video"
    generate_operator = LumaVideoGenerateOperator


def luma_image_task(python_callable: Callable[..., Any] | None = None, **kwargs: Any) -> TaskDecorator:
    """
    ``@task.luma_image``: the function returns the prompt, or a dict of
    :class:`LumaImageGenerateOperator` parameters; ``return_value`` is the image URL.

    :param python_callable: the decorated function.
    :param kwargs: the operator's options (``deferrable``, ``output_path``, ``model``...) and
        BaseOperator's (``retries``, ``pool``...).
    """
    return make_task_decorator(_LumaImageDecoratedOperator, python_callable, kwargs)


def luma_video_task(python_callable: Callable[..., Any] | None = None, **kwargs: Any) -> TaskDecorator:
    """
    ``@task.luma_video``: the function returns the prompt, or a dict of
    :class:`LumaVideoGenerateOperator` parameters; ``return_value`` is the video URL.

    :param python_callable: the decorated function.
    :param kwargs: the operator's options (``deferrable``, ``output_path``, ``resolution``...) and
        BaseOperator's (``retries``, ``pool``...).
    """
    return make_task_decorator(_LumaVideoDecoratedOperator, python_callable, kwargs)


def make_task_decorator(
    operator_class: type[DecoratedOperator],
    python_callable: Callable[..., Any] | None,
    kwargs: dict[str, Any],
) -> TaskDecorator:
    """
    A Luma TaskFlow decorator: ``operator_class`` around ``python_callable``.

    :param operator_class: the decorated operator (a single generation's or a batch's).
    :param python_callable: the decorated function.
    :param kwargs: the decorator's arguments, for the operator.
    """
    # The task's XCom value is a URL (or a batch's list of them): a dict return annotation must not
    # turn on multiple_outputs.
    kwargs["multiple_outputs"] = False
    return task_decorator_factory(
        python_callable=python_callable, decorated_operator_class=operator_class, **kwargs
    )
