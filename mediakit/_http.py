"""The single import seam for httpx: every HTTP client mediakit makes is made here."""

from __future__ import annotations

import ipaddress
from typing import Any
from urllib.parse import urlsplit

import httpx

from ._errors import ConfigurationError

__all__ = ["asgi_transport", "httpx", "is_loopback", "make_client"]

DEFAULT_TIMEOUT = httpx.Timeout(60.0, connect=15.0)


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
) -> httpx.AsyncClient:
    """An `httpx.AsyncClient` for X or an emulator.

    TLS is verified unless `verify=False`; plain http is refused for anything but loopback
    (a socket emulator on 127.0.0.1) unless `allow_insecure=True`, because OAuth headers and
    bearer tokens would travel in clear.
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
    return httpx.AsyncClient(
        base_url=base_url,
        transport=transport,
        auth=auth,
        timeout=timeout_arg,
        verify=verify_arg,
        proxy=proxy,
        limits=httpx.Limits(
            max_connections=max_connections, max_keepalive_connections=max_connections
        ),
        headers={"user-agent": "mediakit"},
    )
