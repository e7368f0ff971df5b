"""The emulator's settings and the credentials it accepts.

The demo set is public on purpose: it is how the built-in target, the notebooks and the
README examples authenticate, and it only ever works against the emulator.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from .._clock import Clock, SystemClock
from .._errors import ConfigurationError
from .._limits import Limits
from ._faults import Faults
from ._processing import DEFAULT_PROCESSING_COSTS, ProcessingCost, ProcessingSeconds
from ._ratelimit import RateLimits

__all__ = [
    "DEMO",
    "DemoCredentials",
    "EmulatorConfig",
    "OAuth1Account",
    "UserTokenGrant",
]


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
    # Processing time per category: base + per MB + per second of video, with seeded noise
    # (`ProcessingCost`). `processing_seconds` replaces the model when given: (low, high)
    # drawn uniformly per content, a fixed number, or callable(rng, size, category) -> s.
    processing_costs: Mapping[str, ProcessingCost] = field(
        default_factory=lambda: dict(DEFAULT_PROCESSING_COSTS)
    )
    processing_seconds: ProcessingSeconds | None = None
    # Multiplies every processing time: 0.1 makes a server in another process ten times faster.
    processing_scale: float = 1.0
    processing_failure_rate: float = 0.0
    session_ttl_s: float = 86400.0
    amplify_session_ttl_s: float = 1_295_999.0
    media_ttl_s: float = 86400.0
    # X's FINALIZE says pending with check_after_secs 1 (captures in
    # large-video-upload-python#14, twitteroauth#1222; docs.x.com chunked quickstart); its
    # STATUS example waits 10 s at 8 % (v1.1 STATUS reference). The emulator tells the time
    # left, between 1 and this.
    max_check_after_secs: int = 10
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
    # Compatibility switches for behaviour X changed over time (README, "Known differences").
    allow_command_form: bool = False
    status_of_sync_media: Literal["not_found", "object"] = "not_found"
    finalize_twice: Literal["idempotent", "error"] = "idempotent"
    check_media_type_matches: bool = False
    # v2 initialize without media_category: "post" = tweet_image / tweet_gif / tweet_video by
    # media type (docs.x.com media best practices); "sync" = v1.1's synchronous rules.
    v2_missing_category: Literal["post", "sync"] = "post"
    # POST /2/media/upload: "2026" = OAS v2.167 (video and GIF categories; no media_type or
    # shared); "2025" = images and subtitles only, media_type and shared accepted.
    one_shot_spec: Literal["2026", "2025"] = "2026"
    # Host of problem `type` URIs: docs.x.com and OAS v2.167 say api.x.com; 2025 captures
    # showed api.twitter.com.
    problem_host: str = "api.x.com"
    # v1.1 with a Bearer token: 403 code 220 (users report 403: PLhery/node-twitter-api-v2#167,
    # #371, #417) or 400 code 215.
    v1_bearer_status: Literal[403, 400] = 403
    # Idle keep-alive connections stay open this long over a socket. X answers through
    # Cloudflare ("server: cloudflare tsa_p", PLhery/node-twitter-api-v2#588), which keeps
    # idle HTTP/1.1 client connections for 400 s (developers.cloudflare.com
    # fundamentals/reference/connection-limits).
    keep_alive_s: float = 400.0
    request_log_size: int = 100_000
    # X's published per-user (15 min) and per-app (24 h) budgets; None turns limiting off.
    rate_limits: RateLimits | None = field(default_factory=RateLimits)
    faults: Faults = field(default_factory=Faults)

    def __post_init__(self) -> None:
        def number(
            name: str, *, low: float = 0.0, high: float = math.inf, open_low: bool = False
        ) -> None:
            value = getattr(self, name)
            ok = isinstance(value, int | float) and not isinstance(value, bool)
            ok = ok and math.isfinite(value) and value <= high
            ok = ok and (value > low if open_low else value >= low)
            if not ok:
                bounds = (
                    f"between {low:g} and {high:g}"
                    if high != math.inf
                    else (f"a finite number {'>' if open_low else '>='} {low:g}")
                )
                raise ConfigurationError(f"Emulator setting {name} must be {bounds}, not {value!r}")

        number("processing_failure_rate", high=1.0)
        number("processing_scale", open_low=True)
        number("session_ttl_s", open_low=True)
        number("amplify_session_ttl_s", open_low=True)
        number("media_ttl_s", open_low=True)
        number("token_lifetime_s", open_low=True)
        number("oauth_max_skew_s")
        number("keep_alive_s", open_low=True)
        number("max_check_after_secs", low=1)
        if isinstance(self.processing_seconds, tuple):
            low, high = self.processing_seconds
            if not (math.isfinite(low) and math.isfinite(high) and 0 <= low <= high):
                raise ConfigurationError(
                    f"Emulator setting processing_seconds must be 0 <= LOW <= HIGH, "
                    f"not {self.processing_seconds!r}"
                )
        elif isinstance(self.processing_seconds, int | float) and not (
            math.isfinite(self.processing_seconds) and self.processing_seconds >= 0
        ):
            raise ConfigurationError(
                f"Emulator setting processing_seconds must be >= 0, not {self.processing_seconds!r}"
            )
        unknown = set(self.processing_costs) - set(DEFAULT_PROCESSING_COSTS)
        if unknown:
            raise ConfigurationError(
                f"processing_costs names categories X does not process: {sorted(unknown)}; "
                f"use {sorted(DEFAULT_PROCESSING_COSTS)}"
            )

    @property
    def uses_demo_credentials(self) -> bool:
        return self.consumer_key == DEMO.consumer_key

    @staticmethod
    def oauth1_account(access_token: str, access_token_secret: str) -> OAuth1Account:
        return OAuth1Account(access_token, access_token_secret, _user_id_from_token(access_token))
