"""The rate-limit budget per endpoint, learned from X's headers, so waits replace 429s."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass

from ._clock import Clock

__all__ = ["Budget", "RateBudget"]


@dataclass
class Budget:
    limit: int | None = None
    remaining: int | None = None
    reset_at: float | None = None


def _number(headers: Mapping[str, str], name: str) -> float | None:
    value = headers.get(name)
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


class RateBudget:
    """What X said is left of each endpoint's window; `acquire` waits when nothing is left.

    Each request reserves one unit before it is sent, so concurrent requests do not all
    spend the last unit; the next answer's headers correct the count.
    """

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._budgets: dict[str, Budget] = {}
        self._lock = asyncio.Lock()

    def snapshot(self) -> dict[str, Budget]:
        return {key: Budget(b.limit, b.remaining, b.reset_at) for key, b in self._budgets.items()}

    def wait_needed(self, command: str) -> float:
        budget = self._budgets.get(command)
        if budget is None or budget.remaining is None or budget.remaining > 0:
            return 0.0
        if budget.reset_at is None:
            return 0.0
        return max(0.0, budget.reset_at - self._clock.now())

    async def acquire(self, command: str) -> float:
        """Wait until the endpoint has budget, reserve one unit; returns seconds waited."""
        waited = 0.0
        while True:
            async with self._lock:
                delay = self.wait_needed(command)
                if delay <= 0:
                    budget = self._budgets.get(command)
                    if budget is not None and budget.remaining is not None:
                        if budget.reset_at is not None and self._clock.now() >= budget.reset_at:
                            budget.remaining = budget.limit  # the window has turned over
                        if budget.remaining is not None:
                            budget.remaining -= 1
                    return waited
            # One second past the reset: X's reset is whole seconds, rounded.
            await self._clock.sleep(delay + 1.0)
            waited += delay + 1.0
            budget = self._budgets.get(command)
            if budget is not None:
                budget.remaining = budget.limit

    def update(self, command: str, headers: Mapping[str, str]) -> Budget | None:
        limit = _number(headers, "x-rate-limit-limit")
        remaining = _number(headers, "x-rate-limit-remaining")
        reset = _number(headers, "x-rate-limit-reset")
        if limit is None and remaining is None:
            return None
        budget = self._budgets.setdefault(command, Budget())
        if limit is not None:
            budget.limit = int(limit)
        if remaining is not None:
            # Answers arrive out of order; within one window the smaller count is the newer.
            same_window = reset is not None and budget.reset_at == reset
            budget.remaining = (
                min(int(remaining), budget.remaining)
                if same_window and budget.remaining is not None
                else int(remaining)
            )
        if reset is not None:
            budget.reset_at = reset
        return budget
