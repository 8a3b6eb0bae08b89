"""LumaHook: the ``luma`` connection and every call of Luma's Dream Machine API."""

from __future__ import annotations

import asyncio
import time
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import BaseHook

from airflow_provider_luma import CONNECTION_FORM
from airflow_provider_luma.exceptions import LumaAmbiguousCreateError, LumaError
from airflow_provider_luma.hooks._adoption import (
    MAX_SEARCHED_PAGES,
    RECENT_GENERATIONS_PAGE,
    created_before,
    generation_made_by,
)
from airflow_provider_luma.hooks._async import AsyncTransport, shared_session
from airflow_provider_luma.hooks._credentials import DEFAULT_BASE_URL, LumaCredentials
from airflow_provider_luma.hooks._http import TransportSettings
from airflow_provider_luma.hooks._sync import SyncTransport
from airflow_provider_luma.validation import check_generation_id

if TYPE_CHECKING:
    import contextlib
    from collections.abc import Awaitable, Callable, Collection, Iterator

    import aiohttp
    import requests
    from airflow.providers.common.compat.sdk import ObjectStoragePath

__all__ = ["DEFAULT_BASE_URL", "LumaCredentials", "LumaHook"]


class LumaHook(BaseHook):
    """
    Talks to Luma's Dream Machine API with the API key of an Airflow ``luma`` connection.

    Every method returns Luma's JSON as plain dicts and lists. Failed calls raise the errors of
    :mod:`airflow_provider_luma.exceptions`; transient ones are retried first. A create is never
    sent twice blindly: after a failure that may have reached Luma, the generation it made is
    looked for and adopted instead.

    :param luma_conn_id: Airflow connection with the API key in its password and, optionally, another
        base URL in its host.
    :param connect_timeout: seconds to wait for a connection to open.
    :param read_timeout: seconds to wait for an answer.
    :param max_retries: how many times a failed call is tried again (creates only when nothing was
        created).
    """

    conn_name_attr = "luma_conn_id"
    default_conn_name = "luma_default"
    conn_type = "luma"
    hook_name = "Luma AI"
    #: How far Luma's clock may be behind ours when matching an ambiguous create to a generation.
    clock_skew_seconds = 10.0
    #: After a create failed in a way that may have created a generation, how long to wait before
    #: looking for it among the recent generations.
    ambiguous_create_settle_seconds = 1.0

    def __init__(
        self,
        luma_conn_id: str = default_conn_name,
        *,
        connect_timeout: float = 5.0,
        read_timeout: float = 60.0,
        max_retries: int = 3,
    ) -> None:
        super().__init__()
        self.luma_conn_id = luma_conn_id
        self.settings = TransportSettings(luma_conn_id, connect_timeout, read_timeout, max_retries)
        #: Generations whose create this hook saw answered: never the one a lost answer made.
        self._answered_ids: set[str] = set()

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
        return await self._async.credentials()

    @cached_property
    def _sync(self) -> SyncTransport:
        return SyncTransport(self.settings, lambda: self.credentials, self.log)

    @cached_property
    def _async(self) -> AsyncTransport:
        return AsyncTransport(self.settings, type(self), self.log)

    @property
    def session(self) -> requests.Session:
        """The HTTP client (connection pool) of this hook's sync calls."""
        return self._sync.session

    def close(self) -> None:
        """Close the sync session's connections."""
        self._sync.close()

    def test_connection(self) -> tuple[bool, str]:
        """Check the key and base URL with ``GET /ping`` (the UI's and CLI's connection test)."""
        try:
            self.ping()
        except LumaError as exc:
            return False, str(exc)
        return True, f"Connected to Luma at {self.credentials.base_url}"

    # -- creating, paid once --------------------------------------------------------------------

    def create_generation(
        self,
        path: str,
        body: dict[str, Any],
        *,
        on_send: Callable[[float], None] | None = None,
        taken_ids: Callable[[], Collection[str]] | None = None,
        wait_out_rate_limits: bool = True,
    ) -> dict[str, Any]:
        """
        POST a create; after an ambiguous failure, adopt the generation it made instead of paying twice.

        :param path: the create endpoint, relative to the base URL (e.g. ``/generations/image``).
        :param body: the request.
        :param on_send: called with the time (epoch seconds) just before the request is first sent,
            e.g. to record the create as in doubt until its answer arrives.
        :param taken_ids: called after an ambiguous failure for the ids that other tasks already
            hold, which are never adopted.
        :param wait_out_rate_limits: wait out a 429 here (default); False raises it at once, for a
            caller with a cheaper way to wait.
        :raises LumaAdoptionError: the create may have made a generation that cannot be singled out.
        """
        sent_at = time.time()
        if on_send is not None:
            on_send(sent_at)
        for attempt in range(self.settings.max_retries + 1):
            try:
                generation: dict[str, Any] = self._sync.call(
                    "POST", path, json=body, creates=True, retry_rate_limits=wait_out_rate_limits
                )
            except LumaAmbiguousCreateError as exc:
                time.sleep(self.ambiguous_create_settle_seconds)  # let Luma list what it made
                found = self.find_generation_made_by(body, sent_at, taken_ids() if taken_ids else ())
                if (adopted := self._adopt(exc, found, attempt)) is not None:
                    return adopted
                continue
            return self._created(generation, path)
        raise AssertionError("unreachable")  # the loop returns or raises

    async def acreate_generation(
        self,
        path: str,
        body: dict[str, Any],
        session: aiohttp.ClientSession,
        *,
        on_send: Callable[[float], Awaitable[None]] | None = None,
        taken_ids: Callable[[], Awaitable[Collection[str]]] | None = None,
        deadline: float | None = None,
    ) -> dict[str, Any]:
        """
        :meth:`create_generation` without blocking the event loop; a 429 is raised at once.

        The caller (a trigger) waits out Luma's rate limit itself, for as long as its task allows.

        :param path: the create endpoint, relative to the base URL (e.g. ``/generations/image``).
        :param body: the request.
        :param session: from :meth:`async_session`.
        :param on_send: awaited with the time (epoch seconds) just before the request is first sent,
            e.g. to record the create as in doubt until its answer arrives.
        :param taken_ids: awaited after an ambiguous failure for the ids that other tasks already
            hold, which are never adopted.
        :param deadline: epoch seconds each try, retries included, must end by.
        :raises LumaAdoptionError: the create may have made a generation that cannot be singled out.
        """
        sent_at = time.time()
        if on_send is not None:
            await on_send(sent_at)
        for attempt in range(self.settings.max_retries + 1):
            try:
                generation: dict[str, Any] = await self._async.call(
                    session, "POST", path, json=body, creates=True, deadline=deadline, retry_rate_limits=False
                )
            except LumaAmbiguousCreateError as exc:
                await asyncio.sleep(self.ambiguous_create_settle_seconds)  # let Luma list what it made
                taken = await taken_ids() if taken_ids else ()
                found = await self.afind_generation_made_by(body, sent_at, session, taken)
                if (adopted := self._adopt(exc, found, attempt)) is not None:
                    return adopted
                continue
            return self._created(generation, path)
        raise AssertionError("unreachable")  # the loop returns or raises

    def _created(self, generation: dict[str, Any], path: str) -> dict[str, Any]:
        self.log.info("Luma generation %s created (%s)", generation.get("id"), path)
        self._answered_ids.add(generation["id"])
        return generation

    def _adopt(
        self, exc: LumaAmbiguousCreateError, found: dict[str, Any] | None, attempt: int
    ) -> dict[str, Any] | None:
        """
        The generation an ambiguous create made, as the search ``found`` it; None to create again.

        :raises LumaAmbiguousCreateError: nothing was found and no try is left.
        """
        if found is not None:
            self.log.warning("%s; adopting generation %s, made by that request", exc, found["id"])
            self._answered_ids.add(found["id"])
            return found
        if attempt == self.settings.max_retries:
            raise LumaAmbiguousCreateError(
                f"{exc}. Luma lists no generation made by it; check GET /generations before creating another"
            ) from exc.__cause__
        self.log.warning("%s; Luma lists no generation for it, so creating it again", exc)
        return None

    def find_generation_made_by(
        self, body: dict[str, Any], sent_at: float, taken_ids: Collection[str] = ()
    ) -> dict[str, Any] | None:
        """
        The generation a create of ``body`` sent at ``sent_at`` made, or None if Luma lists none.

        :param body: the create request.
        :param sent_at: epoch seconds when it was first sent; Luma's clock may be behind ours by
            up to ``clock_skew_seconds``.
        :param taken_ids: ids other tasks hold, never adopted (nor those this hook created).
        :raises LumaAdoptionError: several generations fit and none can be told to be ours.
        """
        return generation_made_by(
            self._newest_generations(),
            body,
            sent_at,
            self.clock_skew_seconds,
            {*taken_ids, *self._answered_ids},
        )

    def _newest_generations(self) -> Iterator[dict[str, Any]]:
        """Generations newest first, a page at a time, as far as the caller reads (at most 10 pages)."""
        offset = 0
        for _ in range(MAX_SEARCHED_PAGES):
            page = self.list_generations(limit=RECENT_GENERATIONS_PAGE, offset=offset)
            generations = page.get("generations") or []
            yield from generations
            if not page.get("has_more") or not generations:
                return
            offset += len(generations)

    async def afind_generation_made_by(
        self,
        body: dict[str, Any],
        sent_at: float,
        session: aiohttp.ClientSession,
        taken_ids: Collection[str] = (),
    ) -> dict[str, Any] | None:
        """
        :meth:`find_generation_made_by` without blocking the event loop.

        :param body: the create request.
        :param sent_at: epoch seconds when it was first sent.
        :param session: from :meth:`async_session`.
        :param taken_ids: ids other tasks hold, never adopted (nor those this hook created).
        :raises LumaAdoptionError: several generations fit and none can be told to be ours.
        """
        recent: list[dict[str, Any]] = []
        for _ in range(MAX_SEARCHED_PAGES):
            page = await self._async.call(
                session,
                "GET",
                "/generations",
                params={"limit": RECENT_GENERATIONS_PAGE, "offset": len(recent)},
            )
            generations = page.get("generations") or []
            recent += generations
            if not page.get("has_more") or not generations:
                break
            if created_before(generations[-1], sent_at - self.clock_skew_seconds):
                break  # newest first: every later page is older still
        return generation_made_by(
            recent, body, sent_at, self.clock_skew_seconds, {*taken_ids, *self._answered_ids}
        )

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
        return _generation_object(
            self._sync.call("GET", f"/generations/{check_generation_id(generation_id)}", deadline=deadline),
            generation_id,
        )

    def delete_generation(self, generation_id: str) -> None:
        """
        Delete one generation (``DELETE /generations/{id}``).

        :param generation_id: the generation's id.
        """
        self._sync.call("DELETE", f"/generations/{check_generation_id(generation_id)}")

    def list_generations(self, limit: int = 100, offset: int = 0) -> dict[str, Any]:
        """
        One page of generations, newest first: ``{generations, count, has_more, limit, offset}``.

        :param limit: page size.
        :param offset: how many generations to skip.
        """
        page: dict[str, Any] = self._sync.call(
            "GET", "/generations", params={"limit": limit, "offset": offset}
        )
        return page

    def list_concepts(self) -> list[str]:
        """Concept keys usable in video requests (``GET /generations/concepts/list``)."""
        concepts: list[str] = self._sync.call("GET", "/generations/concepts/list")
        return concepts

    def get_credits(self) -> dict[str, Any]:
        """The account's balance, ``{"credit_balance": <US cents>}`` (``GET /credits``)."""
        balance: dict[str, Any] = self._sync.call("GET", "/credits")
        return balance

    def ping(self) -> dict[str, Any]:
        """A cheap authenticated check (``GET /ping``)."""
        answer: dict[str, Any] = self._sync.call("GET", "/ping")
        return answer

    # -- assets ---------------------------------------------------------------------------------

    def copy_generation_asset(
        self,
        generation: dict[str, Any],
        output_path: str | ObjectStoragePath,
        *,
        max_bytes: int | None = None,
        deadline_seconds: float | None = None,
    ) -> str:
        """
        Copy a completed generation's asset (its image, else its video) to storage; return the path.

        The asset URL is untrusted input and is checked first, as the operators check it: it must be
        ``https``, or on this connection's own origin (its base URL); the copy then downloads only from
        public ``https`` hosts or that origin, redirects and resolved addresses included. Nothing is
        written when the URL is refused, and a copy that fails leaves no partial file.

        :param generation: a completed generation, as Luma returns it or as a generate task pushes it
            to XCom (key ``generation``).
        :param output_path: a file (``file://``, ``s3://``, ``gs://``... or a local path), or a folder
            ending with "/", in which the file is named after the generation id, with the asset URL's
            extension.
        :param max_bytes: the largest asset copied (default 2 GiB); a larger one is refused and nothing
            is left behind.
        :param deadline_seconds: the most the copy may take, in seconds (default 30 minutes).
        :return: the path written, e.g. ``file:///data/<generation id>.jpg``.
        :raises LumaUnsafeAssetUrlError: the asset URL may not be used (final; nothing was downloaded).
        :raises LumaError: the generation has no asset URL.
        :raises LumaAssetUrlRefusedError: the download, a redirect or the address reached was refused.
        :raises LumaAssetTooLargeError: the asset is over ``max_bytes``.
        :raises LumaAssetCopyError: the download failed or ran out of time.
        """
        from airflow_provider_luma.generations import checked_asset_url
        from airflow_provider_luma.storage import (
            DEFAULT_DEADLINE_SECONDS,
            DEFAULT_MAX_BYTES,
            copy_asset,
            destination_for,
        )

        trusted_origin = self.credentials.base_url
        url = checked_asset_url(generation, trusted_origin)
        destination = destination_for(output_path, url, str(generation.get("id")))
        size = copy_asset(
            url,
            destination,
            trusted_origin=trusted_origin,
            max_bytes=DEFAULT_MAX_BYTES if max_bytes is None else max_bytes,
            deadline_seconds=DEFAULT_DEADLINE_SECONDS if deadline_seconds is None else deadline_seconds,
        )
        self.log.info("Stored %s (%d bytes) at %s", url, size, destination)
        return str(destination)

    # -- async path (triggers) ------------------------------------------------------------------

    @staticmethod
    def async_session() -> contextlib.AbstractAsyncContextManager[aiohttp.ClientSession]:
        """
        The aiohttp session shared by every wait on the running event loop.

        Use as ``async with LumaHook.async_session() as session``; the session is closed when the
        last wait using it leaves, on success, error or cancellation.
        """
        return shared_session()

    async def aget_generation(
        self, generation_id: str, session: aiohttp.ClientSession, *, deadline: float | None = None
    ) -> dict[str, Any]:
        """
        Fetch one generation without blocking the event loop, retrying transient failures.

        :param generation_id: the generation's id.
        :param session: from :meth:`async_session`.
        :param deadline: epoch seconds the call, retries and their waits included, must end by.
        """
        answer = await self._async.call(
            session, "GET", f"/generations/{check_generation_id(generation_id)}", deadline=deadline
        )
        return _generation_object(answer, generation_id)

    async def aget_credits(self, session: aiohttp.ClientSession) -> dict[str, Any]:
        """
        The account's balance without blocking the event loop (``GET /credits``).

        :param session: from :meth:`async_session`.
        """
        balance: dict[str, Any] = await self._async.call(session, "GET", "/credits")
        return balance

    async def adelete_generation(
        self, generation_id: str, session: aiohttp.ClientSession, *, deadline: float | None = None
    ) -> None:
        """
        Delete one generation without blocking the event loop.

        :param generation_id: the generation's id.
        :param session: from :meth:`async_session`.
        :param deadline: epoch seconds the call, retries included, must end by.
        """
        await self._async.call(
            session, "DELETE", f"/generations/{check_generation_id(generation_id)}", deadline=deadline
        )


def _generation_object(answer: Any, generation_id: str) -> dict[str, Any]:
    """Luma's answer to ``GET /generations/{id}``, which must be a generation object."""
    if not isinstance(answer, dict):
        raise LumaError(
            f"Luma answered GET /generations/{generation_id} with {type(answer).__name__} instead of a "
            "generation object"
        )
    return answer
