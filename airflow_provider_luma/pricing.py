"""
What a generation is estimated to cost before it is created, in US dollars.

Luma charges a generation when it is created and refunds it if it fails, so what a task may spend
is known before its create: the price of its model for that request. Prices come from
:data:`DEFAULT_PRICES` (dated, with its source), which a connection's extra overrides per kind and
model (``{"prices": {"video": {"ray-flash-2": {"per_second": {"720p": 0.05}}}}}``, for negotiated
rates or a model the table does not price).

A kind or model with no price is estimated as unknown (``usd`` None), never as free: a task with
``max_cost`` refuses to create it. Only the Dream Machine API's image and Ray 2 video prices are
published; edits (reframe, modify, upscale, audio) have none until a connection gives them
(``{"prices": {"upscale_video": {"*": 0.5}}}``: ``"*"`` prices every model of the kind).

The extra is checked by hand, as ``limits`` is: two levels of mappings, and errors that name the
field as the connection form shows it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    from collections.abc import Mapping

    from airflow_provider_luma.kinds import GenerationRequest

#: Luma's published prices: USD per generation (a number), or USD per second of video by
#: resolution (``{"per_second": {...}}``), by the request's ``generation_type`` and model.
DEFAULT_PRICES: dict[str, dict[str, Any]] = {
    "image": {"photon-1": 0.0073, "photon-flash-1": 0.0019, "uni-1": 0.0404},
    "image_edit": {"uni-1": 0.0434},
    "video": {"ray-2": {"per_second": {"540p": 0.08, "720p": 0.142, "1080p": 0.318, "4k": 1.274}}},
}
#: The model key of a price for every model of a kind (an upscale or an audio names none).
ANY_MODEL = "*"
#: When :data:`DEFAULT_PRICES` was read, and where from.
PRICES_AS_OF = "2026-12-07"
PRICES_SOURCE = (
    "published price tables of Luma's Dream Machine API (images per 1080p image; Ray 2 video per "
    "5 s: 540p $0.40, 720p $0.71, 1080p $1.59, 4k $6.37) and the Agents API's pricing guide (uni-1 "
    "per 2K image: $0.0404, an edit $0.0434; extra references, uni-1-max and Ray 3.2 are not "
    "priced here); Luma's own pricing page wins"
)
#: What a request that leaves them to Luma is estimated at.
DEFAULT_DURATION_SECONDS = 5
DEFAULT_RESOLUTION = "720p"


@dataclass(frozen=True)
class Estimate:
    """
    What one create is expected to cost.

    :param usd: US dollars; None when no price is known.
    :param what: what was priced, for messages ("ray-2 video, 5 s at 720p").
    """

    usd: float | None
    what: str

    def over(self, max_cost: float) -> bool:
        """True when the estimate is unknown or above ``max_cost`` (US dollars)."""
        return self.usd is None or self.usd > max_cost + 1e-9

    def check_within(self, max_cost: float | None, whose: str = "", cap: str = "max_cost") -> None:
        """
        Refuse a create this estimate is over ``max_cost`` for (or unknown under it).

        :param max_cost: the cap, in US dollars (None: none).
        :param whose: what the error starts with (a batch item's ``requests[3]:``, and a space).
        :param cap: the cap's parameter, named in the error.
        :raises LumaCostLimitError: naming the estimate and the cap.
        """
        if max_cost is None or not self.over(max_cost):
            return
        from airflow_provider_luma.exceptions import LumaCostLimitError  # Airflow: not in the emulator

        cost = "has no known price" if self.usd is None else f"is estimated at ${self.usd:.4f}"
        raise LumaCostLimitError(
            f"{whose}{cap} is ${max_cost:g} and this create ({self.what}) {cost}: nothing was created. "
            f"Raise {cap}, or give the model's price in the connection's extra 'prices'"
        )


@dataclass(frozen=True)
class PriceTable:
    """
    Prices by ``generation_type`` and model: :data:`DEFAULT_PRICES` under a connection's own.

    :param prices: the table (see :data:`DEFAULT_PRICES` for its shape).
    """

    prices: Mapping[str, Mapping[str, Any]] = field(default_factory=lambda: DEFAULT_PRICES)

    @classmethod
    def of_extra(cls, extra: Mapping[str, Any], conn_id: str) -> PriceTable:
        """
        The table a connection's extra gives (``prices``), over :data:`DEFAULT_PRICES`.

        :param extra: the connection's extra, decoded.
        :param conn_id: the connection, named in errors.
        :raises LumaConnectionConfigError: ``prices`` is not a mapping of kinds to models to a
            non-negative number or ``{"per_second": {resolution: non-negative number}}``.
        """
        given = extra.get("prices")
        if given is None:
            return cls()
        where = f"Airflow connection {conn_id!r}: extra 'prices'"
        merged = {kind: dict(models) for kind, models in DEFAULT_PRICES.items()}
        for kind, models in _mapping(given, where).items():
            for model, price in _mapping(models, f"{where}[{kind!r}]").items():
                merged.setdefault(kind, {})[model] = _price(price, f"{where}[{kind!r}][{model!r}]")
        return cls(merged)

    def estimate(self, request: GenerationRequest) -> Estimate:
        """
        What ``request`` costs when created.

        :param request: the create call.
        """
        return self.estimate_body(request.body)

    def estimate_body(self, body: Mapping[str, Any]) -> Estimate:
        """
        What a create with this body costs.

        A price per second needs the video's length: a video's ``duration`` (Luma's default when
        not given); an edit of an earlier video has none, so only a price per generation serves it.

        :param body: the create's JSON body, with its ``generation_type``.
        """
        # The Dream Machine API's ``generation_type``, the Agents API's ``type`` (with its video
        # options under ``video``).
        kind = str(body.get("generation_type") or body.get("type") or "")
        model = str(body.get("model") or "")
        options = body.get("video")
        video: Mapping[str, Any] = options if isinstance(options, dict) else body
        prices = self.prices.get(kind, {})
        price = prices.get(model, prices.get(ANY_MODEL))
        if isinstance(price, (int, float)):
            return Estimate(float(price), f"{model} {kind}".strip())
        if kind != "video":
            return Estimate(None, f"{model} {kind}".strip())
        seconds = _seconds(video.get("duration"))
        resolution = str(video.get("resolution") or DEFAULT_RESOLUTION)
        what = f"{model} {kind}, {seconds} s at {resolution}".strip()
        per_second = price.get("per_second", {}).get(resolution) if isinstance(price, dict) else None
        if per_second is None:
            return Estimate(None, what)
        return Estimate(round(float(per_second) * seconds, 6), what)


def _seconds(duration: Any) -> int:
    """Seconds of a ``duration`` such as ``"9s"`` (Luma's default when not given)."""
    if isinstance(duration, str) and duration.endswith("s") and duration[:-1].isdigit():
        return int(duration[:-1])
    return DEFAULT_DURATION_SECONDS


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        _refuse(f"{where} must be a mapping; got {value!r}")
    return value


def _refuse(message: str) -> NoReturn:
    from airflow_provider_luma.exceptions import LumaConnectionConfigError

    raise LumaConnectionConfigError(message)


def _price(value: Any, where: str) -> Any:
    if _is_amount(value):
        return value
    per_second = value.get("per_second") if isinstance(value, dict) and set(value) == {"per_second"} else None
    if isinstance(per_second, dict) and per_second and all(_is_amount(v) for v in per_second.values()):
        return value
    _refuse(
        f"{where} must be US dollars per generation (a number of at least 0) or "
        f'{{"per_second": {{resolution: US dollars}}}}; got {value!r}'
    )


def _is_amount(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0
