"""Who mediakit is on X: the credentials it uploads with, from code or the environment.

X's media endpoints need user context. Three kinds of credentials exist and X treats them
differently, so `Credentials` says which one it has before anything is sent:

- OAuth 1.0a user keys (four strings) work on v1.1 and v2 (signed by `_oauth1.OAuth1Signer`).
- An OAuth 2.0 user token (scope `media.write`) works on v2 (`_oauth2.UserTokenAuth`, which
  refreshes it once for all concurrent requests when it expires).
- An app-only bearer token is refused by X for uploads: `Credentials` refuses it up front and
  names what X needs instead.

No secret appears in any repr, str or error message built here.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Final, Literal, NoReturn

from ._clock import Clock
from ._errors import ConfigurationTypeError, CredentialsError
from ._http import httpx
from ._oauth1 import OAuth1Signer
from ._oauth2 import UserToken, UserTokenAuth, _TokenState
from ._secrets import checked, checked_optional, hint

__all__ = [
    "APP_ONLY_BEARER_MESSAGE",
    "Credentials",
    "CredentialsKind",
    "refuse_app_only_bearer",
]

APP_ONLY_BEARER_MESSAGE: Final = (
    "X refuses app-only bearer tokens (X_BEARER_TOKEN) for media uploads: use OAuth 1.0a "
    "user keys (X_API_KEY, X_API_SECRET, X_ACCESS_TOKEN, X_ACCESS_TOKEN_SECRET) or an "
    "OAuth 2.0 user token with the media.write scope (X_USER_TOKEN)"
)
CredentialsKind = Literal["oauth1", "oauth2_user"]
_OAUTH1_VARS: Final = ("X_API_KEY", "X_API_SECRET", "X_ACCESS_TOKEN", "X_ACCESS_TOKEN_SECRET")


def refuse_app_only_bearer() -> NoReturn:
    """Stop before sending anything: X refuses app-only bearer tokens for uploads."""
    raise CredentialsError(APP_ONLY_BEARER_MESSAGE)


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

    __slots__ = ("__weakref__", "_keys", "_state")
    _keys: _OAuth1Keys | None
    _state: _TokenState | None

    def __init__(
        self, *, _keys: _OAuth1Keys | None = None, _state: _TokenState | None = None
    ) -> None:
        if (_keys is None) == (_state is None):
            raise ConfigurationTypeError(
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
            checked("consumer_key", consumer_key),
            checked("consumer_secret", consumer_secret),
            checked("access_token", access_token),
            checked("access_token_secret", access_token_secret),
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
        on_refresh: Callable[[UserToken], object] | None = None,
    ) -> Credentials:
        """An OAuth 2.0 user token (scope media.write). With `refresh_token` and `client_id`
        it is refreshed when it expires; `client_secret` only for confidential clients."""
        if isinstance(scopes, str):
            scopes = scopes.split()
        token = UserToken(
            access_token=checked("access_token", access_token),
            refresh_token=checked_optional("refresh_token", refresh_token),
            expires_at=None if expires_at is None else float(expires_at),
            scopes=frozenset(scopes or ()),
            client_id=checked_optional("client_id", client_id),
            client_secret=checked_optional("client_secret", client_secret),
        )
        return cls(_state=_TokenState(token, on_refresh))

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        on_refresh: Callable[[UserToken], object] | None = None,
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
                f"Credentials(kind='oauth1', consumer_key={hint(self._keys.consumer_key)!r}, "
                f"user_id={self.user_id!r})"
            )
        assert self._state is not None
        token = self._state.token
        return (
            f"Credentials(kind='oauth2_user', access_token={hint(token.access_token)!r}, "
            f"refreshable={token.can_refresh}, scopes={sorted(token.scopes)!r})"
        )

    __str__ = __repr__
