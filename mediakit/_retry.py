"""How hard a request is tried: attempts, backoff, and the longest wait for a rate-limit reset."""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass

from ._check import seconds, whole_number

__all__ = ["RETRY_STATUSES", "RetryPolicy", "retry_delay"]

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
"""HTTP statuses a retry can cure: timeouts, rate limits, X's gateway failing."""


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try a request. Delays are seconds of the client's clock.

    Args:
        max_attempts: attempts per request, the first included (1 means no retry).
        backoff_base_s: the first backoff; each retry doubles it, with jitter.
        backoff_max_s: the longest single backoff.
        max_rate_limit_wait_s: the longest wait for a spent rate-limit window to reset
            before the request gives up with `RateLimitError`.

    Raises:
        ConfigurationError: a value that is not a positive number (of the right type).
    """

    max_attempts: int = 6
    backoff_base_s: float = 1.0
    backoff_max_s: float = 60.0
    max_rate_limit_wait_s: float = 16 * 60.0

    def __post_init__(self) -> None:
        whole_number("RetryPolicy.max_attempts", self.max_attempts, minimum=1)
        seconds("RetryPolicy.backoff_base_s", self.backoff_base_s)
        seconds("RetryPolicy.backoff_max_s", self.backoff_max_s)
        seconds("RetryPolicy.max_rate_limit_wait_s", self.max_rate_limit_wait_s)

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Seconds to wait before retry number `attempt` (1-based): exponential, half jitter."""
        ceiling = min(self.backoff_max_s, self.backoff_base_s * 2.0 ** (attempt - 1))
        return ceiling / 2 + rng.uniform(0, ceiling / 2)


def retry_delay(
    status: int,
    headers: Mapping[str, str],
    attempt: int,
    policy: RetryPolicy,
    rng: random.Random,
    now: float,
) -> float:
    """Seconds to wait before retrying an answer with `status` (408, 429, 5xx).

    `retry-after` when given. A 429 waits for the reset only when a window is spent (its
    `x-rate-limit-remaining`, or the app's 24-hour one, is 0): a 429 while the window still
    has budget is a burst limit, so it backs off like any other retry (waiting 15 minutes
    for a reset there stalled whole batches).
    """
    retry_after = _number(headers, "retry-after")
    if retry_after is not None:
        return max(0.0, retry_after)
    if status == 429:
        for remaining, reset in (
            ("x-rate-limit-remaining", "x-rate-limit-reset"),
            ("x-app-limit-24hour-remaining", "x-app-limit-24hour-reset"),
        ):
            left, at = _number(headers, remaining), _number(headers, reset)
            if left is not None and left <= 0 and at is not None:
                return max(1.0, at - now + 1.0)
    return policy.backoff(attempt, rng)


def _number(headers: Mapping[str, str], name: str) -> float | None:
    value = headers.get(name)
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
