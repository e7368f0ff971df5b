"""Seeded fault injection: 5xx answers, 429 bursts, dropped connections, latency, bandwidth.

Status faults and 429 bursts are drawn per command after a request is authenticated and
counted, so they look like X's gateway failing a request that did nothing: a retry is safe.
Dropped connections and bandwidth caps need a socket: in-process (`httpx.ASGITransport`) there
is no connection to close or to slow down, so they apply only when the emulator is served.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "ConnectionDropped",
    "FaultInjector",
    "Faults",
    "InjectedFault",
    "parse_fault",
    "parse_latency",
]

Latency = float | tuple[float, float] | Callable[[random.Random], float] | None


@dataclass(frozen=True)
class Faults:
    """What to inject. `statuses` maps a command (INIT, APPEND, …, or "*") to {status: rate}."""

    statuses: Mapping[str, Mapping[int, float]] = field(default_factory=dict)
    drop_rate: float = 0.0
    latency: Latency = None
    bandwidth: float | None = None  # bytes per second per connection, for request bodies
    seed: int | None = None

    @property
    def active(self) -> bool:
        return (
            bool(self.statuses)
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


def parse_fault(text: str) -> tuple[str, int, float]:
    """`APPEND:503:0.02` → ("APPEND", 503, 0.02)."""
    try:
        command, status, rate = text.split(":")
        status_code, share = int(status), float(rate)
    except ValueError:
        raise ValueError(
            f"expected COMMAND:STATUS:RATE such as APPEND:503:0.02, not {text!r}"
        ) from None
    if not (400 <= status_code <= 599 and 0 <= share <= 1):
        raise ValueError(f"status must be 4xx/5xx and rate between 0 and 1 in {text!r}")
    return command.upper(), status_code, share


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
            if low < 0 or high < low:
                raise ValueError
            return (low, high)
        value = seconds(text)
        if value < 0:
            raise ValueError
        return value
    except ValueError:
        raise ValueError(
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
