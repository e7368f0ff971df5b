"""X's rate limits: per user and endpoint in 15-minute windows, per app in 24-hour windows.

Numbers are X's published v2 limits (x-media-api.md §4.1). X never published v1.1 media
numbers, so v1.1 commands are charged to the matching v2 endpoint's budget. Windows are fixed:
one opens at the first request and resets at its end, which `x-rate-limit-reset` announces
(epoch seconds). Counts live in memory: processes sharing a state file keep their own.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from .._clock import Clock
from .._limits import X_APP_RATE_LIMITS, X_USER_RATE_LIMITS
from ._faults import FaultInjector
from ._log import note

__all__ = ["V2_APP_LIMITS", "V2_USER_LIMITS", "Limiter", "RateLimited", "RateLimits"]

# X's budgets live in the core's limits table; the old names stay for existing imports.
V2_USER_LIMITS = X_USER_RATE_LIMITS
V2_APP_LIMITS = X_APP_RATE_LIMITS


@dataclass(frozen=True)
class RateLimits:
    """Budgets and window lengths; tests shorten the windows and shrink the numbers."""

    per_user: Mapping[str, int] = field(default_factory=lambda: dict(V2_USER_LIMITS))
    per_app: Mapping[str, int] = field(default_factory=lambda: dict(V2_APP_LIMITS))
    user_window_s: float = 900.0
    app_window_s: float = 86400.0

    def scaled(self, user_window_s: float) -> RateLimits:
        """The same budgets with a shorter user window (the app window shrinks in proportion)."""
        ratio = user_window_s / self.user_window_s
        return RateLimits(self.per_user, self.per_app, user_window_s, self.app_window_s * ratio)


class RateLimited(Exception):
    """A budget is spent; `reset_at` is when its window ends (epoch seconds)."""

    def __init__(self, reset_at: float, limit: int, scope: str) -> None:
        super().__init__(f"{scope} rate limit of {limit} reached until {reset_at:.0f}")
        self.reset_at = reset_at
        self.limit = limit
        self.scope = scope


class _Window:
    __slots__ = ("count", "start")

    def __init__(self, start: float) -> None:
        self.start = start
        self.count = 0


class Limiter:
    def __init__(
        self, limits: RateLimits | None, clock: Clock, faults: FaultInjector | None = None
    ) -> None:
        self.limits = limits
        self._clock = clock
        self._faults = faults
        self._windows: dict[tuple[str, str, str], _Window] = {}

    def _window(self, scope: str, command: str, who: str, length: float) -> _Window:
        now = self._clock.now()
        key = (scope, command, who)
        window = self._windows.get(key)
        if window is None or now >= window.start + length:
            window = self._windows[key] = _Window(now)
        return window

    def charge(self, command: str, user_id: str, app_id: str = "app") -> None:
        """Count one request against its budgets, or raise `RateLimited`.

        Either way the current request learns what to put in its x-rate-limit-* headers.
        A request that passes may then meet an injected fault (`InjectedFault`).
        """
        self._count(command, user_id, app_id)
        if self._faults is not None:
            self._faults.maybe_fail(command)

    def _count(self, command: str, user_id: str, app_id: str) -> None:
        limits = self.limits
        if limits is None or command not in limits.per_user:
            return
        user_limit = limits.per_user[command]
        user = self._window("user", command, user_id, limits.user_window_s)
        user_reset = math.ceil(user.start + limits.user_window_s)
        app_limit = limits.per_app.get(command)
        app = self._window("app", command, app_id, limits.app_window_s)
        app_reset = math.ceil(app.start + limits.app_window_s)
        headers = {
            "x-rate-limit-limit": str(user_limit),
            "x-rate-limit-reset": str(user_reset),
        }
        if user.count >= user_limit:
            headers["x-rate-limit-remaining"] = "0"
            note(rate_limit_headers=headers)
            raise RateLimited(user_reset, user_limit, "user")
        if app_limit is not None:
            headers["x-app-limit-24hour-limit"] = str(app_limit)
            headers["x-app-limit-24hour-reset"] = str(app_reset)
            if app.count >= app_limit:
                headers["x-app-limit-24hour-remaining"] = "0"
                headers["x-rate-limit-remaining"] = str(user_limit - user.count)
                note(rate_limit_headers=headers)
                raise RateLimited(app_reset, app_limit, "app")
            app.count += 1
            headers["x-app-limit-24hour-remaining"] = str(app_limit - app.count)
        user.count += 1
        headers["x-rate-limit-remaining"] = str(user_limit - user.count)
        note(rate_limit_headers=headers)

    def reset(self) -> None:
        self._windows.clear()
