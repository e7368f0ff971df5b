"""Serving the emulator over a socket with uvicorn, in the foreground or in a thread."""

from __future__ import annotations

import asyncio
import logging
import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

import uvicorn

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
        log_level=options.pop("log_level", "warning"),
        lifespan="off",
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
    """Serve in the foreground until interrupted, printing where it listens first."""
    scheme = "https" if ssl_certfile else "http"
    sock = _listening_socket(host, port)
    bound_port = sock.getsockname()[1]
    shown_host = f"[{host}]" if ":" in host else host
    config = _config(emulator, host, bound_port, ssl_certfile=ssl_certfile, ssl_keyfile=ssl_keyfile)
    server = uvicorn.Server(config)
    try:
        print(banner(emulator, f"{scheme}://{shown_host}:{bound_port}"), file=out, flush=True)
        asyncio.run(server.serve(sockets=[sock]))
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()


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
