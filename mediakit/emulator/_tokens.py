"""`POST /2/oauth2/token`: the refresh-token grant, with X's rotation of refresh tokens.

Only digests of the tokens it issues reach the state file (`Store.put_token`); the new tokens
travel once, in the answer.
"""

from __future__ import annotations

import base64
import secrets
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ._config import EmulatorConfig
from ._forms import read_small_body
from ._log import note
from ._store import Store

__all__ = ["TokenEndpoint"]


class TokenEndpoint:
    def __init__(self, config: EmulatorConfig, store: Store) -> None:
        self._config = config
        self._store = store

    async def __call__(self, request: Request) -> Response:
        note(command="TOKEN")
        if request.headers.get("content-type", "").split(";")[0].strip() != (
            "application/x-www-form-urlencoded"
        ):
            return _oauth_error("invalid_request", "Missing required parameter [grant_type].")
        body = (await read_small_body(request, 64 * 1024)).decode("utf-8", "replace")
        form = dict(parse_qsl(body, keep_blank_values=True))
        client_id = form.get("client_id")
        config = self._config
        basic = _basic_credentials(request.headers.get("authorization"))
        if basic is not None:
            client_id, secret = basic
            expected = config.client_secrets.get(client_id)
            if expected is None or not secrets.compare_digest(expected, secret):
                return _oauth_error(
                    "unauthorized_client", "Missing valid authorization header", 401
                )
        if not client_id or (
            client_id not in config.client_ids and client_id not in config.client_secrets
        ):
            return _oauth_error("unauthorized_client", "Missing valid authorization header", 401)
        if form.get("grant_type") != "refresh_token":
            return _oauth_error("unsupported_grant_type", "Grant type is not supported.")
        old = form.get("refresh_token")
        if not old:
            return _oauth_error("invalid_request", "Missing required parameter [refresh_token].")
        new_refresh = secrets.token_urlsafe(32)
        found = self._store.rotate_refresh_token(old, new_refresh, client_id)
        if found is None:
            return _oauth_error("invalid_request", "Value passed for the token was invalid.")
        user_id, scopes = found
        access = secrets.token_urlsafe(32)
        lifetime = config.token_lifetime_s
        self._store.put_token(access, user_id, scopes, config.clock.now() + lifetime, client_id)
        note(user_id=user_id)
        return JSONResponse(
            {
                "token_type": "bearer",
                "expires_in": int(lifetime),
                "access_token": access,
                "scope": " ".join(sorted(scopes)),
                "refresh_token": new_refresh,
            }
        )


def _oauth_error(code: str, description: str, status: int = 400) -> Response:
    return JSONResponse({"error": code, "error_description": description}, status_code=status)


def _basic_credentials(header: str | None) -> tuple[str, str] | None:
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip()).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None
    client_id, _, secret = decoded.partition(":")
    return client_id, secret
