"""OAuth 1.0a request signing for X (HMAC-SHA1, in the `Authorization` header).

`OAuth1Signer` is our own small `httpx.Auth` on top of oauthlib because an upload body must
never be touched: Authlib's httpx integration sends multipart and JSON bodies empty. The
signature covers the oauth_* parameters, the query string, and the body only when it is
`application/x-www-form-urlencoded` (RFC 5849 §3.4.1.3.1; what X verifies and what
requests-oauthlib, xdk and node-twitter-api-v2 send). A multipart or JSON body is never read.
The emulator's verifier (`mediakit.emulator._verify`) applies the same rules from these
helpers, so client and server cannot drift apart.
"""

from __future__ import annotations

import secrets as _secrets
from collections.abc import AsyncGenerator, Callable, Generator, Sequence
from typing import Final
from urllib.parse import parse_qsl, quote, urlencode

from oauthlib.oauth1 import SIGNATURE_HMAC_SHA1, SIGNATURE_TYPE_AUTH_HEADER, Client

from ._clock import Clock, SystemClock
from ._http import httpx
from ._secrets import checked, hint

__all__ = ["FORM_URLENCODED", "NO_BODY_METHODS", "OAuth1Signer", "encode_pairs", "signs_body"]

FORM_URLENCODED: Final = "application/x-www-form-urlencoded"
NO_BODY_METHODS: Final = frozenset({"GET", "HEAD"})


def _media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def signs_body(method: str, content_type: str | None) -> bool:
    """RFC 5849 §3.4.1.3.1 as oauthlib applies it: urlencoded bodies only, never GET/HEAD."""
    return method.upper() not in NO_BODY_METHODS and _media_type(content_type) == FORM_URLENCODED


def encode_pairs(pairs: Sequence[tuple[str, str]]) -> str:
    # Re-encoded strictly, so oauthlib's strict parser accepts any query httpx may send
    # (httpx leaves e.g. "[" unescaped); the signature depends only on the decoded pairs.
    return urlencode(list(pairs), quote_via=quote)


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
        self._consumer_key = checked("consumer_key", consumer_key)
        self._consumer_secret = checked("consumer_secret", consumer_secret)
        self._access_token = checked("access_token", access_token)
        self._access_token_secret = checked("access_token_secret", access_token_secret)
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
            uri += "?" + encode_pairs(query)
        body: str | None = None
        headers: dict[str, str] = {}
        if signs_body(method, request.headers.get("content-type")):
            form = parse_qsl(request.content.decode("utf-8", "replace"), keep_blank_values=True)
            body = encode_pairs(form)
            headers["Content-Type"] = FORM_URLENCODED
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
        if signs_body(request.method, request.headers.get("content-type")):
            request.read()
        self.sign(request)
        yield request

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        if signs_body(request.method, request.headers.get("content-type")):
            await request.aread()
        self.sign(request)
        yield request

    def __repr__(self) -> str:
        return (
            f"OAuth1Signer(consumer_key={hint(self._consumer_key)!r}, "
            f"access_token={hint(self._access_token)!r})"
        )
