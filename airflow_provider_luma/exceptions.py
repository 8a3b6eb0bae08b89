"""
Errors raised by the Luma provider.

Every error says what went wrong and what to do, and none of them ever carries the API key.
Errors that retrying cannot fix (bad input, moderation) derive from ``AirflowFailException`` so
that Airflow does not spend task retries on them.
"""

from __future__ import annotations

import enum
from typing import Any

from airflow.providers.common.compat.sdk import AirflowException, AirflowFailException


class LumaError(AirflowException):
    """Base class of every error this provider raises."""


class LumaValidationError(LumaError, AirflowFailException, ValueError):
    """
    A parameter is not acceptable; raised before any request is sent.

    :param param: name of the offending parameter, as the user wrote it.
    :param message: what is wrong and what is allowed.
    """

    def __init__(self, param: str, message: str) -> None:
        self.param = param
        self.reason = message
        super().__init__(f"Invalid {param!r}: {message}")


class LumaConnectionConfigError(LumaError, AirflowFailException):
    """The Airflow connection is missing the API key or has an unusable host."""


class LumaApiError(LumaError):
    """
    Luma answered with an HTTP error.

    :param status_code: HTTP status of the answer (kept as ``http_status``).
    :param method: HTTP method of the request.
    :param path: path of the request, relative to the base URL (never with credentials).
    :param detail: Luma's own explanation (the ``detail`` field of its JSON body), if any.
    :param hint: what the user can do about it.
    :param retry_after: seconds Luma asked us to wait before trying again, if it said.
    """

    def __init__(
        self,
        status_code: int,
        method: str,
        path: str,
        detail: str | None = None,
        hint: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.http_status = status_code
        self.method = method
        self.path = path
        self.detail = detail
        self.retry_after = retry_after
        message = f"Luma API {method} {path} answered HTTP {status_code}"
        if detail:
            message += f": {detail}"
        if hint:
            message += f". {hint}"
        super().__init__(message)


class LumaAuthenticationError(LumaApiError, AirflowFailException):
    """401/403: the API key is missing, wrong or not allowed to do this."""


class LumaBadRequestError(LumaApiError, AirflowFailException):
    """
    400/422: Luma rejected the request's content. Final: the same request fails the same way.

    :param args: as :class:`LumaApiError`.
    :param param: the request field Luma's answer names (``model``, ``keyframes.frame0.url``...),
        when it names one.
    :param kwargs: as :class:`LumaApiError`.
    """

    def __init__(self, *args: Any, param: str | None = None, **kwargs: Any) -> None:
        self.param = param
        super().__init__(*args, **kwargs)


class LumaNotFoundError(LumaApiError, AirflowFailException):
    """404: no such generation (or it was deleted)."""


class LumaRetryableError(LumaApiError):
    """408/409/429/5xx: worth trying again after a pause."""


class LumaTransportError(LumaError):
    """
    The request did not get an HTTP answer (connection refused, reset or timed out).

    :param message: what happened.
    :param request_sent: False only when the request surely never reached Luma (the connection
        never opened), which is the one case where re-sending a create cannot pay twice.
    """

    def __init__(self, message: str, request_sent: bool) -> None:
        self.request_sent = request_sent
        super().__init__(message)


class LumaDeadlineError(LumaError):
    """A call gave up because the wait it belongs to reached its deadline."""


class LumaAmbiguousCreateError(LumaError):
    """
    A create request failed after it may have reached Luma; it was not re-sent blindly.

    :param message: what happened and how to check for the generation it may have made.
    """


class LumaAdoptionError(LumaAmbiguousCreateError, AirflowFailException):
    """
    A create may have made a generation, but the evidence does not single out which one.

    Final: trying again could pay for yet another generation, or take one that belongs to an
    identical sibling task. The candidates are named so that a person can decide.

    :param message: what happened and the candidate generation ids.
    """


class LumaUnverifiableCreateError(LumaAmbiguousCreateError, AirflowFailException):
    """
    A create of Luma's Agents API may have made a generation, and that API cannot list it (final).

    Sending it again could pay twice; the error names the request and when it was sent, so that a
    person can check the key's usage.

    :param message: what happened, the request and its time.
    """


class LumaFinalError(LumaError, AirflowFailException):
    """
    An error met while deferred that retrying cannot fix (a bad key, a deleted generation).

    Raised when the task resumes, so that it fails without using its retries, as the same error
    does in the worker.
    """


class LumaInsufficientCreditsError(LumaError, AirflowFailException):
    """The account's balance is below what the task was told to require (``min_credits``)."""


class LumaCostLimitError(LumaError, AirflowFailException):
    """A create's estimated cost is above the task's ``max_cost``, or unknown under it (final)."""


class LumaRunBudgetError(LumaCostLimitError):
    """A create does not fit in what is left of its DAG run's ``max_run_cost`` (final)."""


class LumaUnsafeAssetUrlError(LumaError, AirflowFailException):
    """
    A generation completed with an asset URL that may not be returned, pushed or linked (final).

    Only ``https`` URLs, or URLs on the connection's own origin, are: anything else (``javascript:``,
    ``data:``, ``file:``, plain ``http`` elsewhere, credentials in the URL) comes from a hostile or
    broken API, and asking again would get the same answer.

    :param generation_id: the generation.
    :param url: its asset URL, shown without any ``user:password@`` part.
    :param reason: why it was refused.
    """

    def __init__(self, generation_id: str, url: str, reason: str) -> None:
        self.generation_id = generation_id
        super().__init__(
            f"Luma generation {generation_id} completed with the asset URL {url}, which was refused: "
            f"{reason}. Nothing was returned or pushed for it"
        )


class LumaAssetCopyError(LumaError):
    """The asset could not be copied whole to its destination."""


class LumaAssetUrlRefusedError(LumaAssetCopyError, AirflowFailException):
    """The asset URL, a redirect, or the address a connection reached is not allowed (final)."""


class LumaAssetAnswerError(LumaAssetCopyError, AirflowFailException):
    """The asset host answered something no HTTP client should accept, e.g. a malformed size (final)."""


class LumaAssetTooLargeError(LumaAssetCopyError, AirflowFailException):
    """The asset is larger than ``max_bytes`` (final: it will not shrink)."""


class LumaTimeoutError(LumaError):
    """A generation did not finish before the wait's deadline."""


class FailureKind(str, enum.Enum):
    """Why a generation failed, as far as its ``failure_reason`` tells."""

    MODERATION = "moderation"
    VALIDATION = "validation"
    UNKNOWN = "unknown"

    @classmethod
    def from_reason(cls, reason: str | None) -> FailureKind:
        """
        Classify Luma's free-text ``failure_reason``.

        :param reason: the ``failure_reason`` of a failed generation.
        """
        text = (reason or "").lower()
        if any(word in text for word in ("moderation", "blacklist", "blocked", "nsfw", "unsafe")):
            return cls.MODERATION
        if any(word in text for word in ("invalid", "validation", "not supported", "unsupported")):
            return cls.VALIDATION
        return cls.UNKNOWN

    @property
    def is_final(self) -> bool:
        """True when trying the same request again would fail the same way."""
        return self is not FailureKind.UNKNOWN


class LumaGenerationFailedError(LumaError):
    """
    Luma reports the generation as ``failed``; ``failure_reason`` says why.

    :param generation_id: id of the failed generation.
    :param failure_reason: Luma's explanation.
    :param final: whether retrying cannot fix it (default: as ``failure_reason`` tells).
    """

    def __init__(self, generation_id: str, failure_reason: str | None, *, final: bool | None = None) -> None:
        self.generation_id = generation_id
        self.failure_reason = failure_reason
        self.kind = FailureKind.from_reason(failure_reason)
        final = self.kind.is_final if final is None else final
        super().__init__(
            f"Luma generation {generation_id} failed: {failure_reason or 'no reason given'}"
            + (" (final: retrying the same request will fail the same way)" if final else "")
        )


class LumaGenerationRejectedError(LumaGenerationFailedError, AirflowFailException):
    """A generation failed for a reason that retrying cannot fix (moderation, validation)."""


#: The Agents API's failure codes that trying the same request again cannot fix. ``budget_exhausted``
#: waits for a person to add funds; ``rate_limited``, ``generation_failed`` and ``output_not_found``
#: may pass on a later try.
FINAL_FAILURE_CODES = frozenset(
    {
        "content_moderated",
        "budget_exhausted",
        "invalid_request",
        "unsupported_format",
        "corrupt_input",
        "image_too_large",
    }
)


def failure_is_final(failure_reason: str | None, failure_code: str | None = None) -> bool:
    """
    Whether trying the same request again cannot fix a failed generation.

    :param failure_reason: Luma's explanation.
    :param failure_code: the Agents API's machine-readable code, when it gives one.
    """
    if failure_code is not None:
        return failure_code in FINAL_FAILURE_CODES
    return FailureKind.from_reason(failure_reason).is_final


def generation_failed_error(
    generation_id: str, failure_reason: str | None, failure_code: str | None = None
) -> LumaGenerationFailedError:
    """
    Build the right error for a failed generation: final reasons do not use up task retries.

    :param generation_id: id of the failed generation.
    :param failure_reason: Luma's explanation.
    :param failure_code: the Agents API's machine-readable code, when it gives one.
    """
    if failure_code is not None:
        failure_reason = f"{failure_reason or 'no reason given'} ({failure_code})"
    final = failure_is_final(failure_reason, failure_code)
    if failure_code is not None:
        error = LumaGenerationRejectedError if final else LumaGenerationFailedError
        return error(generation_id, failure_reason, final=final)
    if final:
        return LumaGenerationRejectedError(generation_id, failure_reason)
    return LumaGenerationFailedError(generation_id, failure_reason)
