"""Closing a client's connection from inside the app, for faults that end with no answer.

ASGI has no way for an HTTP app to close its connection without answering. The emulator's
own server (`serve`, `running`) registers each connection here, keyed by the server and client
addresses every request's scope carries, with a coroutine that closes it; the app looks its
connection up when a fault says the answer must never arrive.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.types import Scope

__all__ = ["connection_closer", "forget", "register"]

Closer = Callable[[], Awaitable[None]]
Key = tuple[Any, Any]

_open: dict[Key, Closer] = {}


def _key(server: Any, client: Any) -> Key:
    return (tuple(server) if server else None, tuple(client) if client else None)


def register(server: Any, client: Any, close: Closer) -> None:
    _open[_key(server, client)] = close


def forget(server: Any, client: Any) -> None:
    _open.pop(_key(server, client), None)


def connection_closer(scope: Scope) -> Closer | None:
    """The coroutine that closes the connection of the request in `scope`, if one is known."""
    if not scope.get("mediakit.socket"):
        return None
    return _open.get(_key(scope.get("server"), scope.get("client")))
