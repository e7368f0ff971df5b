"""The single import seam for httpx: every HTTP client mediakit makes is made here."""

from __future__ import annotations

import ipaddress
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx

from ._errors import ConfigurationError

__all__ = ["asgi_transport", "has_http2", "httpx", "is_loopback", "make_client", "pool_size"]

DEFAULT_TIMEOUT = httpx.Timeout(60.0, connect=15.0)
# A connection idle while files wait for processing is worth keeping: a new TLS handshake
# costs two round trips more than a request on a warm connection.
KEEPALIVE_S = 30.0
POLL_CONNECTIONS = 16  # the STATUS poller's requests in flight at most (`_batch`)


def has_http2() -> bool:
    """Whether httpx can speak HTTP/2 here (the `h2` package, httpx's `http2` extra)."""
    import importlib.util

    return importlib.util.find_spec("h2") is not None


def pool_size(files: int, segment_concurrency: int) -> int:
    """Connections for `files` uploading at once, each with its APPENDs, beside the polls."""
    return files * segment_concurrency + POLL_CONNECTIONS


def is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _ASGITransport(httpx.ASGITransport):
    """httpx's in-process transport, where an app that loses its connection reads as one.

    The emulator's lost-answer fault does the work and then raises a `ConnectionError` (it
    has no socket to close); a client must meet what a socket gives it in that case.
    """

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return await super().handle_async_request(request)
        except ConnectionError as exc:
            raise httpx.RemoteProtocolError(
                "Server disconnected without sending a response.", request=request
            ) from exc


def asgi_transport(app: Any) -> httpx.AsyncBaseTransport:
    """An in-process transport to an ASGI app (the emulator), with socket-like failures."""
    return _ASGITransport(app=app)


def make_client(
    base_url: str,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    auth: httpx.Auth | None = None,
    timeout: float | httpx.Timeout | None = None,
    verify: bool | str = True,
    proxy: str | None = None,
    allow_insecure: bool = False,
    max_connections: int = 32,
    http2: bool | None = False,
) -> httpx.AsyncClient:
    """An `httpx.AsyncClient` for X or an emulator.

    TLS is verified unless `verify=False`; plain http is refused for anything but loopback
    (a socket emulator on 127.0.0.1) unless `allow_insecure=True`, because OAuth headers and
    bearer tokens would travel in clear. The pool keeps `max_connections` alive (sized by the
    caller for its concurrency, `pool_size`), each for `KEEPALIVE_S` idle. `http2=True` (or
    None: when `h2` is installed) offers HTTP/2 over TLS, where the server may pick it (ALPN);
    plain http and an in-process transport stay HTTP/1.1. Batches do not ask for it: with
    httpx 0.28 and h2 4.4 concurrent uploads over HTTP/2 met read timeouts (tests/test_http2.py).
    """
    scheme = urlsplit(base_url).scheme
    if scheme not in ("http", "https"):
        raise ConfigurationError(f"base_url must start with https:// (got {base_url!r})")
    if scheme == "http" and transport is None and not allow_insecure and not is_loopback(base_url):
        raise ConfigurationError(
            f"refusing plain http to {urlsplit(base_url).hostname}: credentials would travel in "
            "clear; use https, or allow_insecure=True for a trusted network"
        )
    if isinstance(verify, str):
        import ssl

        verify_arg: bool | ssl.SSLContext = ssl.create_default_context(cafile=verify)
    else:
        verify_arg = verify
    if timeout is None:
        timeout_arg = DEFAULT_TIMEOUT
    elif isinstance(timeout, httpx.Timeout):
        timeout_arg = timeout
    else:
        timeout_arg = httpx.Timeout(timeout)
    client = httpx.AsyncClient(
        base_url=base_url,
        transport=transport,
        auth=auth,
        timeout=timeout_arg,
        verify=verify_arg,
        proxy=proxy,
        limits=httpx.Limits(
            max_connections=max_connections,
            max_keepalive_connections=max_connections,
            keepalive_expiry=KEEPALIVE_S,
        ),
        http2=has_http2() if http2 is None else http2,
        headers={"user-agent": "mediakit"},
    )
    _close_cancelled_handshakes(client)
    return client


def _close_cancelled_handshakes(client: httpx.AsyncClient) -> None:
    """Make the client's own transports close a connection whose TLS handshake is cancelled.

    httpcore's backend closes the socket when a handshake fails, but not when it is cancelled
    (it catches `Exception`, and cancellation is a `BaseException`), so a batch stopped while
    connections were being set up left sockets open until the garbage collector found them.
    The transports and their pools' backends are private attributes: where one is not there,
    nothing changes.
    """
    mounts = getattr(client, "_mounts", {})
    for transport in (getattr(client, "_transport", None), *mounts.values()):
        if not isinstance(transport, httpx.AsyncHTTPTransport):
            continue
        pool = getattr(transport, "_pool", None)
        backend = getattr(pool, "_network_backend", None)
        if backend is not None and not isinstance(backend, _CancelSafeBackend):
            pool._network_backend = _CancelSafeBackend(backend)  # type: ignore[union-attr]


class _CancelSafeBackend(httpcore.AsyncNetworkBackend):
    def __init__(self, inner: httpcore.AsyncNetworkBackend) -> None:
        self._inner = inner

    async def connect_tcp(self, *args: Any, **kwargs: Any) -> httpcore.AsyncNetworkStream:
        return _CancelSafeStream(await self._inner.connect_tcp(*args, **kwargs))

    async def connect_unix_socket(self, *args: Any, **kwargs: Any) -> httpcore.AsyncNetworkStream:
        return _CancelSafeStream(await self._inner.connect_unix_socket(*args, **kwargs))

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _CancelSafeStream(httpcore.AsyncNetworkStream):
    def __init__(self, inner: httpcore.AsyncNetworkStream) -> None:
        self._inner = inner

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:  # noqa: ASYNC109 (httpcore's signature)
        return await self._inner.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:  # noqa: ASYNC109
        await self._inner.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(self, *args: Any, **kwargs: Any) -> httpcore.AsyncNetworkStream:
        try:
            return await self._inner.start_tls(*args, **kwargs)
        except BaseException:
            await self._inner.aclose()
            raise

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)
