"""One injectable clock for everything that reads time.

Expiry, rate-limit windows, OAuth timestamps, processing and STATUS waits all read a
`Clock`. Client and emulator share one when they run in one process, so a `ScaledClock`
makes a test fast without changing what either side sees. A server in another process keeps
real time for everything a client can see and may only shorten processing and latency.
"""

from __future__ import annotations

import asyncio
import math
import time
from typing import Protocol, runtime_checkable

from ._errors import ConfigurationError, ConfigurationTypeError

__all__ = ["Clock", "ManualClock", "ScaledClock", "SystemClock"]


@runtime_checkable
class Clock(Protocol):
    """Wall-clock seconds since the epoch, and a sleep measured in the same seconds."""

    def now(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """Real time."""

    def now(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))

    def __repr__(self) -> str:
        return "SystemClock()"


class ScaledClock:
    """Time that runs `scale` times faster than real time, starting from `start`.

    `ScaledClock(60)` turns a 15-minute rate-limit window into 15 real seconds and a
    `check_after_secs` of 1 into 1/60 s, for both sides at once.
    """

    def __init__(self, scale: float, start: float | None = None) -> None:
        if isinstance(scale, bool) or not isinstance(scale, int | float):
            raise ConfigurationTypeError(f"scale must be a positive number, not {scale!r}")
        if not math.isfinite(scale) or scale <= 0:
            raise ConfigurationError(f"scale must be a positive number, not {scale!r}")
        self.scale = float(scale)
        self._start = time.time() if start is None else float(start)
        self._origin = time.monotonic()

    def now(self) -> float:
        return self._start + (time.monotonic() - self._origin) * self.scale

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds) / self.scale)

    def __repr__(self) -> str:
        return f"ScaledClock(scale={self.scale:g})"


class ManualClock:
    """Time that moves only when told: `advance()` by hand, or `sleep()`, which jumps ahead.

    Made for expiry tests: fast-forward a day without waiting for it.
    """

    def __init__(self, start: float | None = None) -> None:
        self._now = time.time() if start is None else float(start)

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        if not seconds >= 0:  # NaN too
            raise ConfigurationError(f"a clock does not run backwards (advance by {seconds!r})")
        self._now += seconds

    async def sleep(self, seconds: float) -> None:
        self.advance(max(0.0, seconds))
        await asyncio.sleep(0)

    def __repr__(self) -> str:
        return f"ManualClock(now={self._now:.3f})"
