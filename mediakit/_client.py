"""`MediaClient`: X's chunked media upload, one file at a time, politely and observably.

Every HTTP attempt becomes one `Event` handed to `on_event`, retries included. Retries cover
what a retry can cure (connection errors, timeouts, 408, 429, 5xx), repeat only the failed
request (an APPEND retry re-sends its own segment), and wait as X asks (`retry-after`,
`x-rate-limit-reset`). Anything else fails at once with X's own code, name and message.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import io
import json
import logging
import os
import random
import weakref
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._auth import Credentials, redact
from ._budget import RateBudget
from ._clock import Clock, SystemClock
from ._errors import APIError, AuthError, MediaError, ProcessingError, RateLimitError
from ._http import httpx, make_client
from ._media import DEFAULT_CHUNK, FileCheck, inspect_file, read_chunk
from ._protocol import DIALECTS, ErrorInfo, MediaState, Outgoing, parse_error, read_state
from ._records import Event

if TYPE_CHECKING:
    from .emulator import Emulator

__all__ = ["MediaClient", "RequestContext", "RetryPolicy"]

log = logging.getLogger("mediakit")
# Loggers that may see request details: one filter blanks the secrets of every open client.
_WATCHED_LOGGERS = ("mediakit", "httpx", "httpcore")
MIN_SECRET_LEN = 6  # shorter "secrets" (test values) would shred every log line


class _Redactor(logging.Filter):
    """Blanks the secrets of live clients out of log records before any handler sees them."""

    def __init__(self) -> None:
        super().__init__()
        self.clients: weakref.WeakSet[MediaClient] = weakref.WeakSet()

    def filter(self, record: logging.LogRecord) -> bool:
        secrets = tuple(
            secret
            for client in list(self.clients)
            for secret in client.target.credentials.secrets()
            if len(secret) >= MIN_SECRET_LEN
        )
        if secrets:
            text = record.getMessage()
            cleaned = redact(text, secrets)
            if cleaned != text:
                record.msg, record.args = cleaned, None
        return True


_REDACTOR = _Redactor()
for _name in _WATCHED_LOGGERS:
    logging.getLogger(_name).addFilter(_REDACTOR)

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try. Delays are seconds of the client's clock."""

    max_attempts: int = 6
    backoff_base_s: float = 1.0
    backoff_max_s: float = 60.0
    # The longest wait for a rate-limit window to reset before giving up on a request.
    max_rate_limit_wait_s: float = 16 * 60.0

    def backoff(self, attempt: int, rng: random.Random) -> float:
        ceiling = min(self.backoff_max_s, self.backoff_base_s * 2.0 ** (attempt - 1))
        return ceiling / 2 + rng.uniform(0, ceiling / 2)


@dataclass(frozen=True)
class RequestContext:
    """Who a request is for, so its events can be joined back to a file of a batch."""

    batch_id: str = ""
    file_id: int | None = None
    path: str | None = None


class MediaClient:
    """An async client for X's media upload API (v2 by default, v1.1 on request).

    ``async with MediaClient(creds) as client: info = await client.upload("clip.mp4")``.
    Without credentials and without a `base_url` it talks to the built-in emulator.
    """

    def __init__(
        self,
        credentials: Credentials | None = None,
        *,
        api: str = "v2",
        base_url: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
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
        target: str | None = None,
        emulator: Emulator | None = None,
    ) -> None:
        from ._target import resolve_target

        if api not in DIALECTS:
            raise ValueError(f"api must be 'v2' or 'v1.1', not {api!r}")
        if segment_concurrency < 1:
            raise ValueError("segment_concurrency must be at least 1")
        self.dialect = DIALECTS[api]
        self.target = resolve_target(
            target=target,
            credentials=credentials,
            base_url=base_url,
            transport=transport,
            api=api,
            clock=clock,
            emulator=emulator,
        )
        self.clock: Clock = clock or self.target.clock or SystemClock()
        self.retry = retry or RetryPolicy()
        self.on_event = on_event
        self.segment_concurrency = segment_concurrency
        self.chunk_size = chunk_size
        self.status_deadline_s = status_deadline_s
        self.budget = RateBudget(self.clock)
        self._rng = random.Random(seed)
        _REDACTOR.clients.add(self)
        self._http = make_client(
            self.target.base_url,
            transport=self.target.transport,
            auth=self.target.credentials.auth(clock=self.clock),
            timeout=timeout,
            verify=verify,
            proxy=proxy,
            allow_insecure=allow_insecure,
        )

    @property
    def api(self) -> str:
        return self.dialect.name

    async def __aenter__(self) -> MediaClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()
        self.target.close()
        _REDACTOR.clients.discard(self)

    def __repr__(self) -> str:
        return f"MediaClient(api={self.api!r}, target={self.target.label!r})"

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
            parts = _open_parts(outgoing.files)
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
                _close_parts(parts)
                event.finished_at = self.clock.now()
                event.ok = False
                event.error_name = type(exc).__name__
                event.error_message = str(exc) or type(exc).__name__
                self._emit(event)
                if attempt >= self.retry.max_attempts:
                    raise APIError(
                        f"{command} failed after {attempt} attempts: {event.error_message}",
                        name=event.error_name,
                    ) from exc
                await self.clock.sleep(self.retry.backoff(attempt, self._rng))
                continue
            _close_parts(parts)
            state = self._record(event, command, response)
            if response.is_success:
                return response, state
            error = ErrorInfo(event.error_code, event.error_name, event.error_message or "")
            if response.status_code in RETRY_STATUSES and attempt < self.retry.max_attempts:
                delay = self._retry_delay(response, attempt)
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
            raise self._error(command, response, error)

    def _retry_delay(self, response: httpx.Response, attempt: int) -> float:
        headers = response.headers
        retry_after = headers.get("retry-after")
        if retry_after is not None:
            try:
                return max(0.0, float(retry_after))
            except ValueError:
                pass
        if response.status_code == 429:
            reset = headers.get("x-rate-limit-reset")
            if reset is not None:
                try:
                    return max(1.0, float(reset) - self.clock.now() + 1.0)
                except ValueError:
                    pass
        return self.retry.backoff(attempt, self._rng)

    def _record(self, event: Event, command: str, response: httpx.Response) -> MediaState | None:
        """Fill the event from the answer and emit it; the parsed media state if any."""
        now = self.clock.now()
        event.finished_at = now
        event.http_status = response.status_code
        event.ok = response.is_success
        event.transaction_id = response.headers.get("x-transaction-id") or response.headers.get(
            "x-response-id"
        )
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
                event.media_id = state.media_id
                event.media_key = state.media_key
                event.size = state.size
                event.state = state.state
                event.progress_percent = state.progress_percent
                event.check_after_secs = state.check_after_secs
                event.expires_after_secs = state.expires_after_secs
                event.expires_at = state.expires_at
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

    def _error(self, command: str, response: httpx.Response, error: ErrorInfo) -> APIError:
        status = response.status_code
        message = f"{command}: {error.message}"
        kwargs: dict[str, Any] = {
            "status_code": status,
            "code": error.code,
            "name": error.name,
            "body": response.text,
            "request_id": response.headers.get("x-transaction-id"),
        }
        if status in (401, 403):
            return AuthError(message, **kwargs)
        if status == 429:
            reset = response.headers.get("x-rate-limit-reset")
            reset_at = float(reset) if reset and reset.replace(".", "", 1).isdigit() else None
            return RateLimitError(message, reset_at=reset_at, **kwargs)
        return APIError(message, **kwargs)

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

    async def finalize(self, media_id: str, *, ctx: RequestContext | None = None) -> MediaState:
        _, state = await self._send(
            "FINALIZE", self.dialect.finalize(media_id), ctx or RequestContext(), media_id=media_id
        )
        if state is None:
            raise APIError("FINALIZE: the answer carried no media object")
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
                chunk = await asyncio.get_running_loop().run_in_executor(
                    _reader(),
                    functools.partial(
                        read_chunk,
                        check.path,
                        index,
                        check.chunk_size or self.chunk_size,
                        expect_size=check.size or 0,
                        expect_mtime=check.mtime,
                    ),
                )
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
        except BaseException:
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            raise
        return await self.finalize(media_id, ctx=ctx)

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


_READERS: concurrent.futures.ThreadPoolExecutor | None = None


def _reader() -> concurrent.futures.ThreadPoolExecutor:
    """The threads that read chunks from disk: few, so their memory is few malloc arenas.

    Chunks read in many threads and freed in the loop's thread fragment glibc's per-thread
    arenas, and the process keeps several chunks' worth of memory it no longer uses.
    """
    global _READERS
    if _READERS is None:
        _READERS = concurrent.futures.ThreadPoolExecutor(2, thread_name_prefix="mediakit-read")
    return _READERS


def _forget_readers() -> None:
    # A forked child inherits the executor but not its threads: it would wait forever.
    global _READERS
    _READERS = None


os.register_at_fork(after_in_child=_forget_readers)


Parts = dict[str, tuple[str, io.BytesIO, str]] | None


def _open_parts(files: Mapping[str, tuple[str, bytes, str]] | None) -> Parts:
    if not files:
        return None
    return {
        name: (filename, io.BytesIO(data), kind) for name, (filename, data, kind) in files.items()
    }


def _close_parts(parts: Parts) -> None:
    for _name, (_filename, buffer, _kind) in (parts or {}).items():
        buffer.close()


def processing_error(state: MediaState) -> ProcessingError:
    error = state.error
    if error is None:
        return ProcessingError(
            f"processing failed ({state.progress_percent or 0} %)", name="Failed"
        )
    return ProcessingError(
        f"processing failed: {error.name or 'error'}: {error.message}",
        code=error.code,
        name=error.name,
    )
