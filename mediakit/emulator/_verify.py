"""The emulator's side of OAuth: checking OAuth 1.0a signatures and reading bearer tokens.

The same signing rules as the client's `mediakit._oauth1` (which parameters are signed, how
they are encoded), applied the way X applies them, so the emulator accepts exactly what X
accepts.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final, Literal

from oauthlib.oauth1 import SIGNATURE_HMAC_SHA1
from oauthlib.oauth1.rfc5849 import signature as _signature
from oauthlib.oauth1.rfc5849 import utils as _oauth_utils

from .._oauth1 import NO_BODY_METHODS
from .._secrets import hint

__all__ = ["OAuth1Verdict", "VerdictReason", "bearer_token", "verify_oauth1"]

VerdictReason = Literal[
    "missing", "unknown_consumer", "unknown_token", "stale_timestamp", "bad_signature"
]
_REQUIRED_OAUTH_PARAMS: Final = (
    "oauth_consumer_key",
    "oauth_token",
    "oauth_signature_method",
    "oauth_timestamp",
    "oauth_nonce",
    "oauth_signature",
)


@dataclass(frozen=True, slots=True, repr=False)
class OAuth1Verdict:
    """What `verify_oauth1` found. X's answer for each `reason`:

    - "missing": no or garbled `Authorization: OAuth` header, a required oauth_* parameter
      missing, or a method other than HMAC-SHA1 → 400 code 215 "Bad Authentication data."
    - "unknown_consumer" → 401 code 32; "unknown_token" → 401 code 89
    - "stale_timestamp": more than `max_skew_s` off → 401 code 135
    - "bad_signature" → 401 code 32 "Could not authenticate you."
    """

    ok: bool
    consumer_key: str | None = None
    access_token: str | None = None
    reason: VerdictReason | None = None
    url: str | None = None  # the candidate base URL the signature matched

    def __repr__(self) -> str:
        return (
            f"OAuth1Verdict(ok={self.ok}, reason={self.reason!r}, "
            f"consumer_key={hint(self.consumer_key)!r}, "
            f"access_token={hint(self.access_token)!r}, url={self.url!r})"
        )


@dataclass(frozen=True, slots=True, repr=False)
class _HmacSecrets:
    """The two attributes oauthlib's `sign_hmac_sha1_with_client` reads."""

    client_secret: str
    resource_owner_secret: str

    def __repr__(self) -> str:
        return "_HmacSecrets(***)"


def _oauth_header_params(authorization: str | None) -> dict[str, str] | None:
    """The oauth_* parameters of an `Authorization: OAuth ...` header, decoded; None if garbled."""
    if not authorization:
        return None
    try:
        items = _oauth_utils.parse_authorization_header(authorization.strip())
        return {
            str(k): str(_oauth_utils.unescape(v)) for k, v in items if str(k).startswith("oauth_")
        }
    except (ValueError, TypeError):
        return None


def verify_oauth1(
    *,
    method: str,
    urls: Sequence[str],
    authorization: str | None,
    query: Sequence[tuple[str, str]],
    form: Sequence[tuple[str, str]] | None,
    consumer_secret_for: Callable[[str], str | None],
    token_secret_for: Callable[[str], str | None],
    now: float,
    max_skew_s: float = 300.0,
    allow_unsigned_query: bool = False,
) -> OAuth1Verdict:
    """Check an OAuth 1.0a HMAC-SHA1 request the way X does.

    `urls` are candidate base URLs (no query), tried in order: where the request was sent
    first, then X's own, because some clients sign X's URL while connecting elsewhere.
    `query` holds the decoded query pairs; `form` the decoded body pairs when the body is
    `application/x-www-form-urlencoded`, else None (multipart and JSON are never signed).
    `allow_unsigned_query` also accepts signatures made without the query parameters, as the
    old v1.1 media documentation described.
    """
    oauth = _oauth_header_params(authorization)
    if oauth is None or any(not oauth.get(name) for name in _REQUIRED_OAUTH_PARAMS):
        return OAuth1Verdict(ok=False, reason="missing")
    consumer_key = oauth["oauth_consumer_key"]
    access_token = oauth["oauth_token"]

    def fail(reason: VerdictReason) -> OAuth1Verdict:
        return OAuth1Verdict(
            ok=False, consumer_key=consumer_key, access_token=access_token, reason=reason
        )

    if oauth["oauth_signature_method"].upper() != SIGNATURE_HMAC_SHA1:
        return fail("missing")
    if oauth.get("oauth_version", "1.0") != "1.0":
        return fail("missing")
    timestamp = oauth["oauth_timestamp"]
    if not (timestamp.isascii() and timestamp.isdigit()):
        return fail("missing")
    if abs(now - int(timestamp)) > max_skew_s:
        return fail("stale_timestamp")
    consumer_secret = consumer_secret_for(consumer_key)
    if consumer_secret is None:
        return fail("unknown_consumer")
    token_secret = token_secret_for(access_token)
    if token_secret is None:
        return fail("unknown_token")

    protocol = [(k, v) for k, v in oauth.items() if k != "oauth_signature"]
    body = list(form) if form is not None and method.upper() not in NO_BODY_METHODS else []
    normalized = [_signature.normalize_parameters([*query, *body, *protocol])]
    if allow_unsigned_query and query:
        normalized.append(_signature.normalize_parameters([*body, *protocol]))
    keys = _HmacSecrets(consumer_secret, token_secret)
    given = oauth["oauth_signature"].encode("utf-8")
    for url in urls:
        try:
            base_uri = _signature.base_string_uri(url)
        except ValueError:
            continue
        for params in normalized:
            base = _signature.signature_base_string(method, base_uri, params)
            expected = str(_signature.sign_hmac_sha1_with_client(base, keys))
            if hmac.compare_digest(expected.encode("utf-8"), given):
                return OAuth1Verdict(
                    ok=True, consumer_key=consumer_key, access_token=access_token, url=url
                )
    return fail("bad_signature")


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, or None."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or any(c.isspace() for c in token):
        return None
    return token
