"""OAuth 2.0 user tokens: the bearer header, and refreshing a token that expires mid-batch.

A user token (scope `media.write`) lasts two hours and its refresh token rotates, so
`UserTokenAuth` refreshes once for all concurrent requests and hands the new token to
`on_refresh`; every auth built from one `Credentials` shares one `_TokenState`, so rotated
refresh tokens never fork. Refresh: x-media-api.md §5.3.
"""

from __future__ import annotations

import asyncio
import base64
import inspect
from collections.abc import AsyncGenerator, Callable, Generator
from dataclasses import dataclass
from typing import Final

from ._clock import Clock, SystemClock
from ._errors import AuthError, CredentialsError
from ._http import httpx
from ._secrets import REDACTED, checked, hint, redact

__all__ = [
    "DEFAULT_TOKEN_URL",
    "TOKEN_REFRESH_EXTENSION",
    "OnRefresh",
    "UserToken",
    "UserTokenAuth",
    "refresh_user_token",
]

DEFAULT_TOKEN_URL: Final = "https://api.x.com/2/oauth2/token"  # noqa: S105 - a URL
# Set on token-refresh requests: their exchanges carry tokens and must never be recorded.
TOKEN_REFRESH_EXTENSION: Final = "mediakit.token_refresh"  # noqa: S105 - a name
# Called with the new token after each refresh; may return an awaitable, which is awaited.
OnRefresh = Callable[["UserToken"], object]


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
            f"UserToken(access_token={hint(self.access_token)!r}, "
            f"refresh_token={REDACTED if self.refresh_token else None!r}, "
            f"expires_at={self.expires_at!r}, scopes={sorted(self.scopes)!r}, "
            f"client_id={hint(self.client_id)!r}, "
            f"client_secret={REDACTED if self.client_secret else None!r})"
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
        access_token = checked("access_token", payload["access_token"])
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
        checked("access_token", token.access_token)
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
