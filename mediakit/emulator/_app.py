"""`Emulator`: the X media API as an ASGI app, in-process or served over a socket."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

import platformdirs
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from .._clock import Clock
from .._errors import ConfigurationError, ConfigurationTypeError
from .._limits import Limits
from . import _problems as p
from ._config import DEMO, EmulatorConfig, UserTokenGrant
from ._connections import connection_closer
from ._core import MediaService, UploadRefused
from ._faults import (
    AnswerLost,
    ConnectionDropped,
    FaultInjector,
    Faults,
    InjectedFault,
    Latency,
    faults_table,
    over_socket,
)
from ._forms import BodyError
from ._gate import Gate
from ._log import RequestLog, RequestRecord
from ._processing import processing_info
from ._ratelimit import Limiter, RateLimited, RateLimits
from ._store import MediaRow, Store
from ._tokens import TokenEndpoint
from ._v1 import V1, V1Error
from ._v1 import internal_error as v1_internal_error
from ._v1 import refusal as v1_refusal
from ._v2 import V2
from ._v2_meta import V2Metadata

__all__ = ["Emulator", "MediaRecord", "builtin_state_path"]

log = logging.getLogger("mediakit.emulator")
# One line per answered request, at INFO (`mediakit emulator --log-requests` shows them).
request_log = logging.getLogger("mediakit.emulator.requests")
Handler = Callable[[Request], Awaitable[Response]]
SWEEP_EVERY_S = 60.0


def builtin_state_path() -> Path:
    """Where the built-in target keeps its state, so media ids survive a kernel restart."""
    return Path(platformdirs.user_cache_dir("mediakit")) / "emulator" / "state.sqlite"


@dataclass(frozen=True)
class MediaRecord:
    """One media id as the emulator holds it, with its state as a client would see it now."""

    media_id: str
    media_key: str
    owner: str
    api: str
    media_type: str | None
    media_category: str | None
    total_bytes: int
    received_bytes: int
    segments: int
    state: str  # initialized | expired | ready | pending | in_progress | succeeded | failed
    created_at: float
    finalized_at: float | None
    session_expires_at: float
    media_expires_at: float | None
    processing_s: float | None
    detected_type: str | None
    width: int | None
    height: int | None
    duration_s: float | None
    error_name: str | None
    error_message: str | None
    alt_text: str | None
    bytes_on_disk: bool


class Emulator:
    """A faithful emulator of X's media upload API: v2, and v1.1 on the same state.

    In-process::

        emu = Emulator(clock=ScaledClock(60), processing_seconds=(2, 10), seed=1)
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=emu.app),
                                   base_url="https://api.x.com")

    Over a socket: ``mediakit emulator --port 8765`` (see `serve`).

    Every keyword is a setting of `EmulatorConfig`; the credential shortcuts replace the demo
    set: ``consumer_key``/``consumer_secret`` with ``access_token``/``access_token_secret`` for
    OAuth 1.0a, ``user_token`` for an OAuth 2.0 user token with ``media.write``, and
    ``app_bearer_token`` for an app-only token (refused, as X refuses it).
    """

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        state: str | Path | None = None,
        limits: Limits | None = None,
        consumer_key: str | None = None,
        consumer_secret: str | None = None,
        access_token: str | None = None,
        access_token_secret: str | None = None,
        user_token: str | None = None,
        user_token_scopes: Iterable[str] | None = None,
        user_token_lifetime_s: float | None = None,
        app_bearer_token: str | None = None,
        rate_window_s: float | None = None,
        faults: Faults | Mapping[str, Mapping[str | int, float]] | None = None,
        drop_rate: float | None = None,
        latency: Latency = None,
        bandwidth: float | None = None,
        config: EmulatorConfig | None = None,
        **settings: Any,
    ) -> None:
        base = config or EmulatorConfig()
        known = {f.name for f in fields(EmulatorConfig)}
        unknown = set(settings) - known
        if unknown:
            raise ConfigurationTypeError(f"unknown Emulator settings: {sorted(unknown)}")
        changes: dict[str, Any] = dict(settings)
        if clock is not None:
            changes["clock"] = clock
        if state is not None:
            changes["state_path"] = Path(state)
        if limits is not None:
            changes["limits"] = limits
        if consumer_key is not None or consumer_secret is not None:
            if not (consumer_key and consumer_secret):
                raise ConfigurationError("give both consumer_key and consumer_secret")
            changes["consumer_key"], changes["consumer_secret"] = consumer_key, consumer_secret
        if access_token is not None or access_token_secret is not None:
            if not (access_token and access_token_secret):
                raise ConfigurationError("give both access_token and access_token_secret")
            changes["oauth1_accounts"] = (
                EmulatorConfig.oauth1_account(access_token, access_token_secret),
            )
        if user_token is not None or user_token_lifetime_s is not None:
            token = user_token or DEMO.user_token
            grant = UserTokenGrant(
                token,
                DEMO.user_id if token == DEMO.user_token else "1000000000000000003",
                lifetime_s=user_token_lifetime_s,
                refresh_token=DEMO.refresh_token if token == DEMO.user_token else None,
                client_id=DEMO.client_id,
            )
            if user_token_scopes is not None:
                grant = replace(grant, scopes=frozenset(user_token_scopes))
            changes["user_tokens"] = (grant,)
        elif user_token_scopes is not None:
            changes["user_tokens"] = tuple(
                replace(g, scopes=frozenset(user_token_scopes)) for g in base.user_tokens
            )
        if app_bearer_token is not None:
            changes["app_bearer_tokens"] = (app_bearer_token,)
        limits_setting = changes.get("rate_limits", base.rate_limits)
        if limits_setting is True:
            limits_setting = RateLimits()
        elif limits_setting is False:
            limits_setting = None
        if rate_window_s is not None:
            limits_setting = (limits_setting or RateLimits()).scaled(rate_window_s)
        changes["rate_limits"] = limits_setting
        changes["faults"] = _faults_setting(
            faults if faults is not None else base.faults,
            drop_rate,
            latency,
            bandwidth,
            settings.get("seed", base.seed),
        )
        self.config = replace(base, **changes)
        self._store = Store(self.config.state_path, self.config.spool_dir)
        try:
            self._set_up()
        except BaseException:
            self._store.close()  # a temporary state must not outlive a failed start
            raise

    def _set_up(self) -> None:
        self._service = MediaService(self.config, self._store)
        self._gate = Gate(self.config, self._store)
        self._log = RequestLog(self.config.request_log_size)
        self.faults = FaultInjector(self.config.faults)
        self.limiter = Limiter(self.config.rate_limits, self.config.clock, self._store, self.faults)
        self._last_sweep = float("-inf")
        self.app = self._build_app()
        # What a socket server runs: the same app, marked as served and bandwidth-capped.
        self.socket_app = self.faults.socket_app(self.app)

    @classmethod
    def builtin(cls, **settings: Any) -> Emulator:
        """The emulator behind the default target: state in the user's cache directory."""
        settings.setdefault("state", builtin_state_path())
        return cls(**settings)

    # introspection

    @property
    def clock(self) -> Clock:
        return self.config.clock

    @property
    def state_path(self) -> Path:
        return self._store.state_path

    @property
    def state_id(self) -> str:
        """The identity of this emulator's state: a UUID made with the state file and kept in it.

        An emulator restarted on the same state file keeps it; a new temporary state gets a new
        one, so a client can tell whether the media ids it recorded can still be known here.
        """
        return self._store.state_id

    @property
    def media(self) -> list[MediaRecord]:
        """Every media id the emulator holds, with its state as of now (once the decodes
        running in this process have ended: the records show their results)."""
        for row in self._store.all_media():
            self._service.settle(row.id)
        return [self._record(row) for row in self._store.all_media()]

    def media_by_id(self, media_id: str) -> MediaRecord | None:
        self._service.settle(media_id)
        row = self._store.get_media(media_id)
        return None if row is None else self._record(row)

    @property
    def requests(self) -> list[RequestRecord]:
        """Every request answered (newest last), with clock timestamps."""
        return self._log.records()

    def clear_requests(self) -> None:
        self._log.clear()

    def close(self) -> None:
        self._service.close()  # the decodes it started write to the store
        self._store.close()

    def __enter__(self) -> Emulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Emulator(state={str(self._store.state_path)!r}, clock={self.clock!r})"

    def _state_of(self, row: MediaRow) -> str:
        now = self.clock.now()
        if row.phase == "initialized":
            return "expired" if now >= row.session_expires_at else "initialized"
        if row.media_expires_at is not None and now >= row.media_expires_at:
            return "expired"
        if row.processing_s is None:
            return "ready"
        return str(processing_info(row, now, self.config.max_check_after_secs)["state"])

    def _record(self, row: MediaRow) -> MediaRecord:
        segments = self._store.segments(row.id)
        alt = row.metadata.get("alt_text")
        return MediaRecord(
            media_id=row.id,
            media_key=row.media_key,
            owner=row.owner,
            api=row.api,
            media_type=row.media_type,
            media_category=row.media_category,
            total_bytes=row.total_bytes,
            received_bytes=sum(size for _i, size in segments),
            segments=len(segments),
            state=self._state_of(row),
            created_at=row.created_at,
            finalized_at=row.finalized_at,
            session_expires_at=row.session_expires_at,
            media_expires_at=row.media_expires_at,
            processing_s=row.processing_s,
            detected_type=row.detected_type,
            width=row.width,
            height=row.height,
            duration_s=row.duration_s,
            error_name=row.error_name,
            error_message=row.error_message,
            alt_text=alt.get("text") if isinstance(alt, dict) else None,
            bytes_on_disk=not row.spool_removed and (self._store.spool_dir / row.id).exists(),
        )

    # the ASGI app

    def _build_app(self) -> ASGIApp:
        v2 = V2(self._service, self._gate, self.limiter)
        meta = V2Metadata(v2)
        v1 = V1(self._service, self._gate, self.limiter)
        wrap = self._endpoint
        routes = [
            Route("/1.1/media/upload.json", wrap(v1.status, "v1.1"), methods=["GET"]),
            Route("/1.1/media/upload.json", wrap(v1.upload, "v1.1"), methods=["POST"]),
            Route("/1.1/media/metadata/create.json", wrap(v1.metadata, "v1.1"), methods=["POST"]),
            Route("/2/media/upload/initialize", wrap(v2.initialize, "v2"), methods=["POST"]),
            Route("/2/media/upload/{media_id}/append", wrap(v2.append, "v2"), methods=["POST"]),
            Route("/2/media/upload/{media_id}/finalize", wrap(v2.finalize, "v2"), methods=["POST"]),
            Route("/2/media/upload", wrap(v2.status, "v2"), methods=["GET"]),
            Route("/2/media/upload", wrap(v2.upload, "v2"), methods=["POST"]),
            Route("/2/media/metadata", wrap(meta.metadata, "v2"), methods=["POST"]),
            Route("/2/media/subtitles", wrap(meta.subtitles, "v2"), methods=["POST", "DELETE"]),
            Route(
                "/2/oauth2/token",
                wrap(TokenEndpoint(self.config, self._store), "oauth2"),
                methods=["POST"],
            ),
            Route("/_emulator/media", self._media_json, methods=["GET"]),
            Route("/_emulator/requests", self._requests_json, methods=["GET"]),
            Route("/_emulator/health", self._health, methods=["GET"]),
        ]
        app = Starlette(routes=routes)
        app.add_exception_handler(404, self._not_found)
        app.add_exception_handler(405, self._not_found)
        return app

    def _endpoint(self, handler: Handler, api: str) -> Handler:
        async def endpoint(request: Request) -> Response:
            now = self.clock.now()
            record = RequestRecord(
                started_at=now,
                method=request.method,
                path=request.url.path,
                query=request.url.query,
                api=api,
                client=_client_of(request),
            )
            token = self._log.begin(record)
            host = p.use_problem_host(self.config.problem_host)
            try:
                response = await self._answer(request, handler, api, record)
                if (
                    200 <= response.status_code < 300
                    and not record.extra.get("dropped")
                    and self.faults.should_lose(record.command)
                ):
                    # The work is done and committed; the answer never reaches the client.
                    record.extra["lost"] = True
                    return _NoAnswer(record.command, after_work=True)
                return response
            finally:
                p.reset_problem_host(host)
                record.finished_at = self.clock.now()
                self._log.end(token)
                if request_log.isEnabledFor(logging.INFO):
                    request_log.info("%s", _log_line(record))

        return endpoint

    async def _answer(
        self, request: Request, handler: Handler, api: str, record: RequestRecord
    ) -> Response:
        if record.started_at - self._last_sweep >= SWEEP_EVERY_S:
            self._last_sweep = record.started_at
            self._service.sweep()
        delay = self.faults.latency()
        if delay:
            await self.clock.sleep(delay)
        if self.faults.should_drop(request.scope):
            record.status = 0
            record.extra["dropped"] = True
            return _NoAnswer(record.command, after_work=False)
        try:
            response = await handler(request)
        except (p.V2Problem, V1Error) as exc:
            response = exc.response
        except RateLimited:
            response = _too_many_requests(api)
        except InjectedFault as exc:
            response = _injected(api, exc.status)
        except UploadRefused as exc:
            from ._v2 import _refusal

            response = v1_refusal(exc) if api == "v1.1" else _refusal(exc)
        except BodyError as exc:
            response = p.invalid_request([p.message(str(exc))])
        except ClientDisconnect:
            # The client went away mid-request: nothing to answer, nothing to trace.
            log.warning("client went away mid-request: %s %s", request.method, request.url.path)
            record.status = 0
            record.extra["client_disconnected"] = True
            return Response(status_code=400)
        except Exception:
            # A bug of ours must still look like X's 500, never a traceback.
            log.exception("emulator error on %s %s", request.method, request.url.path)
            response = p.problem(
                500,
                {
                    "title": "Internal Server Error",
                    "detail": "Internal Server Error",
                    "type": p.problem_type("internal-error"),
                    "status": 500,
                },
            )
            if api == "v1.1":
                response = v1_internal_error()
        headers = record.extra.get("rate_limit_headers")
        if headers:
            response.headers.update(headers)
        # X tags every answer with the id its support asks for.
        response.headers["x-transaction-id"] = secrets.token_hex(8)
        record.status = response.status_code
        return response

    async def _not_found(self, request: Request, exc: Exception) -> Response:
        return JSONResponse(
            {"errors": [{"code": 34, "message": "Sorry, that page does not exist"}]},
            status_code=404,
        )

    # introspection over HTTP, for a server in another process

    async def _media_json(self, request: Request) -> Response:
        return JSONResponse([asdict(record) for record in self.media])

    async def _requests_json(self, request: Request) -> Response:
        return JSONResponse([asdict(record) for record in self.requests])

    async def _health(self, request: Request) -> Response:
        return JSONResponse({"ok": True, "now": self.clock.now(), "state_id": self.state_id})


class _NoAnswer(Response):
    """Closes the connection without an answer: before the work (a drop) or after it (lost).

    Over a socket served by `serve`/`running` the connection is closed at once, so the client
    reads nothing at all. Under another server the response is started and then failed, which
    closes the connection after the status line. In-process there is no connection: a lost
    answer raises `AnswerLost` out of the app.
    """

    def __init__(self, command: str | None, *, after_work: bool) -> None:
        super().__init__(status_code=200, headers={"content-length": "1048576"})
        self.command = command
        self.after_work = after_work

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        close = connection_closer(scope)
        if close is not None:
            await close()
            return
        if over_socket(scope):
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            raise ConnectionDropped("fault injection: connection closed without an answer")
        raise AnswerLost(self.command)


def _client_of(request: Request) -> str | None:
    client = request.client
    return f"{client.host}:{client.port}" if client else None


def _log_line(record: RequestRecord) -> str:
    """One line per request, never with query values or bodies (they may carry secrets)."""
    who = record.client or "-"
    status = record.status if record.status is not None else "-"
    if record.extra.get("lost"):
        status = f"{status} (answer lost)"
    elif record.extra.get("dropped"):
        status = "dropped"
    elif record.extra.get("client_disconnected"):
        status = "client went away"
    elapsed = record.elapsed_s
    took = f"{elapsed * 1000:.1f}ms" if elapsed is not None else "-"
    parts = [who, record.method, record.path, record.command or "-", str(status), took]
    if record.media_id:
        parts.append(f"media_id={record.media_id}")
    if record.segment_index is not None:
        parts.append(f"segment={record.segment_index}")
    return " ".join(parts)


_V1_FAULTS = {500: (131, "Internal error"), 503: (130, "Over capacity")}
_V2_FAULT_TITLES = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}


def _injected(api: str, status: int) -> Response:
    if status == 429:
        return _too_many_requests(api)
    if api == "v1.1":
        code, text = _V1_FAULTS.get(status, (131, "Internal error"))
        return JSONResponse({"errors": [{"code": code, "message": text}]}, status_code=status)
    title = _V2_FAULT_TITLES.get(status, "Error")
    return p.problem(
        status, {"title": title, "detail": title, "type": "about:blank", "status": status}
    )


def _faults_setting(
    faults: Faults | Mapping[str, Mapping[str | int, float]],
    drop_rate: float | None,
    latency: Latency,
    bandwidth: float | None,
    seed: int | None,
) -> Faults:
    base = faults if isinstance(faults, Faults) else faults_table(faults, seed)
    changes: dict[str, Any] = {}
    if drop_rate is not None:
        changes["drop_rate"] = drop_rate
    if latency is not None:
        changes["latency"] = latency
    if bandwidth is not None:
        changes["bandwidth"] = bandwidth
    return replace(base, **changes) if changes else base


def _too_many_requests(api: str) -> Response:
    if api == "v1.1":
        return JSONResponse(
            {"errors": [{"code": 88, "message": "Rate limit exceeded"}]}, status_code=429
        )
    return p.problem(
        429,
        {
            "title": "Too Many Requests",
            "detail": "Too Many Requests",
            "type": "about:blank",
            "status": 429,
        },
    )
