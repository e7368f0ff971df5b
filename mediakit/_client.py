"""`MediaClient`: X's chunked media upload, one file at a time, politely and observably.

Every HTTP attempt becomes one `Event` handed to every listener (`on_event` and whatever
`subscribe`d), retries included. Retries cover what a retry can cure (dropped connections,
timeouts, 408, 429, 5xx), repeat only the failed request (an APPEND retry re-sends its own
segment), and wait as X asks (`retry-after`, `x-rate-limit-reset`). Anything else fails at
once with X's own code, name and message (`APIError`), or as a `TransportError` when no answer
came. A refused TLS certificate is never retried, and while no request to a server has ever
been answered a connection failure is tried only briefly: the server is most likely
unreachable, and a batch should say so at once instead of retrying every file.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import random
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._budget import RateBudget
from ._check import describe, instance_of, one_of, seconds, whole_number
from ._chunks import close_parts, open_parts, reader
from ._clock import Clock, SystemClock
from ._concurrency import MAX_CONCURRENCY
from ._credentials import Credentials
from ._errors import (
    APIError,
    ConfigurationTypeError,
    MediaError,
    ProcessingError,
    request_id_of,
)
from ._failures import (
    a_refusal,
    answer_lost,
    api_error,
    processing_error,
    transport_failure,
    unconfirmed_finalize,
)
from ._http import httpx, make_client, pool_size
from ._logs import watch
from ._media import DEFAULT_CHUNK, FileCheck, inspect_file, read_chunk
from ._protocol import DIALECTS, ErrorInfo, MediaState, Outgoing, parse_error, read_state
from ._records import PROCESSING_STATES, Event
from ._retry import RETRY_STATUSES, RetryPolicy, retry_delay

if TYPE_CHECKING:
    from ._target import Target
    from .emulator import Emulator

__all__ = ["INLINE_READ_BYTES", "MediaClient", "RequestContext"]

# A file this small is read (and rechecked) on the loop: cheaper than a thread's hand-off, and
# no buffer in another thread's malloc arena. Larger files (maybe a slow disk) use threads.
INLINE_READ_BYTES = 64 * 1024
_STATES = {state: state for state in PROCESSING_STATES}

log = logging.getLogger("mediakit")


@dataclass(frozen=True)
class RequestContext:
    """Who a request is for, so its events can be joined back to a file of a batch."""

    batch_id: str = ""
    file_id: int | None = None
    path: str | None = None


class MediaClient:
    """An async client for X's media upload API (v2 by default, v1.1 on request).

    ``async with MediaClient(creds) as client: info = await client.upload("clip.mp4")``.
    Without credentials, `base_url`, `transport` or `emulator` it talks to the built-in
    emulator; `credentials` alone (or `target="x"`) mean X. The target is resolved by the same
    factory the upload functions use.

    Args:
        credentials: a `Credentials`; None means the emulator's demo keys for an emulator, or
            credentials from the environment for X.
        api: "v2" or "v1.1".
        base_url: another server (a socket emulator, a proxy).
        transport: an httpx transport to send through.
        target: "emulator" or "x".
        emulator: an `Emulator` to talk to in-process.
        timeout: seconds per request (None: 60 s, 15 s to connect).
        verify: TLS verification: True, False, or the path of a CA bundle.
        proxy: an HTTP proxy URL.
        clock: the `Clock` every wait reads.
        retry: a `RetryPolicy`.
        on_event: called with every HTTP attempt (an `Event`).
        segment_concurrency: APPEND requests in flight per file.
        chunk_size: bytes per APPEND.
        status_deadline_s: the longest wait for processing in `wait_processed`.
        allow_insecure: allow plain http to a host that is not loopback.
        seed: seeds the backoff jitter (repeatable tests).

    Raises:
        ConfigurationError: a bad argument (named in the message).
        CredentialsError: X without usable credentials.
    """

    def __init__(
        self,
        credentials: Credentials | None = None,
        *,
        api: str = "v2",
        base_url: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        target: str | None = None,
        emulator: Emulator | None = None,
        timeout: float | None = None,
        verify: bool | str = True,
        proxy: str | None = None,
        clock: Clock | None = None,
        retry: RetryPolicy | None = None,
        on_event: Callable[[Event], None] | None = None,
        segment_concurrency: int = 3,
        chunk_size: int = DEFAULT_CHUNK,
        status_deadline_s: float = 3600.0,
        allow_insecure: bool = False,
        seed: int | None = None,
    ) -> None:
        from ._target import resolve_target

        one_of("api", api, tuple(DIALECTS))
        if credentials is not None:
            instance_of("credentials", credentials, Credentials, "a mediakit.Credentials")
        resolved = resolve_target(
            target=target,
            credentials=credentials,
            base_url=base_url,
            transport=transport,
            api=api,
            clock=clock,
            emulator=emulator,
        )
        self._setup(
            resolved,
            api=api,
            timeout=timeout,
            verify=verify,
            proxy=proxy,
            clock=clock,
            retry=retry,
            on_event=on_event,
            segment_concurrency=segment_concurrency,
            chunk_size=chunk_size,
            status_deadline_s=status_deadline_s,
            allow_insecure=allow_insecure,
            seed=seed,
        )

    @classmethod
    def _for_target(cls, target: Target, **settings: Any) -> MediaClient:
        """A client for a target the API layer already resolved (it is never resolved twice)."""
        client = cls.__new__(cls)
        client._setup(target, **settings)
        return client

    def _setup(
        self,
        target: Target,
        *,
        api: str = "v2",
        timeout: float | None = None,
        verify: bool | str = True,
        proxy: str | None = None,
        clock: Clock | None = None,
        retry: RetryPolicy | None = None,
        on_event: Callable[[Event], None] | None = None,
        segment_concurrency: int = 3,
        chunk_size: int = DEFAULT_CHUNK,
        status_deadline_s: float = 3600.0,
        allow_insecure: bool = False,
        seed: int | None = None,
        max_connections: int | None = None,
    ) -> None:
        one_of("api", api, tuple(DIALECTS))
        seconds("timeout", timeout, allow_none=True)
        whole_number("segment_concurrency", segment_concurrency, minimum=1)
        whole_number("chunk_size", chunk_size, minimum=1)
        seconds("status_deadline_s", status_deadline_s)
        if retry is not None:
            instance_of("retry", retry, RetryPolicy, "a mediakit.RetryPolicy or None")
        if on_event is not None and not callable(on_event):
            raise ConfigurationTypeError(
                f"on_event must be a function taking an Event, not {describe(on_event)}"
            )
        self.dialect = DIALECTS[api]
        self.target = target
        self.clock: Clock = clock or target.clock or SystemClock()
        self.retry = retry or RetryPolicy()
        self.on_event = on_event
        self._listeners: list[Callable[[Event], None]] = []
        self.segment_concurrency = segment_concurrency
        self.chunk_size = chunk_size
        self.status_deadline_s = status_deadline_s
        self.budget = RateBudget(self.clock)
        self.reached = False  # has any request to this server been answered?
        self._rng = random.Random(seed)
        watch(target.credentials)
        self._http = make_client(
            target.base_url,
            transport=target.transport,
            auth=target.credentials.auth(clock=self.clock),
            timeout=timeout,
            verify=verify,
            proxy=proxy,
            allow_insecure=allow_insecure,
            max_connections=max_connections or pool_size(MAX_CONCURRENCY, segment_concurrency),
        )

    @property
    def api(self) -> str:
        return self.dialect.name

    async def __aenter__(self) -> MediaClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connections (and the built-in emulator, when this client opened it)."""
        await self._http.aclose()
        self.target.close()

    def __repr__(self) -> str:
        return f"MediaClient(api={self.api!r}, target={self.target.label!r})"

    def subscribe(self, listener: Callable[[Event], None]) -> Callable[[], None]:
        """Also call `listener` with every event (beside `on_event`); returns an unsubscribe."""
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    async def identify_target(self) -> None:
        """Learn the target's identity (an emulator's state id) for resume: see `Target`."""
        await self.target.identify(self._http)

    # one request, with retries and events

    async def _send(
        self,
        command: str,
        outgoing: Outgoing,
        ctx: RequestContext,
        *,
        segment_index: int | None = None,
        bytes_sent: int | None = None,
        media_id: str | None = None,
    ) -> tuple[httpx.Response, MediaState | None]:
        attempt = 0
        maybe_done = False  # an earlier attempt may have been done by X without our hearing
        while True:
            attempt += 1
            await self.budget.acquire(command)
            event = Event(
                batch_id=ctx.batch_id,
                file_id=ctx.file_id,
                path=ctx.path,
                command=command,
                attempt=attempt,
                started_at=self.clock.now(),
                segment_index=segment_index,
                bytes_sent=bytes_sent,
                media_id=media_id,
            )
            # Each attempt sends its parts from fresh buffers that are closed once it is over:
            # httpx keeps request and response in a reference cycle that only the cycle
            # collector frees, and a bytes part would keep a whole chunk alive with it.
            parts = open_parts(outgoing.files)
            try:
                response = await self._http.request(
                    outgoing.method,
                    outgoing.path,
                    params=outgoing.params,
                    json=outgoing.json,
                    data=outgoing.data,
                    files=parts,
                )
            except httpx.TransportError as exc:
                close_parts(parts)
                event.finished_at = self.clock.now()
                event.ok = False
                event.error_name = type(exc).__name__
                event.error_message = str(exc) or type(exc).__name__
                self._emit(event)
                maybe_done = maybe_done or answer_lost(event)
                failure = transport_failure(
                    command,
                    attempt,
                    exc,
                    url=self.target.base_url,
                    reached=self.reached,
                    max_attempts=self.retry.max_attempts,
                )
                if failure is not None:
                    raise failure from exc
                await self.clock.sleep(self.retry.backoff(attempt, self._rng))
                continue
            close_parts(parts)
            self.reached = True
            state = self._record(event, command, response)
            if response.is_success:
                return response, state
            error = ErrorInfo(event.error_code, event.error_name, event.error_message or "")
            if response.status_code in RETRY_STATUSES and attempt < self.retry.max_attempts:
                maybe_done = maybe_done or answer_lost(event)
                delay = retry_delay(
                    response.status_code,
                    response.headers,
                    attempt,
                    self.retry,
                    self._rng,
                    self.clock.now(),
                )
                if delay <= self.retry.max_rate_limit_wait_s:
                    log.info(
                        "%s answered %s; retry %d in %.1fs",
                        command,
                        response.status_code,
                        attempt,
                        delay,
                    )
                    await self.clock.sleep(delay)
                    continue
            refused = api_error(command, response, error)
            refused.after_lost_answer = maybe_done
            raise refused

    def _record(self, event: Event, command: str, response: httpx.Response) -> MediaState | None:
        """Fill the event from the answer and emit it; the parsed media state if any."""
        now = self.clock.now()
        event.finished_at = now
        event.http_status = response.status_code
        event.ok = response.is_success
        event.transaction_id = request_id_of(response.headers)
        budget = self.budget.update(command, response.headers)
        if budget is not None:
            event.rate_limit_limit = budget.limit
            event.rate_limit_remaining = budget.remaining
            event.rate_limit_reset = budget.reset_at
        text = response.text
        event.response = text or None
        state: MediaState | None = None
        if response.is_success:
            try:
                body = json.loads(text) if text else None
            except ValueError:
                body = None
            found = self.dialect.state_body(body) if body is not None else None
            if found is not None:
                state = read_state(found, now)
            if state is not None:
                # The strings the batch already holds, not equal copies: it keeps every event.
                if event.media_id != state.media_id:
                    event.media_id = state.media_id
                event.media_key = state.media_key
                event.size = state.size
                event.state = state.state and _STATES.get(state.state, state.state)
                event.progress_percent = state.progress_percent
                event.check_after_secs = state.check_after_secs
                event.expires_after_secs = state.expires_after_secs
                event.expires_at = state.expires_at_s
                if state.error is not None:
                    event.error_code = state.error.code
                    event.error_name = state.error.name
                    event.error_message = state.error.message
            elif isinstance(found, dict) and "expires_at" in found:
                expires = found.get("expires_at")
                if isinstance(expires, int | float):
                    event.expires_at = float(expires)
        else:
            error = parse_error(response.status_code, text)
            event.error_code, event.error_name, event.error_message = (
                error.code,
                error.name,
                error.message,
            )
        log.debug(
            "%s %s -> %s in %.3fs",
            command,
            response.request.url.path,
            response.status_code,
            (event.elapsed_s or 0.0),
        )
        self._emit(event)
        return state

    def _emit(self, event: Event) -> None:
        if self.on_event is not None:
            self.on_event(event)
        for listener in list(self._listeners):
            listener(event)

    # the commands

    async def init(
        self,
        total_bytes: int,
        media_type: str,
        category: str | None,
        *,
        additional_owners: Sequence[str] = (),
        shared: bool = False,
        ctx: RequestContext | None = None,
    ) -> MediaState:
        outgoing = self.dialect.init(total_bytes, media_type, category, additional_owners, shared)
        _, state = await self._send("INIT", outgoing, ctx or RequestContext())
        if state is None:
            raise APIError("INIT: the answer carried no media id")
        return state

    async def append(
        self, media_id: str, segment_index: int, chunk: bytes, *, ctx: RequestContext | None = None
    ) -> None:
        outgoing = self.dialect.append(media_id, segment_index, chunk)
        await self._send(
            "APPEND",
            outgoing,
            ctx or RequestContext(),
            segment_index=segment_index,
            bytes_sent=len(chunk),
            media_id=media_id,
        )

    async def finalize(
        self, media_id: str, *, ctx: RequestContext | None = None, reconcile: bool = False
    ) -> MediaState:
        """FINALIZE `media_id`; X's media state (processing, or ready).

        When an earlier FINALIZE of the id may have been done without its answer arriving (a
        retry after a lost answer, or `reconcile=True` for a session resumed from a journal),
        a refusal is not taken at its word: X may be refusing a second FINALIZE of media it
        already finalized, so STATUS is asked before giving up.
        """
        ctx = ctx or RequestContext()
        try:
            _, state = await self._send(
                "FINALIZE", self.dialect.finalize(media_id), ctx, media_id=media_id
            )
        except APIError as error:
            if not (reconcile or error.after_lost_answer) or not a_refusal(error):
                raise
            state = await self._reconcile_finalize(media_id, error, ctx)
        if state is None:
            raise APIError("FINALIZE: the answer carried no media object")
        return state

    async def _reconcile_finalize(
        self, media_id: str, refusal: APIError, ctx: RequestContext
    ) -> MediaState:
        """What X made of an earlier FINALIZE whose answer was lost, from STATUS."""
        try:
            state = await self.status(media_id, ctx=ctx)
        except APIError as unknown:
            if not a_refusal(unknown):
                raise
            error = unconfirmed_finalize(media_id, refusal, unknown)
            raise error from refusal
        log.info("FINALIZE of %s: its answer was lost; STATUS says %s", media_id, state.state)
        return state

    async def status(self, media_id: str, *, ctx: RequestContext | None = None) -> MediaState:
        _, state = await self._send(
            "STATUS", self.dialect.status(media_id), ctx or RequestContext(), media_id=media_id
        )
        if state is None:
            raise APIError("STATUS: the answer carried no media object")
        return state

    async def set_alt_text(
        self, media_id: str, text: str, *, ctx: RequestContext | None = None
    ) -> None:
        await self._send(
            "METADATA",
            self.dialect.alt_text(media_id, text),
            ctx or RequestContext(),
            media_id=media_id,
        )

    # whole files

    async def send_file(
        self,
        check: FileCheck,
        *,
        ctx: RequestContext | None = None,
        on_segment: Callable[[int, int], None] | None = None,
        on_media_id: Callable[[MediaState], None] | None = None,
        resume_media_id: str | None = None,
        done_segments: Collection[int] = (),
    ) -> MediaState:
        """INIT, every APPEND (`segment_concurrency` in flight), FINALIZE; the FINALIZE state.

        `on_segment(segment_index, bytes)` is called as each segment is acknowledged. With
        `resume_media_id` the upload session X already has is continued: no INIT, and the
        `done_segments` it acknowledged are not sent again.
        """
        if not check.ok:
            raise MediaError(str(check.path), check.problem or "cannot be uploaded")
        assert check.size is not None and check.media_type is not None
        assert check.chunk_size is not None and check.segments is not None
        ctx = ctx or RequestContext(path=str(check.path))
        if resume_media_id is None:
            started = await self.init(check.size, check.media_type, check.category, ctx=ctx)
        else:
            started = MediaState(media_id=resume_media_id)
        if on_media_id is not None:
            on_media_id(started)
        media_id = started.media_id
        queue: asyncio.Queue[int] = asyncio.Queue()
        for index in range(check.segments):
            if index not in done_segments:
                queue.put_nowait(index)

        async def worker() -> None:
            while True:
                try:
                    index = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                read = functools.partial(
                    read_chunk,
                    check.path,
                    index,
                    check.chunk_size or self.chunk_size,
                    expect_size=check.size or 0,
                    expect_mtime=check.mtime,
                    expect_identity=check.identity,
                )
                if (check.size or 0) <= INLINE_READ_BYTES:
                    chunk = read()
                else:
                    chunk = await asyncio.get_running_loop().run_in_executor(reader(), read)
                await self.append(media_id, index, chunk, ctx=ctx)
                if on_segment is not None:
                    on_segment(index, len(chunk))
                del chunk

        workers = [
            asyncio.create_task(worker())
            for _ in range(min(self.segment_concurrency, max(1, check.segments)))
        ]
        try:
            await asyncio.gather(*workers)
        except BaseException as exc:
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            resumed = resume_media_id is not None
            if not (resumed and isinstance(exc, APIError) and a_refusal(exc)):
                raise
            # A session resumed from a journal that missed its last answers (a full disk, a
            # kill) may already be finalized: X then refuses its APPENDs. Ask FINALIZE (and
            # STATUS) what became of it rather than failing a file X may hold as done.
            log.info("APPEND to resumed media id %s refused: reconciling", media_id)
        # A resumed session may have been finalized by the process that started it.
        return await self.finalize(media_id, ctx=ctx, reconcile=resume_media_id is not None)

    async def wait_processed(
        self,
        state: MediaState,
        *,
        ctx: RequestContext | None = None,
        deadline_s: float | None = None,
        on_status: Callable[[MediaState], None] | None = None,
    ) -> MediaState:
        """Poll STATUS as X asks (`check_after_secs`, at least 1 s) until processing ends."""
        ctx = ctx or RequestContext()
        deadline = self.clock.now() + (deadline_s or self.status_deadline_s)
        while True:
            if state.failed:
                raise processing_error(state)
            if not state.processing:
                return state
            wait = max(1, state.check_after_secs or 1)
            if self.clock.now() + wait > deadline:
                limit = deadline_s or self.status_deadline_s
                raise ProcessingError(
                    f"processing did not finish within {limit:.0f} s "
                    f"(last state {state.state}, {state.progress_percent or 0} %)",
                    name="Timeout",
                )
            await self.clock.sleep(wait)
            state = await self.status(state.media_id, ctx=ctx)
            if on_status is not None:
                on_status(state)

    async def upload(
        self,
        path: str | os.PathLike[str],
        category: str = "auto",
        *,
        alt_text: str | None = None,
        dm: bool = False,
    ) -> MediaState:
        """Upload one file end to end and return X's final word on it."""
        check = inspect_file(Path(path), category=category, chunk_size=self.chunk_size, dm=dm)
        ctx = RequestContext(path=str(path))
        state = await self.send_file(check, ctx=ctx)
        state = await self.wait_processed(state, ctx=ctx)
        if alt_text:
            await self.set_alt_text(state.media_id, alt_text, ctx=ctx)
        return state
