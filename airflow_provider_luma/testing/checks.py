"""
The building blocks of request validation: JSON body and path id parsing, a collector of
pydantic-style schema errors (answered 422), and Luma's own checks (answered 400).
"""

from __future__ import annotations

import json
import uuid
from typing import Any
from urllib.parse import urlsplit

from airflow_provider_luma.testing import catalog
from airflow_provider_luma.testing.errors import ApiError, schema_error

_MISSING: Any = object()


def parse_json_body(raw: bytes, *, allow_empty: bool = False) -> dict[str, Any]:
    """
    Decode a request body into a JSON object, or raise the 422 FastAPI would.

    :param raw: the raw body.
    :param allow_empty: treat an empty body as ``{}`` (endpoints whose fields are all optional).
    """
    if not raw.strip():
        if allow_empty:
            return {}
        raise ApiError(422, [schema_error(("body",), "missing", "Field required", None)])
    try:
        body = json.loads(raw)
    except ValueError as exc:
        pos = getattr(exc, "pos", 0)
        raise ApiError(422, [schema_error(("body", pos), "json_invalid", "JSON decode error", {})]) from None
    if not isinstance(body, dict):
        msg = "Input should be a valid dictionary or object to extract fields from"
        raise ApiError(422, [schema_error(("body",), "model_attributes_type", msg, body)])
    return body


def parse_generation_id(value: str) -> str:
    """
    Check a generation id from a URL path (a UUID), or raise 422 as FastAPI does.

    :param value: the path segment.
    """
    try:
        return str(uuid.UUID(value))
    except ValueError:
        msg = "Input should be a valid UUID, invalid character or length"
        raise ApiError(422, [schema_error(("path", "id"), "uuid_parsing", msg, value)]) from None


def type_ok(value: Any, kind: str) -> bool:
    """
    Tell whether a JSON value has the type a schema field wants.

    :param value: the value.
    :param kind: ``string``, ``bool``, ``int``, ``number``, ``object`` or ``array``.
    """
    if kind == "string":
        return isinstance(value, str)
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "object":
        return isinstance(value, dict)
    return isinstance(value, list)


_TYPE_ERRORS = {
    "string": ("string_type", "Input should be a valid string"),
    "bool": ("bool_type", "Input should be a valid boolean"),
    "int": ("int_type", "Input should be a valid integer"),
    "number": ("float_type", "Input should be a valid number"),
    "object": (
        "model_attributes_type",
        "Input should be a valid dictionary or object to extract fields from",
    ),
    "array": ("list_type", "Input should be a valid list"),
}


class Checker:
    """
    Collects pydantic-style schema errors while reading a body.

    :param body: the decoded JSON body.
    """

    def __init__(self, body: dict[str, Any]) -> None:
        self.body = body
        self.errors: list[dict[str, Any]] = []

    def get(
        self, loc: tuple[str | int, ...], parent: dict[str, Any], kind: str, required: bool = False
    ) -> Any:
        """Read ``parent[loc[-1]]`` checking its type; None (and absence) mean unset."""
        value = parent.get(str(loc[-1]), _MISSING)
        if value is _MISSING or (value is None and not required):
            if required:
                self.errors.append(schema_error(("body", *loc), "missing", "Field required", parent))
            return None
        if not type_ok(value, kind):
            error_type, msg = _TYPE_ERRORS[kind]
            self.errors.append(schema_error(("body", *loc), error_type, msg, value))
            return None
        return value

    def literal(
        self,
        loc: tuple[str | int, ...],
        parent: dict[str, Any],
        options: tuple[str, ...],
        required: bool = False,
    ) -> str | None:
        """Read a field that must be one of ``options``."""
        value = parent.get(str(loc[-1]), _MISSING)
        if value is _MISSING or (value is None and not required):
            if required:
                self.errors.append(schema_error(("body", *loc), "missing", "Field required", parent))
            return None
        if value not in options:
            quoted = [f"'{option}'" for option in options]
            expected = quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + f" or {quoted[-1]}"
            self.errors.append(
                schema_error(("body", *loc), "literal_error", f"Input should be {expected}", value)
            )
            return None
        return str(value)

    def raise_if_errors(self) -> None:
        """Raise 422 with every schema error collected, if any."""
        if self.errors:
            raise ApiError(422, self.errors)


def bad(message: str) -> ApiError:
    """
    A 400 answer with Luma's message.

    :param message: what is wrong.
    """
    return ApiError(400, message)


def check_prompt(prompt: str | None, required: bool) -> None:
    """
    Apply Luma's prompt rules (present if required, 3 to 5,000 characters).

    :param prompt: the prompt, or None.
    :param required: whether a missing prompt is an error.
    """
    if prompt is None:
        if required:
            raise bad("Prompt is required")
        return
    if len(prompt) < catalog.PROMPT_MIN:
        raise bad(f"Prompt is too short, minimum length is {catalog.PROMPT_MIN} characters")
    if len(prompt) > catalog.PROMPT_MAX:
        raise bad(f"Prompt is too long, maximum length is {catalog.PROMPT_MAX} characters")


def check_url(name: str, value: str | None) -> None:
    """
    Require an absolute http(s) URL.

    :param name: the field, named in the message.
    :param value: the URL, or None (accepted).
    """
    if value is None:
        return
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise bad(f"{name} must be a public http(s) URL; got {value[:200]!r}")


def echo(body: dict[str, Any], kind: str, fields: tuple[str, ...]) -> dict[str, Any]:
    """
    Return the request to echo in the generation object: the known fields sent, plus the
    ``generation_type`` discriminator (so the SDK picks the right ``Request`` variant).

    :param body: the request body.
    :param kind: the generation kind.
    :param fields: the fields this endpoint knows.
    """
    request = {name: body[name] for name in fields if body.get(name) is not None}
    request["generation_type"] = kind
    return request


def weighted_refs(check: Checker, name: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    """
    Read a list of ``{url, weight}`` references, collecting schema errors.

    :param check: the error collector.
    :param name: the field name.
    :param body: the request body.
    """
    refs = check.get((name,), body, "array") or []
    good = []
    for i, ref in enumerate(refs):
        if not type_ok(ref, "object"):
            check.get((name, i), {str(i): ref}, "object")
            continue
        check.get((name, i, "url"), ref, "string")
        check.get((name, i, "weight"), ref, "number")
        good.append(ref)
    return good


def check_weighted(name: str, refs: list[dict[str, Any]], single: bool = False) -> None:
    """
    Require http(s) URLs and weights in [0, 1].

    :param name: the field name, for messages.
    :param refs: the references.
    :param single: the field holds one reference, not a list.
    """
    for i, ref in enumerate(refs):
        label = name if single else f"{name}[{i}]"
        check_url(f"{label}.url", ref.get("url"))
        weight = ref.get("weight")
        if weight is not None and not 0.0 <= weight <= 1.0:
            raise bad(f"{label}.weight must be between 0 and 1; got {weight}")
