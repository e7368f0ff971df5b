"""Serving the emulator over a socket with uvicorn, in the foreground or in a thread."""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any, TextIO

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from . import _connections
from ._app import Emulator
from ._config import DEMO
from ._faults import ConnectionDropped

__all__ = ["banner", "running", "serve"]


def banner(emulator: Emulator, url: str) -> str:
    """Where it listens and what it accepts; secrets only for the public demo set."""
    config = emulator.config
    demo = config.uses_demo_credentials
    lines = [f"mediakit emulator listening on {url}", f"  state:        {emulator.state_path}"]
    lines.append(f"  consumer key: {config.consumer_key}")
    if demo:
        lines.append(f"  consumer secret: {config.consumer_secret}   (demo)")
    for account in config.oauth1_accounts:
        shown = (
            account.access_token_secret
            if account.access_token == DEMO.access_token
            or (account.access_token == DEMO.other_access_token)
            else "(given)"
        )
        lines.append(
            f"  access token: {account.access_token}  secret: {shown}  user {account.user_id}"
        )
    for grant in config.user_tokens:
        token = grant.access_token if grant.access_token == DEMO.user_token else "(given)"
        lines.append(f"  OAuth 2.0 user token: {token}  scopes: {' '.join(sorted(grant.scopes))}")
    for bearer in config.app_bearer_tokens:
        token = bearer if bearer == DEMO.app_bearer_token else "(given)"
        lines.append(f"  app-only bearer token: {token}  (refused for uploads, as X does)")
    lines.append("  Ctrl-C stops it.")
    return "\n".join(lines)


class _QuietDrops(logging.Filter):
    """Keep uvicorn from printing a traceback for every connection we drop on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, ConnectionDropped)


logging.getLogger("uvicorn.error").addFilter(_QuietDrops())


class _Protocol(H11Protocol):
    """uvicorn's h11 protocol, with each connection registered so a fault can close it."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._closed = asyncio.Event()
        _connections.register(self.server, self.client, self._close_now)

    def connection_lost(self, exc: Exception | None) -> None:
        _connections.forget(self.server, self.client)
        super().connection_lost(exc)
        self._closed.set()

    async def _close_now(self) -> None:
        # FIN, as a front end that gives up on a request does; the client reads "server
        # disconnected without sending a response". Wait until uvicorn has seen the close,
        # so it does not answer with a 500 of its own.
        self.transport.close()
        try:
            await asyncio.wait_for(self._closed.wait(), 1.0)
        except TimeoutError:
            self.transport.abort()
            await self._closed.wait()


def _listening_socket(host: str, port: int) -> socket.socket:
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY on accepted connections only when the
    # listening socket says TCP, and without it every reused connection waits ~40 ms (Nagle).
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    # Listening before any banner: a client that reads it and connects at once is queued.
    sock.listen(2048)
    return sock


def _config(emulator: Emulator, host: str, port: int, **options: Any) -> uvicorn.Config:
    return uvicorn.Config(
        emulator.socket_app,
        host=host,
        port=port,
        http=_Protocol,
        log_level=options.pop("log_level", "warning"),
        # uvicorn's own access log would print query strings; `--log-requests` uses ours.
        access_log=False,
        lifespan="off",
        timeout_keep_alive=emulator.config.keep_alive_s,  # type: ignore[arg-type]
        **options,
    )


def serve(
    emulator: Emulator,
    host: str = "127.0.0.1",
    port: int = 8765,
    *,
    ssl_certfile: str | None = None,
    ssl_keyfile: str | None = None,
    out: TextIO = sys.stdout,
) -> None:
    """Serve in the foreground until Ctrl-C or SIGTERM, printing where it listens first.

    Both signals stop it the same way: connections are closed, and the caller's cleanup
    (`Emulator.close`, which removes a temporary state) runs.
    """
    scheme = "https" if ssl_certfile else "http"
    sock = _listening_socket(host, port)
    bound_port = sock.getsockname()[1]
    shown_host = f"[{host}]" if ":" in host else host
    config = _config(emulator, host, bound_port, ssl_certfile=ssl_certfile, ssl_keyfile=ssl_keyfile)
    server = uvicorn.Server(config)
    previous: dict[int, Any] = {}
    try:
        previous = _stop_on_signals(server)
        print(banner(emulator, f"{scheme}://{shown_host}:{bound_port}"), file=out, flush=True)
        asyncio.run(server.serve(sockets=[sock]))
    except KeyboardInterrupt:
        pass
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        sock.close()


def _stop_on_signals(server: uvicorn.Server) -> dict[int, Any]:
    """While the server runs, SIGINT and SIGTERM ask it to shut down (a second one forces it).

    A flag, not an exception: an exception raised into the event loop before uvicorn has
    taken the signals over can leave its task unable to finish. And not Python's default
    SIGINT handler, because `asyncio.run` then installs its own and resets its interrupt
    count afterwards (CPython 3.11 Lib/asyncio/runners.py, `Runner.run`): a Ctrl-C landing
    between the two cancels the server uncounted, and a bare CancelledError exits 1.
    """

    def stop(signum: int, frame: FrameType | None) -> None:
        if server.should_exit:
            server.force_exit = True
        server.should_exit = True

    if threading.current_thread() is not threading.main_thread():
        return {}
    return {signum: signal.signal(signum, stop) for signum in (signal.SIGINT, signal.SIGTERM)}


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _interrupt_on_stop_signals() -> dict[int, Any]:
    """SIGINT and SIGTERM raise KeyboardInterrupt (SIGTERM's default would kill the process
    before any cleanup). For synchronous code only: `serve` swaps in a flag while it runs."""
    if threading.current_thread() is not threading.main_thread():
        return {}
    return {signum: signal.signal(signum, _interrupt) for signum in (signal.SIGINT, signal.SIGTERM)}


@contextmanager
def running(
    emulator: Emulator,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    ssl_certfile: str | None = None,
    ssl_keyfile: str | None = None,
) -> Iterator[str]:
    """Serve in a background thread of this process; yields the base URL.

    The server shares this process's clock with its caller, so a scaled clock speeds up both.
    """
    sock = _listening_socket(host, port)
    bound_port = sock.getsockname()[1]
    config = _config(emulator, host, bound_port, ssl_certfile=ssl_certfile, ssl_keyfile=ssl_keyfile)
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=lambda: asyncio.run(server.serve(sockets=[sock])),
        name="mediakit-emulator",
        daemon=True,
    )
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the emulator server did not start")
        time.sleep(0.01)
    scheme = "https" if ssl_certfile else "http"
    try:
        yield f"{scheme}://{host}:{bound_port}"
    finally:
        server.should_exit = True
        thread.join(timeout=2)
        if thread.is_alive():
            # A client still holds a keep-alive connection open: do not wait for it.
            server.force_exit = True
            thread.join(timeout=5)
        sock.close()
