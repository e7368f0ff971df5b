"""Answers lost after the work was done: a test-only ASGI wrapper around the emulator's app.

The real emulator does the work and commits it (its state is written before it answers);
only the answer is lost on the way back, as a network loses it: over a socket the connection
closes after the response started (the client sees "server disconnected"); in-process
(`httpx.ASGITransport`) the same `httpx.RemoteProtocolError` is raised to the client. The
client cannot tell this from a request that never arrived, which is what it must survive: a
retried INIT leaves an orphan session, a retried FINALIZE meets a finalized media id, a
retried APPEND replaces its segment.

The emulator's own `lost` fault (`faults={"FINALIZE": {"lost": 0.05}}`, `--fault
FINALIZE:lost:0.05`) draws each answer at a seeded rate, and the soak uses it. The reliability
cases need more than a rate: "the *first* FINALIZE answer of every file is lost, the retry's is
not" makes each file meet the reconciliation path exactly once, whatever the seed; `first_of`
here gives that, and the emulator has no reason to offer it to users.
"""

from __future__ import annotations

import contextlib
import random
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qs

import httpx
from starlette.types import ASGIApp, Receive, Scope, Send

from mediakit.emulator import Emulator
from mediakit.emulator._faults import ConnectionDropped

__all__ = ["LosesAnswers", "command_of", "lose_answers"]


def command_of(scope: Scope) -> tuple[str | None, str | None]:
    """(command, media id) of a v2 request, from its method and path."""
    path, method = scope.get("path", ""), scope.get("method", "")
    parts = path.strip("/").split("/")
    if parts[:3] != ["2", "media", "upload"]:
        return ("METADATA", None) if path == "/2/media/metadata" else (None, None)
    if len(parts) == 4 and parts[3] == "initialize":
        return "INIT", None
    if len(parts) == 5 and parts[4] in ("append", "finalize"):
        return parts[4].upper(), parts[3]
    if len(parts) == 3 and method == "GET":
        query = parse_qs(scope.get("query_string", b"").decode())
        return "STATUS", (query.get("media_id") or [None])[0]
    return None, None


@dataclass
class LosesAnswers:
    """Loses the answers of a share of each command's requests, after the work is done.

    `rates` maps a command to the share of its answers lost (seeded); `first_of` names
    commands whose first answer per media id is always lost (for INIT, which has no media id
    yet: every other INIT, so with one file at a time each file's retried INIT goes through).
    """

    app: ASGIApp
    rates: Mapping[str, float] = field(default_factory=dict)
    first_of: frozenset[str] = frozenset()
    seed: int = 0
    lost: list[tuple[str, str | None]] = field(default_factory=list)
    _seen: set[tuple[str, str | None]] = field(default_factory=set)
    _counts: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def _should_lose(self, command: str | None, media_id: str | None) -> bool:
        if command is None:
            return False
        with self._lock:
            count = self._counts[command] = self._counts.get(command, 0) + 1
            if command in self.first_of:
                if command == "INIT":  # no media id yet: every other INIT (odd ones) is lost
                    return count % 2 == 1
                if (command, media_id) in self._seen:
                    return False
                self._seen.add((command, media_id))
                return True
            rate = self.rates.get(command, 0.0)
            return rate > 0 and self._rng.random() < rate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        command, media_id = command_of(scope)
        if not self._should_lose(command, media_id):
            await self.app(scope, receive, send)
            return

        async def nowhere(message: Mapping[str, object]) -> None:
            """The answer the emulator sends after committing the work: lost."""

        # The emulator may drop this one itself (its own fault): lost either way.
        with contextlib.suppress(ConnectionDropped):
            await self.app(scope, receive, nowhere)
        with self._lock:
            self.lost.append((command or "", media_id))
        if scope.get("mediakit.socket"):
            # Start an answer, then fail: the server closes the connection without a body.
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-length", b"1048576")],
                }
            )
            raise ConnectionDropped("test: the answer was lost after the work was done")
        raise httpx.RemoteProtocolError("Server disconnected without sending a response.")


def lose_answers(emulator: Emulator, **settings: object) -> tuple[LosesAnswers, Callable[[], None]]:
    """Wrap `emulator` so both its in-process `app` and its `socket_app` lose answers.

    Returns the wrapper (its `lost` lists what was lost) and a function that unwraps.
    """
    original_app, original_socket = emulator.app, emulator.socket_app
    wrapper = LosesAnswers(original_app, **settings)  # type: ignore[arg-type]
    emulator.app = wrapper  # type: ignore[assignment]
    emulator.socket_app = emulator.faults.socket_app(wrapper)

    def unwrap() -> None:
        emulator.app, emulator.socket_app = original_app, original_socket

    return wrapper, unwrap
