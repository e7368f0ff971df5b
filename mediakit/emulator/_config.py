"""The emulator's settings and the credentials it accepts.

The demo set is public on purpose: it is how the built-in target, the notebooks and the
README examples authenticate, and it only ever works against the emulator.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from .._clock import Clock, SystemClock
from .._limits import Limits
from ._faults import Faults
from ._ratelimit import RateLimits

__all__ = [
    "DEMO",
    "DemoCredentials",
    "EmulatorConfig",
    "OAuth1Account",
    "UserTokenGrant",
]

ProcessingSeconds = tuple[float, float] | float | Callable[..., float]


@dataclass(frozen=True)
class DemoCredentials:
    """The credentials every emulator accepts unless told otherwise."""

    consumer_key: str = "mediakit-demo-consumer-key"
    consumer_secret: str = "mediakit-demo-consumer-secret"  # noqa: S105 - public demo value
    access_token: str = "1000000000000000001-mediakit-demo-access-token"  # noqa: S105
    access_token_secret: str = "mediakit-demo-access-token-secret"  # noqa: S105
    # A second account, so tests can show that one user cannot touch another's media.
    other_access_token: str = "1000000000000000002-mediakit-demo-other-token"  # noqa: S105
    other_access_token_secret: str = "mediakit-demo-other-token-secret"  # noqa: S105
    user_token: str = "mediakit-demo-user-token"  # noqa: S105
    refresh_token: str = "mediakit-demo-refresh-token"  # noqa: S105
    client_id: str = "mediakit-demo-client-id"
    app_bearer_token: str = "mediakit-demo-app-bearer-token"  # noqa: S105
    user_id: str = "1000000000000000001"
    other_user_id: str = "1000000000000000002"


DEMO = DemoCredentials()

USER_SCOPES = frozenset(
    {"media.write", "tweet.read", "tweet.write", "users.read", "offline.access"}
)


@dataclass(frozen=True)
class OAuth1Account:
    """An OAuth 1.0a access token the emulator accepts, and the user it stands for."""

    access_token: str
    access_token_secret: str
    user_id: str


@dataclass(frozen=True)
class UserTokenGrant:
    """An OAuth 2.0 user access token the emulator accepts from the start."""

    access_token: str
    user_id: str
    scopes: frozenset[str] = USER_SCOPES
    # Seconds after the emulator first stores the token; None never expires.
    lifetime_s: float | None = None
    refresh_token: str | None = None
    client_id: str | None = None


def _user_id_from_token(token: str) -> str:
    # X's OAuth 1.0a access tokens start with the numeric id of the user they belong to.
    head = token.split("-", 1)[0]
    return head if head.isdigit() else "1000000000000000009"


@dataclass(frozen=True)
class EmulatorConfig:
    """Everything an `Emulator` can be told. See `mediakit.Emulator` for the meaning of each."""

    clock: Clock = field(default_factory=SystemClock)
    seed: int | None = None
    limits: Limits = field(default_factory=Limits)
    # Processing time per media: (low, high) seconds drawn uniformly, a fixed number, or a
    # callable(rng, size, category) -> seconds.
    processing_seconds: ProcessingSeconds = (2.0, 8.0)
    processing_failure_rate: float = 0.0
    session_ttl_s: float = 86400.0
    amplify_session_ttl_s: float = 1_295_999.0
    media_ttl_s: float = 86400.0
    max_check_after_secs: int = 5
    # Accepted credentials.
    consumer_key: str = DEMO.consumer_key
    consumer_secret: str = DEMO.consumer_secret
    oauth1_accounts: tuple[OAuth1Account, ...] = (
        OAuth1Account(DEMO.access_token, DEMO.access_token_secret, DEMO.user_id),
        OAuth1Account(DEMO.other_access_token, DEMO.other_access_token_secret, DEMO.other_user_id),
    )
    user_tokens: tuple[UserTokenGrant, ...] = (
        UserTokenGrant(
            DEMO.user_token,
            DEMO.user_id,
            refresh_token=DEMO.refresh_token,
            client_id=DEMO.client_id,
        ),
    )
    app_bearer_tokens: tuple[str, ...] = (DEMO.app_bearer_token,)
    client_ids: tuple[str, ...] = (DEMO.client_id,)
    # Confidential clients: client id -> secret (HTTP Basic on the token endpoint).
    client_secrets: Mapping[str, str] = field(default_factory=dict)
    token_lifetime_s: float = 7200.0
    oauth_max_skew_s: float = 300.0
    # Storage.
    state_path: Path | None = None
    spool_dir: Path | None = None
    keep_media: bool = False
    # Compatibility switches for behaviour X changed over time.
    allow_command_form: bool = False
    status_of_sync_media: Literal["not_found", "object"] = "not_found"
    finalize_twice: Literal["idempotent", "error"] = "idempotent"
    check_media_type_matches: bool = False
    request_log_size: int = 100_000
    # X's published per-user (15 min) and per-app (24 h) budgets; None turns limiting off.
    rate_limits: RateLimits | None = field(default_factory=RateLimits)
    faults: Faults = field(default_factory=Faults)

    @property
    def uses_demo_credentials(self) -> bool:
        return self.consumer_key == DEMO.consumer_key

    @staticmethod
    def oauth1_account(access_token: str, access_token_secret: str) -> OAuth1Account:
        return OAuth1Account(access_token, access_token_secret, _user_id_from_token(access_token))
