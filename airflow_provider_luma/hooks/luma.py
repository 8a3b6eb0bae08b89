"""
LumaHook: the ``luma`` connection and every call of Luma's Dream Machine API; LumaAgentsHook: the
``luma_agents`` connection of Luma's Agents API.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import BaseHook

from airflow_provider_luma import AGENTS_CONNECTION_FORM, CONNECTION_FORM
from airflow_provider_luma.agents import AGENTS
from airflow_provider_luma.effects import Call, Sleep, Upload, XComValues
from airflow_provider_luma.exceptions import LumaError
from airflow_provider_luma.flow import generation_object
from airflow_provider_luma.generations import DEFAULT_SETTLE_SECONDS
from airflow_provider_luma.hooks._credentials import DEFAULT_BASE_URL, LumaCredentials
from airflow_provider_luma.hooks._http import TransportSettings
from airflow_provider_luma.hooks._transport import AsyncTransport, SyncTransport, shared_session
from airflow_provider_luma.validation import check_generation_id

if TYPE_CHECKING:
    import contextlib

    import aiohttp
    from airflow.providers.common.compat.sdk import ObjectStoragePath

    from airflow_provider_luma.effects import Effect

__all__ = ["DEFAULT_BASE_URL", "LumaAgentsHook", "LumaCredentials", "LumaHook"]


class LumaHook(BaseHook):
    """
    Talks to Luma's Dream Machine API with the API key of an Airflow ``luma`` connection.

    Every method returns Luma's JSON as plain dicts and lists. Failed calls raise the errors of
    :mod:`airflow_provider_luma.exceptions`; transient ones are retried first. A create is never
    sent twice blindly: after a failure that may have reached Luma, the generation it made is
    looked for and adopted instead (the same step the operators' flow takes).

    :param luma_conn_id: Airflow connection with the API key in its password and, optionally, another
        base URL in its host.
    :param connect_timeout: seconds to wait for a connection to open.
    :param read_timeout: seconds to wait for an answer.
    :param max_retries: how many times a failed call is tried again (creates only when nothing was
        created).
    :param settle_time: after a create whose answer was lost, seconds Luma's list is watched for
        what it made before it is sent again.
    """

    conn_name_attr = "luma_conn_id"
    default_conn_name = "luma_default"
    conn_type = "luma"
    hook_name = "Luma AI"

    def __init__(
        self,
        luma_conn_id: str = default_conn_name,
        *,
        connect_timeout: float = 5.0,
        read_timeout: float = 60.0,
        max_retries: int = 3,
        settle_time: float = DEFAULT_SETTLE_SECONDS,
    ) -> None:
        super().__init__()
        self.luma_conn_id = luma_conn_id
        self.settle_time = settle_time
        self.settings = TransportSettings(luma_conn_id, connect_timeout, read_timeout, max_retries)
        #: Generations this hook created: never the one a lost create of it made.
        self._created_ids: set[str] = set()

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Connection form for Airflow older than 3.2 (newer ones read it from provider info)."""
        return CONNECTION_FORM

    # -- connection -----------------------------------------------------------------------------

    @cached_property
    def credentials(self) -> LumaCredentials:
        """The connection's base URL and API key (fetched once)."""
        return LumaCredentials.from_connection(self.get_connection(self.luma_conn_id))

    async def aget_credentials(self) -> LumaCredentials:
        """The connection's base URL and API key, fetched without blocking the event loop."""
        return await self.async_transport.credentials()

    @cached_property
    def transport(self) -> SyncTransport:
        """The worker's transport: every call of this hook from a worker, and of the flow's driver."""
        return SyncTransport(self.settings, lambda: self.credentials, self.log)

    @cached_property
    def async_transport(self) -> AsyncTransport:
        """The triggerer's transport: every call from an event loop (triggers, the flow's driver)."""
        return AsyncTransport(self.settings, type(self), self.log)

    def close(self) -> None:
        """Close the sync session's connections."""
        self.transport.close()

    def test_connection(self) -> tuple[bool, str]:
        """Check the key and base URL with ``GET /ping`` (the UI's and CLI's connection test)."""
        try:
            self.ping()
        except LumaError as exc:
            return False, str(exc)
        return True, f"Connected to Luma at {self.credentials.base_url}"

    # -- calls --------------------------------------------------------------------------------------

    def perform(self, effect: Effect) -> Any:
        """
        Perform a call or a pause of the generation flow from a worker (a task's run adds its record).

        :param effect: an effect of :mod:`airflow_provider_luma.effects`.
        """
        if isinstance(effect, Call):
            return self.transport.call(**asdict(effect))
        if isinstance(effect, Upload):
            return self.upload_file(
                effect.path, effect.media_type, effect.expires_at, deadline=effect.deadline
            )
        if isinstance(effect, Sleep):
            time.sleep(effect.seconds)
        return [] if isinstance(effect, XComValues) else None

    def create_generation(self, path: str, body: dict[str, Any], *, timeout: float = 600.0) -> dict[str, Any]:
        """
        POST a create, paid once: after a failure that may have reached Luma, the generation it made
        is looked for and adopted instead of creating again (see :mod:`airflow_provider_luma.adoption`);
        Luma's rate limit is waited out.

        :param path: the create endpoint, relative to the base URL (e.g. ``/generations/image``).
        :param body: the request.
        :param timeout: seconds the rate limit may be waited out for.
        :raises LumaAdoptionError: the create may have made a generation that cannot be singled out.
        """
        from airflow_provider_luma.adoption import Siblings
        from airflow_provider_luma.effects import drive
        from airflow_provider_luma.flow import Options, create
        from airflow_provider_luma.kinds import GenerationRequest
        from airflow_provider_luma.records import Record

        now = time.time()
        options = Options(
            now + timeout,
            self.settle_time,
            siblings=Siblings(ids=frozenset(self._created_ids)),
            room=self.credentials.room,
            prices=self.credentials.prices,
        )
        flow = create(
            GenerationRequest(path, body), Record(path, body, try_number=0, started_at=now), options, self.log
        )
        generation: dict[str, Any] = drive(flow, self.perform)
        self._created_ids.add(generation["id"])
        return generation

    # -- the 13 endpoints -----------------------------------------------------------------------

    def create_image(self, body: dict[str, Any]) -> dict[str, Any]:
        """
        Start an image generation (``POST /generations/image``); returns the generation.

        :param body: the request, e.g. ``build_request("image", {...}).body``
            (:func:`airflow_provider_luma.kinds.build_request`).
        """
        return self.create_generation("/generations/image", body)

    def reframe_image(self, body: dict[str, Any]) -> dict[str, Any]:
        """
        Extend an image to a new aspect ratio (``POST /generations/image/reframe``).

        :param body: the request, in the API's shape.
        """
        return self.create_generation("/generations/image/reframe", body)

    def create_video(self, body: dict[str, Any]) -> dict[str, Any]:
        """
        Start a video generation (``POST /generations/video``).

        :param body: the request, in the API's shape.
        """
        return self.create_generation("/generations/video", body)

    def modify_video(self, body: dict[str, Any]) -> dict[str, Any]:
        """
        Restyle a video (``POST /generations/video/modify``).

        :param body: the request, in the API's shape.
        """
        return self.create_generation("/generations/video/modify", body)

    def reframe_video(self, body: dict[str, Any]) -> dict[str, Any]:
        """
        Extend a video to a new aspect ratio (``POST /generations/video/reframe``).

        :param body: the request, in the API's shape.
        """
        return self.create_generation("/generations/video/reframe", body)

    def upscale_video(self, generation_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """
        Upscale a finished video (``POST /generations/{id}/upscale``).

        :param generation_id: id of the finished video generation.
        :param body: the request, e.g. ``{"generation_type": "upscale_video", "resolution": "1080p"}``.
        """
        return self.create_generation(f"/generations/{check_generation_id(generation_id)}/upscale", body)

    def add_audio(self, generation_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """
        Add audio to a finished video (``POST /generations/{id}/audio``).

        :param generation_id: id of the finished video generation.
        :param body: the request, e.g. ``{"generation_type": "add_audio", "prompt": "rain"}``.
        """
        return self.create_generation(f"/generations/{check_generation_id(generation_id)}/audio", body)

    def get_generation(self, generation_id: str, *, deadline: float | None = None) -> dict[str, Any]:
        """
        Fetch one generation (``GET /generations/{id}``).

        :param generation_id: the generation's id.
        :param deadline: epoch seconds the call, retries included, must end by.
        """
        path = f"/generations/{check_generation_id(generation_id)}"
        return generation_object(self.transport.call("GET", path, deadline=deadline), f"GET {path}")

    def delete_generation(self, generation_id: str) -> None:
        """
        Delete one generation (``DELETE /generations/{id}``).

        :param generation_id: the generation's id.
        """
        self.transport.call("DELETE", f"/generations/{check_generation_id(generation_id)}")

    def list_generations(self, limit: int = 100, offset: int = 0) -> dict[str, Any]:
        """
        One page of generations, newest first: ``{generations, count, has_more, limit, offset}``.

        :param limit: page size.
        :param offset: how many generations to skip.
        """
        page: dict[str, Any] = self.transport.call(
            "GET", "/generations", params={"limit": limit, "offset": offset}
        )
        return page

    def list_concepts(self) -> list[str]:
        """Concept keys usable in video requests (``GET /generations/concepts/list``)."""
        concepts: list[str] = self.transport.call("GET", "/generations/concepts/list")
        return concepts

    def get_credits(self) -> dict[str, Any]:
        """The account's balance, ``{"credit_balance": <US cents>}`` (``GET /credits``)."""
        balance: dict[str, Any] = self.transport.call("GET", "/credits")
        return balance

    def ping(self) -> dict[str, Any]:
        """
        A cheap authenticated check: ``GET /ping``; on the Agents API, which has none, the first
        page of one file (``GET /files?limit=1``).
        """
        if self.credentials.api == AGENTS:
            page: dict[str, Any] = self.transport.call("GET", "/files", params={"limit": 1})
            return page
        answer: dict[str, Any] = self.transport.call("GET", "/ping")
        return answer

    # -- files (Agents API) -------------------------------------------------------------------

    def upload_file(
        self,
        path: str | ObjectStoragePath,
        media_type: str,
        expires_at: float,
        *,
        purpose: str = "input",
        deadline: float | None = None,
    ) -> str:
        """
        Upload a file from object storage to Luma's Agents API; return its file id once ``ready``.

        See :mod:`airflow_provider_luma.hooks._uploads`.

        :param path: the file (``file://``, ``s3://``... or an ``ObjectStoragePath``).
        :param media_type: its MIME type.
        :param expires_at: epoch seconds after which Luma may delete it.
        :param purpose: ``input`` (the subject) or ``reference`` (guidance).
        :param deadline: epoch seconds the upload must end by (default: in 10 minutes).
        """
        from airflow_provider_luma.hooks._uploads import upload

        deadline = deadline or time.time() + 600.0
        return upload(
            self.transport, self.credentials.base_url, path, media_type, expires_at, purpose, deadline
        )

    # -- assets ---------------------------------------------------------------------------------

    def copy_generation_asset(
        self,
        generation: dict[str, Any],
        output_path: str | ObjectStoragePath,
        *,
        max_bytes: int | None = None,
        deadline_seconds: float | None = None,
    ) -> str | list[str]:
        """
        Copy a completed generation's asset (its image, else its video) to storage; return the path.

        What an operator's ``output_path`` does (:func:`airflow_provider_luma.storage.store_asset`):
        the asset URL is checked first (``https``, or this connection's own origin), the download
        reaches only public ``https`` hosts or that origin, and a failed copy leaves no file.

        :param generation: a completed generation, as Luma returns it or as a generate task pushes it
            to XCom (key ``generation``).
        :param output_path: a file (``file://``, ``s3://``, ``gs://``... or a local path), or a folder
            ending with "/", in which the file is named after the generation id.
        :param max_bytes: the largest asset copied (default 2 GiB).
        :param deadline_seconds: the most the copy may take, in seconds (default 30 minutes).
        :return: the path written, e.g. ``file:///data/<generation id>.jpg``; the list of them for a
            generation with several outputs (``<generation id>-1.png``, ``-2``...).
        """
        from airflow_provider_luma.storage import store_asset

        path = store_asset(
            generation,
            output_path,
            self.credentials.base_url,
            max_bytes=max_bytes,
            deadline_seconds=deadline_seconds,
        )
        self.log.info("Stored generation %s's asset at %s", generation.get("id"), path)
        return path

    # -- async path (triggers) ------------------------------------------------------------------

    @staticmethod
    def async_session() -> contextlib.AbstractAsyncContextManager[aiohttp.ClientSession]:
        """
        The aiohttp session shared by every wait on the running event loop.

        Use as ``async with LumaHook.async_session() as session``; the session is closed when the
        last wait using it leaves, on success, error or cancellation.
        """
        return shared_session()


class LumaAgentsHook(LumaHook):
    """
    Talks to Luma's Agents API (``uni-1``, ``uni-1-max``, ``ray-3.2``) with the API key of an Airflow
    ``luma_agents`` connection. The operators take either connection: the model says which API a
    task needs, and a task whose model is not its connection's API fails before any call.

    The Agents API has no list of generations, no delete and no credit balance: ``list_generations``,
    ``delete_generation`` and ``get_credits`` answer Luma's 404 there.

    :param luma_conn_id: Airflow connection of type ``luma_agents``.
    :param kwargs: the options of :class:`LumaHook`.
    """

    default_conn_name = "luma_agents_default"
    conn_type = "luma_agents"
    hook_name = "Luma AI (Agents API)"

    def __init__(self, luma_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(luma_conn_id, **kwargs)

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Connection form for Airflow older than 3.2 (newer ones read it from provider info)."""
        return AGENTS_CONNECTION_FORM
