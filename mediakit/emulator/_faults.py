"""Seeded fault injection: 5xx answers, 429 bursts, dropped connections, lost answers,
latency, bandwidth.

Status faults and 429 bursts are drawn per command after a request is authenticated and
counted, so they look like X's gateway failing a request that did nothing: a retry is safe.
A lost answer is the opposite: the work is done and committed, then the connection closes
without an answer, as a network does when it fails on the way back. The client cannot tell
the two apart, which is what a retrying client must survive (a retried INIT leaves an orphan
session, a retried FINALIZE meets a finalized id, a retried APPEND replaces its segment).

Dropped connections and bandwidth caps need a socket: in-process (`httpx.ASGITransport`) there
is no connection to close or to slow down, so they apply only when the emulator is served. A
lost answer in-process raises `AnswerLost` (a `ConnectionResetError`) out of the app, after the
work; `mediakit._http.asgi_transport` turns it into the `httpx.RemoteProtocolError` a socket
gives.
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .._errors import ConfigurationError

__all__ = [
    "COMMANDS",
    "AnswerLost",
    "ConnectionDropped",
    "FaultInjector",
    "Faults",
    "InjectedFault",
    "parse_fault",
    "parse_latency",
]

Latency = float | tuple[float, float] | Callable[[random.Random], float] | None
# What a fault can name: the commands the emulator counts (and `*` for all of them).
COMMANDS = ("INIT", "APPEND", "FINALIZE", "STATUS", "UPLOAD", "METADATA", "SUBTITLES")
LOST = "lost"


@dataclass(frozen=True)
class Faults:
    """What to inject. `statuses` maps a command (INIT, APPEND, …, or "*") to {status: rate};
    `lost` maps a command to the share of its answers lost after the work is done."""

    statuses: Mapping[str, Mapping[int, float]] = field(default_factory=dict)
    lost: Mapping[str, float] = field(default_factory=dict)
    drop_rate: float = 0.0
    latency: Latency = None
    bandwidth: float | None = None  # bytes per second per connection, for request bodies
    seed: int | None = None

    def __post_init__(self) -> None:
        for command in (*self.statuses, *self.lost):
            _check_command(command)
        for table in self.statuses.values():
            for status, rate in table.items():
                _check_status(status)
                _check_rate(rate, f"fault rate for {status}")
        for rate in self.lost.values():
            _check_rate(rate, "lost-answer rate")
        _check_rate(self.drop_rate, "drop_rate")
        if self.bandwidth is not None and not (
            math.isfinite(self.bandwidth) and self.bandwidth > 0
        ):
            raise ConfigurationError(
                f"bandwidth must be a positive number of bytes/s, not {self.bandwidth}"
            )
        if isinstance(self.latency, int | float) and not (
            math.isfinite(self.latency) and self.latency >= 0
        ):
            raise ConfigurationError(
                f"latency must be a finite number of seconds >= 0, not {self.latency}"
            )
        if isinstance(self.latency, tuple):
            low, high = self.latency
            if not (math.isfinite(low) and math.isfinite(high) and 0 <= low <= high):
                raise ConfigurationError(
                    f"latency range must be 0 <= LOW <= HIGH, not {self.latency}"
                )

    @property
    def active(self) -> bool:
        return (
            bool(self.statuses)
            or bool(self.lost)
            or self.drop_rate > 0
            or self.latency is not None
            or bool(self.bandwidth)
        )


class InjectedFault(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


class ConnectionDropped(Exception):
    """Raised after the response has started, so the server closes the connection."""


class AnswerLost(ConnectionResetError):
    """In-process stand-in for a connection that closed after the work, before the answer."""

    def __init__(self, command: str | None = None) -> None:
        super().__init__(f"fault injection: the answer to {command or 'the request'} was lost")


def _check_command(command: str, where: str = "") -> None:
    if command != "*" and command not in COMMANDS:
        raise ConfigurationError(
            f"unknown command {command!r}{where}: use one of {', '.join(COMMANDS)} or *"
        )


def _check_status(status: int, where: str = "") -> None:
    if not 400 <= status <= 599:
        raise ConfigurationError(
            f"a fault's status must be 4xx or 5xx (or 'lost'), not {status}{where}"
        )


def _check_rate(rate: float, what: str) -> None:
    if not (isinstance(rate, int | float) and math.isfinite(rate) and 0 <= rate <= 1):
        raise ConfigurationError(f"{what} must be between 0 and 1, not {rate!r}")


def parse_fault(text: str) -> tuple[str, int | str, float]:
    """`APPEND:503:0.02` → ("APPEND", 503, 0.02); `FINALIZE:lost:0.05` → (…, "lost", 0.05)."""
    try:
        command, status, rate = text.split(":")
        share = float(rate)
        kind: int | str = LOST if status.strip().lower() == LOST else int(status)
    except ValueError:
        raise ConfigurationError(
            f"expected COMMAND:STATUS:RATE such as APPEND:503:0.02 or FINALIZE:lost:0.05, "
            f"not {text!r}"
        ) from None
    command = command.strip().upper()
    _check_command(command, f" in {text!r}")
    if isinstance(kind, int):
        _check_status(kind, f" in {text!r}")
    _check_rate(share, f"the rate in {text!r}")
    return command, kind, share


def faults_table(
    entries: Mapping[str, Mapping[str | int, float]], seed: int | None = None
) -> Faults:
    """`{"APPEND": {503: 0.02}, "FINALIZE": {"lost": 0.05}}` → `Faults` (statuses and lost)."""
    statuses: dict[str, dict[int, float]] = {}
    lost: dict[str, float] = {}
    for command, table in entries.items():
        name = command.upper()
        for status, rate in table.items():
            if isinstance(status, str) and status.strip().lower() == LOST:
                lost[name] = float(rate)
            else:
                try:
                    code = int(status)
                except ValueError:
                    raise ConfigurationError(
                        f"a fault's status must be a 4xx/5xx code or 'lost', not {status!r}"
                    ) from None
                statuses.setdefault(name, {})[code] = float(rate)
    return Faults(statuses=statuses, lost=lost, seed=seed)


def parse_latency(text: str) -> float | tuple[float, float]:
    """`150ms`, `0.2s`, `0.2`, or a range `50ms-200ms` → seconds."""

    def seconds(part: str) -> float:
        part = part.strip().lower()
        if part.endswith("ms"):
            return float(part[:-2]) / 1000
        return float(part.removesuffix("s"))

    try:
        if "-" in text:
            low, high = (seconds(p) for p in text.split("-", 1))
            if not (math.isfinite(low) and math.isfinite(high) and 0 <= low <= high):
                raise ValueError
            return (low, high)
        value = seconds(text)
        if not (math.isfinite(value) and value >= 0):
            raise ValueError
        return value
    except ValueError:
        raise ConfigurationError(
            f"expected a latency like 150ms, 0.2s or 50ms-200ms, not {text!r}"
        ) from None


class FaultInjector:
    def __init__(self, faults: Faults) -> None:
        self.faults = faults
        self._rng = random.Random(faults.seed)

    def maybe_fail(self, command: str) -> None:
        table = dict(self.faults.statuses.get("*", {}))
        table.update(self.faults.statuses.get(command, {}))
        for status, rate in table.items():
            if rate > 0 and self._rng.random() < rate:
                raise InjectedFault(status)

    def should_lose(self, command: str | None) -> bool:
        """Whether to lose the answer to this (done) request: drawn per command, seeded."""
        if command not in COMMANDS or not self.faults.lost:
            return False  # the token endpoint and introspection are not media commands
        rate = self.faults.lost.get(command, self.faults.lost.get("*", 0.0))
        return rate > 0 and self._rng.random() < rate

    def should_drop(self, scope: Scope) -> bool:
        return (
            over_socket(scope)
            and self.faults.drop_rate > 0
            and self._rng.random() < self.faults.drop_rate
        )

    def latency(self) -> float:
        spec = self.faults.latency
        if spec is None:
            return 0.0
        if callable(spec):
            return max(0.0, float(spec(self._rng)))
        if isinstance(spec, tuple):
            return self._rng.uniform(*spec)
        return float(spec)

    def throttle(self, receive: Receive) -> Receive:
        """A `receive` that delivers the body no faster than the bandwidth cap."""
        bandwidth = self.faults.bandwidth
        if not bandwidth:
            return receive

        async def throttled() -> Message:
            message = await receive()
            body: Any = message.get("body", b"")
            if body:
                await asyncio.sleep(len(body) / bandwidth)
            return message

        return throttled

    def socket_app(self, app: ASGIApp) -> ASGIApp:
        """The app as a socket server runs it: marked as served, bandwidth capped."""

        async def served(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "http":
                scope = {**scope, "mediakit.socket": True}
                receive = self.throttle(receive)
            await app(scope, receive, send)

        return served


def over_socket(scope: Scope) -> bool:
    return bool(scope.get("mediakit.socket"))
