"""Who mediakit is on X: credentials, request signing, and the checks the emulator makes.

X's media endpoints need user context. Three kinds of credentials exist and X treats them
differently, so this module says which one it has before anything is sent:

- OAuth 1.0a user keys (four strings) work on v1.1 and v2. `OAuth1Signer` is our own small
  `httpx.Auth` on top of oauthlib because an upload body must never be touched: Authlib's
  httpx integration sends multipart and JSON bodies empty. The signature covers the oauth_*
  parameters, the query string, and the body only when it is
  `application/x-www-form-urlencoded` (RFC 5849 §3.4.1.3.1; what X verifies and what
  requests-oauthlib, xdk and node-twitter-api-v2 send). A multipart or JSON body is never read.
- An OAuth 2.0 user token (scope `media.write`) works on v2. It lasts two hours and its
  refresh token rotates, so `UserTokenAuth` refreshes once for all concurrent requests and
  hands the new token to `on_refresh`, and `Credentials` keeps the newest in memory.
- An app-only bearer token is refused by X for uploads: `Credentials` refuses it up front and
  names what X needs instead.

`verify_oauth1` applies the same signing rules on the server side, so the emulator accepts
exactly what X accepts, and client and emulator cannot drift apart.

No secret appears in any repr, str or error message built here; `redact` removes them from
text that came from elsewhere.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import inspect
import os
import secrets as _secrets
from collections.abc import AsyncGenerator, Callable, Generator, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Literal, NoReturn
from urllib.parse import parse_qsl, quote, quote_plus, urlencode

import httpx
from oauthlib.oauth1 import SIGNATURE_HMAC_SHA1, SIGNATURE_TYPE_AUTH_HEADER, Client
from oauthlib.oauth1.rfc5849 import signature as _signature
from oauthlib.oauth1.rfc5849 import utils as _oauth_utils

from ._clock import Clock, SystemClock
from ._errors import AuthError, CredentialsError

__all__ = [
    "APP_ONLY_BEARER_MESSAGE",
    "DEFAULT_TOKEN_URL",
    "TOKEN_REFRESH_EXTENSION",
    "Credentials",
    "CredentialsKind",
    "OAuth1Signer",
    "OAuth1Verdict",
    "OnRefresh",
    "UserToken",
    "UserTokenAuth",
    "VerdictReason",
    "bearer_token",
    "redact",
    "refresh_user_token",
    "refuse_app_only_bearer",
    "verify_oauth1",
]

APP_ONLY_BEARER_MESSAGE: Final = (
    "X refuses app-only bearer tokens (X_BEARER_TOKEN) for media uploads: use OAuth 1.0a "
    "user keys (X_API_KEY, X_API_SECRET, X_ACCESS_TOKEN, X_ACCESS_TOKEN_SECRET) or an "
    "OAuth 2.0 user token with the media.write scope (X_USER_TOKEN)"
)
DEFAULT_TOKEN_URL: Final = "https://api.x.com/2/oauth2/token"  # noqa: S105 - a URL
# Set on token-refresh requests: their exchanges carry tokens and must never be recorded.
TOKEN_REFRESH_EXTENSION: Final = "mediakit.token_refresh"  # noqa: S105 - a name

CredentialsKind = Literal["oauth1", "oauth2_user"]
VerdictReason = Literal[
    "missing", "unknown_consumer", "unknown_token", "stale_timestamp", "bad_signature"
]
# Called with the new token after each refresh; may return an awaitable, which is awaited.
OnRefresh = Callable[["UserToken"], object]

_FORM_URLENCODED: Final = "application/x-www-form-urlencoded"
_NO_BODY_METHODS: Final = frozenset({"GET", "HEAD"})
_OAUTH1_VARS: Final = ("X_API_KEY", "X_API_SECRET", "X_ACCESS_TOKEN", "X_ACCESS_TOKEN_SECRET")
_REQUIRED_OAUTH_PARAMS: Final = (
    "oauth_consumer_key",
    "oauth_token",
    "oauth_signature_method",
    "oauth_timestamp",
    "oauth_nonce",
    "oauth_signature",
)
_REDACTED: Final = "***"


# ---------------------------------------------------------------------------- helpers


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` with every secret (and its percent-encoded forms) replaced by ``***``."""
    forms: set[str] = set()
    for secret in secrets:
        if secret:
            forms.update((secret, quote(secret, safe=""), quote_plus(secret, safe="")))
    for form in sorted(forms, key=len, reverse=True):
        text = text.replace(form, _REDACTED)
    return text


def _hint(value: str | None) -> str | None:
    """A recognisable but harmless stand-in: the first 4 characters of a long value."""
    if value is None:
        return None
    return value[:4] + "…" if len(value) >= 12 else "…"


def _checked(name: str, value: object) -> str:
    """`value` if it can go in a header; the error names the parameter, never the value."""
    if (
        not isinstance(value, str)
        or not value
        or any(c.isspace() for c in value)
        or any(ord(c) < 32 or ord(c) == 127 for c in value)
    ):
        raise CredentialsError(f"{name} must be a non-empty string without spaces or line breaks")
    return value


def _checked_optional(name: str, value: object) -> str | None:
    return None if value is None else _checked(name, value)


def _media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def _signs_body(method: str, content_type: str | None) -> bool:
    """RFC 5849 §3.4.1.3.1 as oauthlib applies it: urlencoded bodies only, never GET/HEAD."""
    return method.upper() not in _NO_BODY_METHODS and _media_type(content_type) == _FORM_URLENCODED


def _encode_pairs(pairs: Sequence[tuple[str, str]]) -> str:
    # Re-encoded strictly, so oauthlib's strict parser accepts any query httpx may send
    # (httpx leaves e.g. "[" unescaped); the signature depends only on the decoded pairs.
    return urlencode(list(pairs), quote_via=quote)


def refuse_app_only_bearer() -> NoReturn:
    """Stop before sending anything: X refuses app-only bearer tokens for uploads."""
    raise CredentialsError(APP_ONLY_BEARER_MESSAGE)


# ------------------------------------------------------------------ OAuth 1.0a, client


class OAuth1Signer(httpx.Auth):
    """Signs each request with OAuth 1.0a HMAC-SHA1 in the `Authorization` header.

    The timestamp comes from `clock`, so a test clock moves signatures with it. Only an
    `application/x-www-form-urlencoded` body is read (it is small and in memory); multipart
    and JSON bodies are neither read nor signed, and stay byte-for-byte as built.
    """

    # Read per request in the flows below: only a urlencoded body is ever loaded.
    requires_request_body = False
    requires_response_body = False

    def __init__(
        self,
        consumer_key: str,
        consumer_secret: str,
        access_token: str,
        access_token_secret: str,
        *,
        clock: Clock | None = None,
        nonce_factory: Callable[[], str] | None = None,
    ) -> None:
        self._consumer_key = _checked("consumer_key", consumer_key)
        self._consumer_secret = _checked("consumer_secret", consumer_secret)
        self._access_token = _checked("access_token", access_token)
        self._access_token_secret = _checked("access_token_secret", access_token_secret)
        self._clock: Clock = clock if clock is not None else SystemClock()
        # Fixed nonces are for known-answer tests; the default is 128 random bits.
        self._nonce_factory = nonce_factory or (lambda: _secrets.token_hex(16))

    def sign(self, request: httpx.Request) -> None:
        """Set `request`'s Authorization header (a urlencoded body must be read already)."""
        method = request.method.upper()
        url = request.url
        uri = str(url.copy_with(query=None, fragment=None))
        query = parse_qsl(url.query.decode("ascii", "replace"), keep_blank_values=True)
        if query:
            uri += "?" + _encode_pairs(query)
        body: str | None = None
        headers: dict[str, str] = {}
        if _signs_body(method, request.headers.get("content-type")):
            form = parse_qsl(request.content.decode("utf-8", "replace"), keep_blank_values=True)
            body = _encode_pairs(form)
            headers["Content-Type"] = _FORM_URLENCODED
        client = Client(
            self._consumer_key,
            client_secret=self._consumer_secret,
            resource_owner_key=self._access_token,
            resource_owner_secret=self._access_token_secret,
            signature_method=SIGNATURE_HMAC_SHA1,
            signature_type=SIGNATURE_TYPE_AUTH_HEADER,
            nonce=self._nonce_factory(),
            timestamp=str(int(self._clock.now())),
        )
        # body=None for multipart/JSON also keeps oauthlib from adding an oauth_body_hash.
        _uri, signed_headers, _body = client.sign(
            uri, http_method=method, body=body, headers=headers
        )
        request.headers["Authorization"] = str(signed_headers["Authorization"])

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        self.sign(request)
        yield request

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        if _signs_body(request.method, request.headers.get("content-type")):
            request.read()
        self.sign(request)
        yield request

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        if _signs_body(request.method, request.headers.get("content-type")):
            await request.aread()
        self.sign(request)
        yield request

    def __repr__(self) -> str:
        return (
            f"OAuth1Signer(consumer_key={_hint(self._consumer_key)!r}, "
            f"access_token={_hint(self._access_token)!r})"
        )


# ---------------------------------------------------------------- OAuth 1.0a, server


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
            f"consumer_key={_hint(self.consumer_key)!r}, "
            f"access_token={_hint(self.access_token)!r}, url={self.url!r})"
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
    body = list(form) if form is not None and method.upper() not in _NO_BODY_METHODS else []
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


# --------------------------------------------------------------- OAuth 2.0 user tokens


@dataclass(frozen=True, repr=False)
class UserToken:
    """An OAuth 2.0 user access token, and what is needed to refresh it."""

    access_token: str
    refresh_token: str | None = None
    expires_at: float | None = None  # epoch seconds, on the same clock as the client
    scopes: frozenset[str] = frozenset()
    client_id: str | None = None
    client_secret: str | None = None  # only confidential clients have one

    @property
    def can_refresh(self) -> bool:
        return bool(self.refresh_token and self.client_id)

    def expiring(self, now: float, margin_s: float = 0.0) -> bool:
        """True if the token is known to expire within `margin_s` of `now`."""
        return self.expires_at is not None and now >= self.expires_at - margin_s

    def secrets(self) -> tuple[str, ...]:
        return tuple(s for s in (self.access_token, self.refresh_token, self.client_secret) if s)

    def __repr__(self) -> str:
        return (
            f"UserToken(access_token={_hint(self.access_token)!r}, "
            f"refresh_token={_REDACTED if self.refresh_token else None!r}, "
            f"expires_at={self.expires_at!r}, scopes={sorted(self.scopes)!r}, "
            f"client_id={_hint(self.client_id)!r}, "
            f"client_secret={_REDACTED if self.client_secret else None!r})"
        )


def _refresh_request(
    token_url: str, token: UserToken, *, client: httpx.AsyncClient | None, timeout: object = None
) -> httpx.Request:
    """The refresh request of §5.3: Basic auth for confidential clients, client_id otherwise.

    Built by `client` when given (its timeouts apply), else with `timeout` (the extension of
    the request that needed the refresh). Marked with the `mediakit.token_refresh` extension:
    its exchange carries tokens, so whatever records traffic (event hooks) must skip it.
    """
    if not token.refresh_token:
        raise AuthError(
            "cannot refresh the OAuth 2.0 user token: there is no refresh token "
            "(X_REFRESH_TOKEN; X issues one when the offline.access scope is granted)"
        )
    if not token.client_id:
        raise AuthError(
            "cannot refresh the OAuth 2.0 user token: there is no client id (X_CLIENT_ID)"
        )
    form = {"grant_type": "refresh_token", "refresh_token": token.refresh_token}
    headers = {"Accept": "application/json"}
    if token.client_secret:
        pair = f"{token.client_id}:{token.client_secret}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
    else:
        form["client_id"] = token.client_id
    extensions: dict[str, object] = {TOKEN_REFRESH_EXTENSION: True}
    if client is not None:
        return client.build_request(
            "POST", token_url, data=form, headers=headers, extensions=extensions
        )
    if timeout is not None:
        extensions["timeout"] = timeout
    return httpx.Request("POST", token_url, data=form, headers=headers, extensions=extensions)


def _refreshed_token(response: httpx.Response, old: UserToken, now: float) -> UserToken:
    """The new token from a read token-endpoint response, or AuthError without secrets."""
    try:
        payload: object = response.json()
    except ValueError:
        payload = None
    if response.status_code != 200:
        detail = ""
        if isinstance(payload, dict):
            parts = [payload.get("error"), payload.get("error_description")]
            detail = ": ".join(str(p) for p in parts if p)
        message = f"X refused to refresh the OAuth 2.0 user token (HTTP {response.status_code}"
        message += f", {detail})" if detail else ")"
        if response.status_code in (400, 401):
            message += "; the refresh token may be used up or revoked: authorize again"
        code = payload.get("error") if isinstance(payload, dict) else None
        raise AuthError(
            redact(message, old.secrets()),
            status_code=response.status_code,
            code=code if isinstance(code, str) else None,
        )
    if not isinstance(payload, dict) or not isinstance(payload.get("access_token"), str):
        raise AuthError("the token endpoint answered without an access_token")
    token_type = payload.get("token_type", "bearer")
    if not isinstance(token_type, str) or token_type.lower() != "bearer":
        raise AuthError(f"the token endpoint answered with token_type {token_type!r}, not bearer")
    expires_in = payload.get("expires_in")
    expires_at: float | None = None
    if isinstance(expires_in, int | float) and not isinstance(expires_in, bool):
        expires_at = now + float(expires_in)
    try:
        access_token = _checked("access_token", payload["access_token"])
    except CredentialsError:
        raise AuthError("the token endpoint answered with an unusable access_token") from None
    scope = payload.get("scope")
    refresh = payload.get("refresh_token")
    return UserToken(
        access_token=access_token,
        # Refresh tokens rotate: the old one stops working once this one is issued.
        refresh_token=refresh if isinstance(refresh, str) and refresh else old.refresh_token,
        expires_at=expires_at,
        scopes=frozenset(scope.split()) if isinstance(scope, str) else old.scopes,
        client_id=old.client_id,
        client_secret=old.client_secret,
    )


async def refresh_user_token(
    client: httpx.AsyncClient, token_url: str, token: UserToken, *, now: float
) -> UserToken:
    """Trade `token`'s refresh token for a new token at `token_url` (X: `DEFAULT_TOKEN_URL`).

    The answer holds a new refresh token; keep it, the old one no longer works.
    """
    request = _refresh_request(token_url, token, client=client)
    try:
        # auth=None: the client's own auth (maybe a UserTokenAuth) must not touch this request.
        response = await client.send(request, auth=None)
        await response.aread()
    except httpx.HTTPError as exc:
        raise AuthError(
            f"could not reach the token endpoint {token_url} ({type(exc).__name__})"
        ) from exc
    return _refreshed_token(response, token, now)


class _TokenState:
    """The newest user token and its refresh bookkeeping, shared by every auth built on it."""

    __slots__ = (
        "_lock",
        "_lock_loop",
        "attempts",
        "generation",
        "last_failure",
        "on_refresh",
        "token",
    )

    def __init__(self, token: UserToken, on_refresh: OnRefresh | None) -> None:
        self.token = token
        self.on_refresh = on_refresh
        self.generation = 0  # +1 per refresh: a request knows which token it was sent with
        self.attempts = 0  # +1 per refresh tried: waiters share a failure instead of retrying
        self.last_failure: AuthError | None = None
        self._lock: asyncio.Lock | None = None
        self._lock_loop: asyncio.AbstractEventLoop | None = None

    def lock(self) -> asyncio.Lock:
        # One lock per event loop: sync helpers may run successive loops with one Credentials.
        loop = asyncio.get_running_loop()
        if self._lock is None or self._lock_loop is not loop:
            self._lock, self._lock_loop = asyncio.Lock(), loop
        return self._lock

    def raise_failure_since(self, attempts_seen: int) -> None:
        """Share the failure of a refresh tried since `attempts_seen` instead of retrying it."""
        failure = self.last_failure
        if failure is not None and self.attempts != attempts_seen:
            raise AuthError(failure.message, status_code=failure.status_code, code=failure.code)

    async def adopt(self, token: UserToken) -> None:
        self.token = token
        self.generation += 1
        self.last_failure = None
        if self.on_refresh is not None:
            result = self.on_refresh(token)
            if inspect.isawaitable(result):
                await result

    def __repr__(self) -> str:
        return f"_TokenState(token={self.token!r}, generation={self.generation})"


class UserTokenAuth(httpx.Auth):
    """`Authorization: Bearer <user token>`, refreshed once when X answers 401.

    However many requests get a 401 at once, one refresh runs; the others wait for it and
    repeat with the new token. Each request is repeated at most once. A token known to expire
    within `refresh_margin_s` (by `clock`) is refreshed before sending. The refresh goes to
    `token_url`, by default `/2/oauth2/token` on the host the request went to (X's, or the
    emulator's), through `client` if given, else through the same client and transport as
    the request. `on_refresh` gets each new token; if it raises, the request that refreshed
    fails but the new token is kept. Only async clients refresh; a sync client just gets
    the header.
    """

    requires_request_body = False
    requires_response_body = False

    def __init__(
        self,
        token: UserToken,
        *,
        on_refresh: OnRefresh | None = None,
        client: httpx.AsyncClient | None = None,
        token_url: str | None = None,
        clock: Clock | None = None,
        refresh_margin_s: float = 60.0,
    ) -> None:
        _checked("access_token", token.access_token)
        self._state = _TokenState(token, on_refresh)
        self._client = client
        self._token_url = token_url
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._margin = refresh_margin_s

    @classmethod
    def _sharing(
        cls,
        state: _TokenState,
        *,
        client: httpx.AsyncClient | None,
        token_url: str | None,
        clock: Clock | None,
    ) -> UserTokenAuth:
        auth = cls(state.token, client=client, token_url=token_url, clock=clock)
        auth._state = state
        return auth

    @property
    def token(self) -> UserToken:
        """The newest token (after any refresh)."""
        return self._state.token

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self._state.token.access_token}"
        yield request

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        state = self._state
        # The token generation and refresh count this request last saw (see _TokenState).
        seen, attempts = state.generation, state.attempts
        must_refresh = state.token.can_refresh and state.token.expiring(
            self._clock.now(), self._margin
        )
        repeated = False
        while True:
            if must_refresh:
                async with state.lock():
                    if state.generation == seen:  # nobody refreshed since: this request does
                        state.raise_failure_since(attempts)
                        state.attempts += 1
                        token_url = self._token_url or str(
                            request.url.copy_with(path="/2/oauth2/token", query=None, fragment=None)
                        )
                        try:
                            if self._client is not None:
                                new = await refresh_user_token(
                                    self._client, token_url, state.token, now=self._clock.now()
                                )
                            else:  # through the request's own client, so in-process works too
                                answer = yield _refresh_request(
                                    token_url,
                                    state.token,
                                    client=None,
                                    timeout=request.extensions.get("timeout"),
                                )
                                await answer.aread()
                                new = _refreshed_token(answer, state.token, self._clock.now())
                        except AuthError as exc:
                            state.last_failure = exc
                            raise
                        await state.adopt(new)
            seen, attempts = state.generation, state.attempts
            request.headers["Authorization"] = f"Bearer {state.token.access_token}"
            # Repeating a request re-sends its body: httpx replays bytes (multipart built from
            # bytes in memory too); a one-shot stream body would raise httpx.StreamConsumed.
            response = yield request
            if response.status_code != 401 or repeated or not state.token.can_refresh:
                return
            await response.aread()  # frees the connection while this request waits
            repeated = must_refresh = True

    def __repr__(self) -> str:
        return f"UserTokenAuth(token={self._state.token!r})"


# ------------------------------------------------------------------------- credentials


@dataclass(frozen=True, slots=True, repr=False)
class _OAuth1Keys:
    consumer_key: str
    consumer_secret: str
    access_token: str
    access_token_secret: str

    def __repr__(self) -> str:
        return "_OAuth1Keys(***)"


class Credentials:
    """The credentials mediakit uploads with: OAuth 1.0a user keys, or an OAuth 2.0 user token.

    Build one with `Credentials.oauth1(...)`, `Credentials.user_token(...)` or
    `Credentials.from_env()`. After a refresh the newest user token is kept here (see
    `current_token`) and passed to `on_refresh`, so it can be stored: refresh tokens rotate.
    """

    __slots__ = ("_keys", "_state")
    _keys: _OAuth1Keys | None
    _state: _TokenState | None

    def __init__(
        self, *, _keys: _OAuth1Keys | None = None, _state: _TokenState | None = None
    ) -> None:
        if (_keys is None) == (_state is None):
            raise TypeError(
                "use Credentials.oauth1(), Credentials.user_token() or Credentials.from_env()"
            )
        object.__setattr__(self, "_keys", _keys)
        object.__setattr__(self, "_state", _state)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Credentials are read-only")

    @classmethod
    def oauth1(
        cls, consumer_key: str, consumer_secret: str, access_token: str, access_token_secret: str
    ) -> Credentials:
        """OAuth 1.0a user context: the app's API key and secret, the user's token and secret."""
        keys = _OAuth1Keys(
            _checked("consumer_key", consumer_key),
            _checked("consumer_secret", consumer_secret),
            _checked("access_token", access_token),
            _checked("access_token_secret", access_token_secret),
        )
        return cls(_keys=keys)

    @classmethod
    def user_token(
        cls,
        access_token: str,
        *,
        refresh_token: str | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        expires_at: float | None = None,
        scopes: Iterable[str] | str | None = None,
        on_refresh: OnRefresh | None = None,
    ) -> Credentials:
        """An OAuth 2.0 user token (scope media.write). With `refresh_token` and `client_id`
        it is refreshed when it expires; `client_secret` only for confidential clients."""
        if isinstance(scopes, str):
            scopes = scopes.split()
        token = UserToken(
            access_token=_checked("access_token", access_token),
            refresh_token=_checked_optional("refresh_token", refresh_token),
            expires_at=None if expires_at is None else float(expires_at),
            scopes=frozenset(scopes or ()),
            client_id=_checked_optional("client_id", client_id),
            client_secret=_checked_optional("client_secret", client_secret),
        )
        return cls(_state=_TokenState(token, on_refresh))

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, on_refresh: OnRefresh | None = None
    ) -> Credentials:
        """Read credentials from the environment (or `environ`).

        Complete OAuth 1.0a keys win (`X_API_KEY`, `X_API_SECRET`, `X_ACCESS_TOKEN`,
        `X_ACCESS_TOKEN_SECRET`); else `X_USER_TOKEN` with `X_REFRESH_TOKEN`, `X_CLIENT_ID`
        and `X_CLIENT_SECRET` (and `on_refresh` to store rotated tokens). `X_BEARER_TOKEN`
        alone is refused: X does not accept it for uploads.
        """
        env = os.environ if environ is None else environ

        def get(name: str) -> str | None:
            value = env.get(name)
            return (value.strip() or None) if value else None

        keys = {name: get(name) for name in _OAUTH1_VARS}
        present = [name for name, value in keys.items() if value]
        user_token = get("X_USER_TOKEN")
        if len(present) == len(_OAUTH1_VARS):
            return cls.oauth1(*(str(keys[name]) for name in _OAUTH1_VARS))
        if user_token:
            return cls.user_token(
                user_token,
                refresh_token=get("X_REFRESH_TOKEN"),
                client_id=get("X_CLIENT_ID"),
                client_secret=get("X_CLIENT_SECRET"),
                on_refresh=on_refresh,
            )
        if present:
            missing = ", ".join(name for name in _OAUTH1_VARS if not keys[name])
            raise CredentialsError(
                f"incomplete OAuth 1.0a credentials: {missing} not set (OAuth 1.0a needs all "
                f"four of {', '.join(_OAUTH1_VARS)})"
            )
        if get("X_BEARER_TOKEN"):
            refuse_app_only_bearer()
        if get("X_REFRESH_TOKEN"):
            raise CredentialsError(
                "X_REFRESH_TOKEN is set but X_USER_TOKEN is not: set the OAuth 2.0 user token too"
            )
        raise CredentialsError(
            "no X credentials in the environment: set X_API_KEY, X_API_SECRET, X_ACCESS_TOKEN "
            "and X_ACCESS_TOKEN_SECRET (OAuth 1.0a user keys), or X_USER_TOKEN (an OAuth 2.0 "
            "user token with the media.write scope; add X_REFRESH_TOKEN and X_CLIENT_ID, and "
            "X_CLIENT_SECRET for a confidential client, to refresh it)"
        )

    @property
    def kind(self) -> CredentialsKind:
        return "oauth1" if self._keys is not None else "oauth2_user"

    @property
    def user_id(self) -> str | None:
        """The user's numeric id when the credentials show it (OAuth 1.0a tokens start with it)."""
        if self._keys is None:
            return None
        prefix, dash, _ = self._keys.access_token.partition("-")
        return prefix if dash and prefix.isdigit() else None

    @property
    def current_token(self) -> UserToken | None:
        """The newest OAuth 2.0 user token (after any refresh); None for OAuth 1.0a."""
        return None if self._state is None else self._state.token

    def secrets(self) -> tuple[str, ...]:
        """Every secret string held, refreshed tokens included: none may appear in any output.

        Identifiers sent in clear in every OAuth 1.0a header (consumer key, access token)
        are not secrets; reprs still show only their first characters.
        """
        if self._keys is not None:
            return (self._keys.consumer_secret, self._keys.access_token_secret)
        assert self._state is not None
        return self._state.token.secrets()

    def auth(
        self,
        *,
        clock: Clock | None = None,
        client: httpx.AsyncClient | None = None,
        token_url: str | None = None,
    ) -> httpx.Auth:
        """An `httpx.Auth` for these credentials.

        OAuth 1.0a: an `OAuth1Signer` timestamping with `clock`. OAuth 2.0: a `UserTokenAuth`
        (`client` and `token_url` as there); every auth built from one `Credentials` shares
        one token and one refresh, so rotated refresh tokens never fork.
        """
        if self._keys is not None:
            k = self._keys
            return OAuth1Signer(
                k.consumer_key,
                k.consumer_secret,
                k.access_token,
                k.access_token_secret,
                clock=clock,
            )
        assert self._state is not None
        return UserTokenAuth._sharing(self._state, client=client, token_url=token_url, clock=clock)

    def __repr__(self) -> str:
        if self._keys is not None:
            return (
                f"Credentials(kind='oauth1', consumer_key={_hint(self._keys.consumer_key)!r}, "
                f"user_id={self.user_id!r})"
            )
        assert self._state is not None
        token = self._state.token
        return (
            f"Credentials(kind='oauth2_user', access_token={_hint(token.access_token)!r}, "
            f"refreshable={token.can_refresh}, scopes={sorted(token.scopes)!r})"
        )

    __str__ = __repr__
