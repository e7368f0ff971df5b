"""Who is asking: OAuth 1.0a verified for real, OAuth 2.0 user tokens, app-only refused."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from ._config import EmulatorConfig
from ._problems import forbidden, unauthorized, unsupported_authentication
from ._store import Store
from ._verify import bearer_token, verify_oauth1

__all__ = ["X_HOSTS", "Gate", "Principal"]

X_HOSTS = ("api.x.com", "api.twitter.com", "upload.twitter.com", "upload.x.com")


@dataclass(frozen=True)
class Principal:
    user_id: str
    kind: str  # "oauth1" | "oauth2_user"
    scopes: frozenset[str]


class Gate:
    def __init__(self, config: EmulatorConfig, store: Store) -> None:
        self._config = config
        self._store = store
        self._token_secrets = {
            a.access_token: a.access_token_secret for a in config.oauth1_accounts
        }
        self._token_users = {a.access_token: a.user_id for a in config.oauth1_accounts}
        started = config.clock.now()
        for grant in config.user_tokens:
            expires = None if grant.lifetime_s is None else started + grant.lifetime_s
            # INSERT OR IGNORE: a restarted emulator keeps the expiry it first gave the token.
            store.put_token(
                grant.access_token,
                grant.user_id,
                grant.scopes,
                expires,
                grant.client_id,
                replace=False,
            )
            if grant.refresh_token:
                store.put_refresh_token(
                    grant.refresh_token, grant.user_id, grant.scopes, grant.client_id
                )

    @staticmethod
    def candidate_urls(request: Request) -> list[str]:
        """The URLs a client may have signed: where it sent the request, then X's hosts."""
        path = request.url.path
        host = request.headers.get("host") or request.url.netloc
        scheme = request.url.scheme
        other = "http" if scheme == "https" else "https"
        urls = [f"{scheme}://{host}{path}", f"{other}://{host}{path}"]
        urls += [f"https://{x_host}{path}" for x_host in X_HOSTS]
        return urls

    def oauth1(
        self, request: Request, form: Sequence[tuple[str, str]] | None
    ) -> tuple[Principal | None, str]:
        """Verify an OAuth 1.0a request; the principal, or None and the verdict's reason."""
        verdict = verify_oauth1(
            method=request.method,
            urls=self.candidate_urls(request),
            authorization=request.headers.get("authorization"),
            query=list(request.query_params.multi_items()),
            form=form,
            consumer_secret_for=self._consumer_secret,
            token_secret_for=self._token_secrets.get,
            now=self._config.clock.now(),
            max_skew_s=self._config.oauth_max_skew_s,
        )
        if not verdict.ok or verdict.access_token is None:
            return None, str(verdict.reason)
        user_id = self._token_users[verdict.access_token]
        return Principal(user_id, "oauth1", frozenset({"media.write"})), "ok"

    def _consumer_secret(self, consumer_key: str) -> str | None:
        return self._config.consumer_secret if consumer_key == self._config.consumer_key else None

    def v2(
        self, request: Request, form: Sequence[tuple[str, str]] | None = None
    ) -> Principal | Response:
        """The principal of a v2 media request, or the problem response X would send."""
        header = request.headers.get("authorization", "")
        if header[:6].lower() == "oauth ":
            principal, _reason = self.oauth1(request, form)
            return principal if principal is not None else unauthorized()
        token = bearer_token(header)
        if token is None:
            return unauthorized()
        if token in self._config.app_bearer_tokens:
            return unsupported_authentication()
        found = self._store.get_token(token)
        if found is None:
            return unauthorized()
        user_id, scopes, expires_at = found
        if expires_at is not None and self._config.clock.now() >= expires_at:
            return unauthorized()
        if "media.write" not in scopes:
            return forbidden()
        return Principal(user_id, "oauth2_user", scopes)
