"""X's rate limits: per user and endpoint in 15-minute windows, per app in 24-hour windows.

The numbers are X's published v2 limits (`mediakit._limits.X_USER_RATE_LIMITS` and
`X_APP_RATE_LIMITS`); v1.1 commands are charged to the matching v2 endpoint's budget. Windows
are fixed: one opens at the first request and resets at its end, which `x-rate-limit-reset`
announces (epoch seconds). Counts live in the state file, so several servers sharing one state
enforce one budget, as X's front ends do.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from .._clock import Clock
from .._errors import ConfigurationError
from .._limits import X_APP_RATE_LIMITS, X_USER_RATE_LIMITS
from ._faults import FaultInjector
from ._log import note
from ._store import Store

__all__ = ["V2_APP_LIMITS", "V2_USER_LIMITS", "Limiter", "RateLimited", "RateLimits"]

# Old names, kept while callers move to mediakit._limits.
V2_USER_LIMITS = X_USER_RATE_LIMITS
V2_APP_LIMITS = X_APP_RATE_LIMITS


@dataclass(frozen=True)
class RateLimits:
    """Budgets and window lengths; tests shorten the windows and shrink the numbers."""

    per_user: Mapping[str, int] = field(default_factory=lambda: dict(X_USER_RATE_LIMITS))
    per_app: Mapping[str, int] = field(default_factory=lambda: dict(X_APP_RATE_LIMITS))
    user_window_s: float = 900.0
    app_window_s: float = 86400.0

    def __post_init__(self) -> None:
        for name in ("user_window_s", "app_window_s"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise ConfigurationError(
                    f"RateLimits.{name} must be a number of seconds > 0, not {value!r}"
                )
        for table in (self.per_user, self.per_app):
            for command, limit in table.items():
                if not (isinstance(limit, int) and limit >= 0):
                    raise ConfigurationError(
                        f"the rate limit for {command} must be an int >= 0, not {limit!r}"
                    )

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


class Limiter:
    def __init__(
        self,
        limits: RateLimits | None,
        clock: Clock,
        store: Store,
        faults: FaultInjector | None = None,
    ) -> None:
        self.limits = limits
        self._clock = clock
        self._store = store
        self._faults = faults

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
        app_limit = limits.per_app.get(command)
        windows = [("user", command, user_id, limits.user_window_s, user_limit)]
        if app_limit is not None:
            windows.append(("app", command, app_id, limits.app_window_s, app_limit))
        seen, refused = self._store.count_request(windows, self._clock.now())
        user_count, user_start = seen[0]
        user_reset = math.ceil(user_start + limits.user_window_s)
        headers = {
            "x-rate-limit-limit": str(user_limit),
            "x-rate-limit-reset": str(user_reset),
        }
        counted = 0 if refused is not None else 1
        if refused == 0:
            headers["x-rate-limit-remaining"] = "0"
            note(rate_limit_headers=headers)
            raise RateLimited(user_reset, user_limit, "user")
        headers["x-rate-limit-remaining"] = str(user_limit - user_count - counted)
        if app_limit is not None:
            app_count, app_start = seen[1]
            app_reset = math.ceil(app_start + limits.app_window_s)
            headers["x-app-limit-24hour-limit"] = str(app_limit)
            headers["x-app-limit-24hour-reset"] = str(app_reset)
            headers["x-app-limit-24hour-remaining"] = str(app_limit - app_count - counted)
            if refused == 1:
                note(rate_limit_headers=headers)
                raise RateLimited(app_reset, app_limit, "app")
        note(rate_limit_headers=headers)

    def reset(self) -> None:
        self._store.reset_rate_windows()
