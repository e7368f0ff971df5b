"""OAuth 1.0a signing and verification, OAuth 2.0 user tokens, and credentials.

Everything runs for real: requests are built by httpx (and by requests-oauthlib and xdk, as
tweepy and X's SDK build them), signed, sent through `httpx.ASGITransport` to small starlette
apps, and checked there with `verify_oauth1`, as the emulator does.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import io
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, quote, urlsplit

import httpx
import pytest
import requests
import tweepy
from oauthlib.oauth1.rfc5849.utils import parse_authorization_header, unescape
from requests_oauthlib import OAuth1
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from xdk.oauth1_auth import OAuth1 as XdkOAuth1

from mediakit._clock import ManualClock
from mediakit._credentials import APP_ONLY_BEARER_MESSAGE, Credentials, refuse_app_only_bearer
from mediakit._errors import AuthError, CredentialsError
from mediakit._oauth1 import OAuth1Signer
from mediakit._oauth2 import TOKEN_REFRESH_EXTENSION, UserToken, UserTokenAuth, refresh_user_token
from mediakit._secrets import redact
from mediakit.emulator._verify import OAuth1Verdict, bearer_token, verify_oauth1

# X's published OAuth 1.0a example (docs.x.com "Creating a signature" / "Authorizing a request").
CONSUMER_KEY = "xvz1evFS4wEEPTGEFPHBog"
CONSUMER_SECRET = "kAcSOqF21Fu85e7zjz7ZN2U4ZRhfV3WpwPAoE3Z7kBw"
ACCESS_TOKEN = "370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb"
ACCESS_TOKEN_SECRET = "LswwdoUaIvS8ltyTt5jkRh4J50vUPVVHtR2YPi5kE"
NONCE = "kYjzVBB8Y0ZFabxSWbWovY3uYSQ2pTgmZeNu2VS4cg"
TIMESTAMP = 1318622958
STATUS_BODY = b"status=Hello%20Ladies%20%2b%20Gentlemen%2c%20a%20signed%20OAuth%20request%21"
KEYS = (CONSUMER_KEY, CONSUMER_SECRET, ACCESS_TOKEN, ACCESS_TOKEN_SECRET)
# The header printed on X's "Authorizing a request" page, verbatim.
PUBLISHED_HEADER = (
    'OAuth oauth_consumer_key="xvz1evFS4wEEPTGEFPHBog", '
    'oauth_nonce="kYjzVBB8Y0ZFabxSWbWovY3uYSQ2pTgmZeNu2VS4cg", '
    'oauth_signature="tnnArxj06cWHq44gCs1OSKk%2FjLY%3D", '
    'oauth_signature_method="HMAC-SHA1", oauth_timestamp="1318622958", '
    'oauth_token="370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb", oauth_version="1.0"'
)

NOW = 1_750_000_000.0
EMULATOR = "http://127.0.0.1:8765"
V1_PATH = "/1.1/media/upload.json"
V1_URL = "https://upload.twitter.com" + V1_PATH


# --------------------------------------------------------------------------- helpers


def example_signer(now: float = TIMESTAMP, nonce: str | None = NONCE) -> OAuth1Signer:
    return OAuth1Signer(
        *KEYS, clock=ManualClock(now), nonce_factory=(lambda: nonce) if nonce else None
    )


def oauth_params(authorization: str) -> dict[str, str]:
    return {k: unescape(v) for k, v in parse_authorization_header(authorization)}


def sign(request: httpx.Request, signer: OAuth1Signer | None = None) -> httpx.Request:
    flow = (signer or example_signer()).sync_auth_flow(request)
    assert next(flow) is request
    return request


def secret_for(expected: str, secret: str) -> Callable[[str], str | None]:
    return lambda key: secret if key == expected else None


def verify(
    *,
    method: str,
    urls: Sequence[str],
    authorization: str | None,
    query: Sequence[tuple[str, str]] = (),
    form: Sequence[tuple[str, str]] | None = None,
    now: float = NOW,
    **kwargs: object,
) -> OAuth1Verdict:
    return verify_oauth1(
        method=method,
        urls=urls,
        authorization=authorization,
        query=query,
        form=form,
        consumer_secret_for=secret_for(CONSUMER_KEY, CONSUMER_SECRET),
        token_secret_for=secret_for(ACCESS_TOKEN, ACCESS_TOKEN_SECRET),
        now=now,
        **kwargs,  # type: ignore[arg-type]
    )


@dataclass
class Received:
    body: bytes
    headers: dict[str, str]
    verdict: OAuth1Verdict


@dataclass
class VerifyingServer:
    """A starlette app that verifies every request as the emulator does, and records it."""

    clock: ManualClock = field(default_factory=lambda: ManualClock(NOW))
    x_urls: bool = True
    received: list[Received] = field(default_factory=list)

    def app(self) -> Starlette:
        async def endpoint(request: Request) -> Response:
            body = await request.body()
            media_type = request.headers.get("content-type", "").split(";")[0].strip()
            form = None
            if media_type == "application/x-www-form-urlencoded":
                form = parse_qsl(body.decode(), keep_blank_values=True)
            path = request.url.path
            urls = [f"{request.url.scheme}://{request.headers['host']}{path}"]
            if self.x_urls:
                urls += [f"https://{h}{path}" for h in ("upload.twitter.com", "api.x.com")]
            verdict = verify_oauth1(
                method=request.method,
                urls=urls,
                authorization=request.headers.get("authorization"),
                query=list(request.query_params.multi_items()),
                form=form,
                consumer_secret_for=secret_for(CONSUMER_KEY, CONSUMER_SECRET),
                token_secret_for=secret_for(ACCESS_TOKEN, ACCESS_TOKEN_SECRET),
                now=self.clock.now(),
            )
            self.received.append(Received(body, dict(request.headers), verdict))
            return JSONResponse({"ok": verdict.ok, "reason": verdict.reason})

        return Starlette(routes=[Route("/{path:path}", endpoint, methods=["GET", "POST"])])

    def client(
        self,
        *,
        signer_now: float = NOW,
        rewrite: Callable[[httpx.Request], httpx.Request] | None = None,
    ) -> httpx.AsyncClient:
        transport: httpx.AsyncBaseTransport = httpx.ASGITransport(app=self.app())
        if rewrite is not None:
            transport = Rewriting(transport, rewrite)
        return httpx.AsyncClient(
            transport=transport,
            base_url=EMULATOR,
            auth=OAuth1Signer(*KEYS, clock=ManualClock(signer_now)),
        )

    @property
    def last(self) -> Received:
        return self.received[-1]


class Rewriting(httpx.AsyncBaseTransport):
    """Changes a request after it was signed: a tampering proxy, or a client that signs X's
    URL while connecting somewhere else."""

    def __init__(
        self, inner: httpx.AsyncBaseTransport, rewrite: Callable[[httpx.Request], httpx.Request]
    ) -> None:
        self._inner = inner
        self._rewrite = rewrite

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self._inner.handle_async_request(self._rewrite(request))


def rebuilt(
    request: httpx.Request, *, url: httpx.URL | None = None, content: bytes | None = None
) -> httpx.Request:
    headers = {k: v for k, v in request.headers.items() if k not in ("content-length", "host")}
    body = request.read() if content is None else content
    return httpx.Request(request.method, url or request.url, headers=headers, content=body)


# ------------------------------------------------------------ known-answer signatures


def test_signer_reproduces_the_signature_on_x_authorizing_a_request_page() -> None:
    # X's "Authorizing a request" page signs the old v1 path (/1/, not /1.1/).
    request = sign(
        httpx.Request(
            "POST",
            "https://api.twitter.com/1/statuses/update.json?include_entities=true",
            content=STATUS_BODY,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
    )
    assert oauth_params(request.headers["Authorization"]) == oauth_params(PUBLISHED_HEADER)
    assert oauth_params(request.headers["Authorization"])["oauth_signature"] == (
        "tnnArxj06cWHq44gCs1OSKk/jLY="
    )
    assert request.content == STATUS_BODY


def test_signer_reproduces_the_signature_on_x_creating_a_signature_page() -> None:
    # X's "Creating a signature" page: same keys and parameters, /1.1/ path.
    request = sign(
        httpx.Request(
            "POST",
            "https://api.twitter.com/1.1/statuses/update.json",
            params={"include_entities": "true"},
            data={"status": "Hello Ladies + Gentlemen, a signed OAuth request!"},
        )
    )
    params = oauth_params(request.headers["Authorization"])
    assert params["oauth_signature"] == "hCtSmYh+iHYCEqBWrE7C7hYmtUk="
    assert params["oauth_timestamp"] == str(TIMESTAMP)
    assert params["oauth_nonce"] == NONCE
    assert "oauth_body_hash" not in params


def test_the_example_signature_depends_on_the_host() -> None:
    request = sign(
        httpx.Request(
            "POST",
            "https://api.x.com/1.1/statuses/update.json?include_entities=true",
            content=STATUS_BODY,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
    )
    assert oauth_params(request.headers["Authorization"])["oauth_signature"] not in (
        "hCtSmYh+iHYCEqBWrE7C7hYmtUk=",
        "tnnArxj06cWHq44gCs1OSKk/jLY=",
    )


def test_verifier_accepts_the_header_published_by_x() -> None:
    verdict = verify(
        method="POST",
        urls=["https://api.twitter.com/1/statuses/update.json"],
        authorization=PUBLISHED_HEADER,
        query=[("include_entities", "true")],
        form=[("status", "Hello Ladies + Gentlemen, a signed OAuth request!")],
        now=TIMESTAMP + 10,
    )
    assert verdict.ok, verdict
    assert (verdict.consumer_key, verdict.access_token) == (CONSUMER_KEY, ACCESS_TOKEN)
    assert verdict.reason is None
    tampered = verify(
        method="POST",
        urls=["https://api.twitter.com/1/statuses/update.json"],
        authorization=PUBLISHED_HEADER,
        query=[("include_entities", "true")],
        form=[("status", "Hello Ladies + Gentlemen, a signed OAuth request?")],
        now=TIMESTAMP,
    )
    assert tampered.reason == "bad_signature"


def test_the_clock_sets_the_timestamp_and_every_request_gets_a_fresh_nonce() -> None:
    clock = ManualClock(1_700_000_000.75)
    signer = OAuth1Signer(*KEYS, clock=clock)
    first = oauth_params(sign(httpx.Request("GET", V1_URL), signer).headers["Authorization"])
    clock.advance(42)
    second = oauth_params(sign(httpx.Request("GET", V1_URL), signer).headers["Authorization"])
    assert (first["oauth_timestamp"], second["oauth_timestamp"]) == ("1700000000", "1700000042")
    assert first["oauth_nonce"] != second["oauth_nonce"]
    assert len(first["oauth_nonce"]) >= 32 and first["oauth_nonce"].isalnum()
    assert first["oauth_signature_method"] == "HMAC-SHA1"
    assert first["oauth_version"] == "1.0"


# ------------------------------------------------- signer + verifier through httpx


async def test_multipart_body_is_neither_read_for_signing_nor_signed_and_arrives_intact() -> None:
    server = VerifyingServer()
    chunk = bytes(range(256)) * 64
    fields = {"command": "APPEND", "media_id": "1880000000000000001", "segment_index": "0"}
    async with server.client() as client:
        request = client.build_request(
            "POST",
            V1_PATH,
            data=fields,
            files={"media": ("blob", chunk, "application/octet-stream")},
        )
        sent = request.read()
        response = await client.send(request)
    assert response.json() == {"ok": True, "reason": None}
    assert server.last.body == sent
    assert chunk in server.last.body
    authorization = server.last.headers["authorization"]
    assert "oauth_body_hash" not in oauth_params(authorization)
    # The multipart fields were not signed: counting them in breaks the signature.
    as_if_signed = verify(
        method="POST",
        urls=[EMULATOR + V1_PATH],
        authorization=authorization,
        form=list(fields.items()),
    )
    assert as_if_signed.reason == "bad_signature"


async def test_streamed_multipart_body_is_left_unread_by_the_signer() -> None:
    server = VerifyingServer()
    chunk = b"\x00\xff" * 50_000
    async with server.client() as client:
        request = client.build_request(
            "POST",
            "/2/media/upload/123/append",
            data={"segment_index": "3"},
            files={"media": ("blob", io.BytesIO(chunk), "application/octet-stream")},
        )
        signer = OAuth1Signer(*KEYS, clock=ManualClock(NOW))
        flow = signer.async_auth_flow(request)
        assert await flow.__anext__() is request
        with pytest.raises(httpx.RequestNotRead):
            _ = request.content  # the signer never loaded the body
        await flow.aclose()
        response = await client.send(request)
    assert response.json()["ok"] is True
    assert chunk in server.last.body


async def test_a_one_shot_stream_body_is_not_consumed_by_the_signer() -> None:
    server = VerifyingServer()
    parts = [b"first-", b"second-", b"third"]

    async def stream() -> AsyncIterator[bytes]:
        for part in parts:
            yield part

    async with server.client() as client:
        response = await client.post(
            "/2/media/upload",
            content=stream(),
            headers={"Content-Type": "application/octet-stream"},
        )
    assert response.json()["ok"] is True
    assert server.last.body == b"".join(parts)


async def test_json_body_is_unsigned_and_intact() -> None:
    server = VerifyingServer()
    payload = {"media_type": "video/mp4", "total_bytes": 1234567, "media_category": "tweet_video"}
    async with server.client() as client:
        request = client.build_request("POST", "/2/media/upload/initialize", json=payload)
        sent = request.read()
        response = await client.send(request)
    assert response.json() == {"ok": True, "reason": None}
    assert server.last.body == sent
    assert "oauth_body_hash" not in oauth_params(server.last.headers["authorization"])


async def test_urlencoded_body_is_signed_and_tampering_with_it_is_caught() -> None:
    form = {"command": "INIT", "total_bytes": "1048576", "media_type": "video/mp4"}
    server = VerifyingServer()
    async with server.client() as client:
        assert (await client.post(V1_PATH, data=form)).json() == {"ok": True, "reason": None}
    assert server.last.body == b"command=INIT&total_bytes=1048576&media_type=video%2Fmp4"
    # Leaving the body out of the signature check fails: the body was signed.
    unsigned = verify(
        method="POST", urls=[EMULATOR + V1_PATH], authorization=server.last.headers["authorization"]
    )
    assert unsigned.reason == "bad_signature"

    def tamper(request: httpx.Request) -> httpx.Request:
        return rebuilt(request, content=request.read().replace(b"1048576", b"2097152"))

    tampering = VerifyingServer()
    async with tampering.client(rewrite=tamper) as client:
        response = await client.post(V1_PATH, data=form)
    assert response.json() == {"ok": False, "reason": "bad_signature"}


async def test_urlencoded_content_type_with_charset_is_still_signed() -> None:
    server = VerifyingServer()
    async with server.client() as client:
        response = await client.post(
            V1_PATH,
            content=b"command=FINALIZE&media_id=42",
            headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
        )
    assert response.json()["ok"] is True


async def test_query_is_signed_and_tampering_with_it_is_caught() -> None:
    params = {"command": "STATUS", "media_id": "1880000000000000001"}
    server = VerifyingServer()
    async with server.client() as client:
        assert (await client.get(V1_PATH, params=params)).json()["ok"] is True

    def tamper(request: httpx.Request) -> httpx.Request:
        url = request.url.copy_set_param("media_id", "1880000000000000002")
        return rebuilt(request, url=url)

    tampering = VerifyingServer()
    async with tampering.client(rewrite=tamper) as client:
        response = await client.get(V1_PATH, params=params)
    assert response.json() == {"ok": False, "reason": "bad_signature"}


async def test_awkward_query_characters_sign_and_verify() -> None:
    server = VerifyingServer()
    async with server.client() as client:
        ok = await client.get(
            "/2/media?x=[1]&y=a+b&z=%7E", params={"media.fields": "a,b c", "q": "é!*'()~"}
        )
        repeated = await client.get("/2/media", params=[("k", "2"), ("k", "1"), ("e", "")])
    assert ok.json()["ok"] is True
    assert repeated.json()["ok"] is True


async def test_allow_unsigned_query_accepts_signatures_made_without_the_query() -> None:
    # The old v1.1 media docs said query parameters were left out of the signature.
    request = sign(httpx.Request("GET", V1_URL), example_signer(now=NOW))
    query = [("command", "STATUS"), ("media_id", "7")]
    strict = verify(
        method="GET", urls=[V1_URL], authorization=request.headers["Authorization"], query=query
    )
    lenient = verify(
        method="GET",
        urls=[V1_URL],
        authorization=request.headers["Authorization"],
        query=query,
        allow_unsigned_query=True,
    )
    assert (strict.reason, lenient.ok) == ("bad_signature", True)


@pytest.mark.parametrize(
    ("skew", "reason"),
    [(-301, "stale_timestamp"), (299, None), (301, "stale_timestamp"), (-299, None)],
)
async def test_timestamps_more_than_five_minutes_off_are_stale(
    skew: int, reason: str | None
) -> None:
    server = VerifyingServer()
    async with server.client(signer_now=NOW + skew) as client:
        response = await client.get(V1_PATH, params={"command": "STATUS", "media_id": "1"})
    assert response.json()["reason"] == reason


async def test_unknown_token_and_unknown_consumer() -> None:
    request = sign(httpx.Request("GET", V1_URL), example_signer(now=NOW))
    header = request.headers["Authorization"]
    kwargs = dict(method="GET", urls=[V1_URL], authorization=header, query=[], form=None, now=NOW)
    known = secret_for(CONSUMER_KEY, CONSUMER_SECRET)
    unknown_token = verify_oauth1(
        consumer_secret_for=known,
        token_secret_for=lambda token: None,
        **kwargs,  # type: ignore[arg-type]
    )
    assert (unknown_token.ok, unknown_token.reason) == (False, "unknown_token")
    assert unknown_token.access_token == ACCESS_TOKEN
    unknown_consumer = verify_oauth1(
        consumer_secret_for=lambda key: None,
        token_secret_for=known,
        **kwargs,  # type: ignore[arg-type]
    )
    assert unknown_consumer.reason == "unknown_consumer"
    wrong_secret = verify_oauth1(
        consumer_secret_for=lambda key: "another-secret",
        token_secret_for=secret_for(ACCESS_TOKEN, ACCESS_TOKEN_SECRET),
        **kwargs,  # type: ignore[arg-type]
    )
    assert wrong_secret.reason == "bad_signature"


async def test_requests_without_a_usable_oauth_header_are_missing() -> None:
    server = VerifyingServer()
    transport = httpx.ASGITransport(app=server.app())
    async with httpx.AsyncClient(transport=transport, base_url=EMULATOR) as client:
        assert (await client.get(V1_PATH)).json() == {"ok": False, "reason": "missing"}
    good = oauth_params(
        sign(httpx.Request("GET", V1_URL), example_signer(now=NOW)).headers["Authorization"]
    )

    def header(**changes: str | None) -> str:
        params = {**good, **changes}
        return "OAuth " + ", ".join(
            f'{k}="{quote(v, safe="")}"' for k, v in params.items() if v is not None
        )

    garbled = [
        None,
        "",
        "OAuth",
        "OAuth ",
        "OAuth garbage",
        "Bearer some-user-token",
        "Basic dXNlcjpwYXNz",
        header(oauth_signature=None),
        header(oauth_token=None),
        header(oauth_nonce=None),
        header(oauth_signature_method="PLAINTEXT"),
        header(oauth_signature_method="HMAC-SHA256"),
        header(oauth_version="2.0"),
        header(oauth_timestamp="soon"),
    ]
    for authorization in garbled:
        verdict = verify(method="GET", urls=[V1_URL], authorization=authorization)
        assert (verdict.ok, verdict.reason) == (False, "missing"), authorization
    assert verify(method="GET", urls=[V1_URL], authorization=header()).ok


async def test_signed_for_x_but_sent_to_the_emulator_verifies_when_x_is_a_candidate() -> None:
    # A client that signs X's URL while connecting to 127.0.0.1 (a proxy, a patched host).
    def to_emulator(request: httpx.Request) -> httpx.Request:
        return rebuilt(
            request, url=request.url.copy_with(scheme="http", host="127.0.0.1", port=8765)
        )

    for x_urls, expected in (
        (True, {"ok": True, "reason": None}),
        (False, {"ok": False, "reason": "bad_signature"}),
    ):
        server = VerifyingServer(x_urls=x_urls)
        async with server.client(rewrite=to_emulator) as client:
            response = await client.get(V1_URL, params={"command": "STATUS", "media_id": "9"})
        assert response.json() == expected
        assert server.last.headers["host"] == "127.0.0.1:8765"


def test_the_verdict_says_which_candidate_url_matched() -> None:
    request = sign(httpx.Request("POST", V1_URL, json={"a": 1}), example_signer(now=NOW))
    verdict = verify(
        method="POST",
        urls=["not a url", EMULATOR + V1_PATH, V1_URL],
        authorization=request.headers["Authorization"],
    )
    assert (verdict.ok, verdict.url) == (True, V1_URL)


# --------------------------------------------------- what other clients send, verified


def _verify_prepared(prepared: requests.PreparedRequest, form_from_body: bool) -> OAuth1Verdict:
    authorization = prepared.headers["Authorization"]
    if isinstance(authorization, bytes):
        authorization = authorization.decode()
    assert prepared.url is not None and prepared.method is not None
    parts = urlsplit(prepared.url)
    form = None
    if form_from_body:
        body = prepared.body
        assert isinstance(body, str | bytes)
        form = parse_qsl(body if isinstance(body, str) else body.decode(), keep_blank_values=True)
    return verify(
        method=prepared.method,
        urls=[f"{parts.scheme}://{parts.netloc}{parts.path}"],
        authorization=authorization,
        query=parse_qsl(parts.query, keep_blank_values=True),
        form=form,
        now=time.time(),
    )


def test_verifier_accepts_requests_oauthlib_multipart_post() -> None:
    # tweepy's chunked APPEND: multipart fields plus the file, signed by requests-oauthlib.
    prepared = requests.Request(
        "POST",
        V1_URL,
        params={"command": "APPEND"},
        data={"media_id": "1880000000000000001", "segment_index": "0"},
        files={"media": ("blob", b"\x89PNG" * 100)},
        auth=tweepy.OAuth1UserHandler(*KEYS).apply_auth(),
    ).prepare()
    assert "multipart/form-data" in str(prepared.headers["Content-Type"])
    verdict = _verify_prepared(prepared, form_from_body=False)
    assert verdict.ok, verdict


def test_verifier_accepts_requests_oauthlib_urlencoded_post() -> None:
    # tweepy's INIT/FINALIZE: form-urlencoded, so the body is signed. (Plain requests-oauthlib
    # settings this time: it then sends the header as bytes.)
    prepared = requests.Request(
        "POST",
        V1_URL,
        data={
            "command": "INIT",
            "total_bytes": "1048576",
            "media_type": "image/gif",
            "media_category": "tweet_gif",
            "additional_owners": "1,2",
        },
        auth=OAuth1(*KEYS),
    ).prepare()
    assert _verify_prepared(prepared, form_from_body=True).ok
    assert _verify_prepared(prepared, form_from_body=False).reason == "bad_signature"


def test_verifier_accepts_xdk_headers() -> None:
    # xdk (X's official SDK) builds its own header; the query is signed, JSON bodies are not.
    xdk = XdkOAuth1(CONSUMER_KEY, CONSUMER_SECRET, "oob", ACCESS_TOKEN, ACCESS_TOKEN_SECRET)
    status = EMULATOR + "/2/media/upload?media_id=1880000000000000001&command=STATUS"
    header = xdk.build_request_header("get", status, "")
    verdict = verify(
        method="GET",
        urls=[EMULATOR + "/2/media/upload"],
        authorization=header,
        query=[("media_id", "1880000000000000001"), ("command", "STATUS")],
        now=time.time(),
    )
    assert verdict.ok, verdict
    init = xdk.build_request_header("post", EMULATOR + "/2/media/upload/initialize", "")
    assert verify(
        method="POST",
        urls=[EMULATOR + "/2/media/upload/initialize"],
        authorization=init,
        now=time.time(),
    ).ok


def _nta_encode(value: str) -> str:
    # node-twitter-api-v2's percentEncode: encodeURIComponent, then !'()* escaped too.
    return quote(value, safe="-_.~")


def test_verifier_accepts_node_twitter_api_v2_style_headers() -> None:
    # Built independently of oauthlib, the way node-twitter-api-v2's OAuth1Helper does:
    # sorted `key="value"` pairs joined by "," with no space, query params signed.
    query = {"command": "STATUS", "media_id": "1880000000000000001"}
    oauth = {
        "oauth_consumer_key": CONSUMER_KEY,
        "oauth_nonce": "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6",
        "oauth_signature_method": "HMAC-SHA1",
        "oauth_timestamp": str(int(NOW)),
        "oauth_version": "1.0",
        "oauth_token": ACCESS_TOKEN,
    }
    params = sorted({_nta_encode(k): _nta_encode(v) for k, v in {**oauth, **query}.items()}.items())
    param_string = "&".join(f"{k}={v}" for k, v in params)
    base = "&".join(
        ["GET", _nta_encode("https://upload.x.com" + V1_PATH), _nta_encode(param_string)]
    )
    key = f"{_nta_encode(CONSUMER_SECRET)}&{_nta_encode(ACCESS_TOKEN_SECRET)}"
    digest = hmac.new(key.encode(), base.encode(), hashlib.sha1).digest()
    oauth["oauth_signature"] = base64.b64encode(digest).decode()
    header = "OAuth " + ",".join(
        f'{_nta_encode(k)}="{_nta_encode(v)}"' for k, v in sorted(oauth.items())
    )
    verdict = verify(
        method="GET",
        urls=[
            EMULATOR + V1_PATH,
            "https://upload.twitter.com" + V1_PATH,
            "https://upload.x.com" + V1_PATH,
        ],
        authorization=header,
        query=list(query.items()),
    )
    assert (verdict.ok, verdict.url) == (True, "https://upload.x.com" + V1_PATH)


# ----------------------------------------------------------------------- bearer tokens


@pytest.mark.parametrize(
    ("header", "token"),
    [
        ("Bearer abc.DEF-123", "abc.DEF-123"),
        ("bearer   abc  ", "abc"),
        ("BEARER abc", "abc"),
        ("Bearer", None),
        ("Bearer ", None),
        ("Bearer a b", None),
        ('OAuth oauth_token="x"', None),
        ("Basic abc", None),
        ("", None),
        (None, None),
    ],
)
def test_bearer_token(header: str | None, token: str | None) -> None:
    assert bearer_token(header) == token


def test_app_only_bearer_tokens_are_refused_with_what_x_needs() -> None:
    with pytest.raises(CredentialsError) as caught:
        refuse_app_only_bearer()
    assert str(caught.value) == APP_ONLY_BEARER_MESSAGE
    assert str(caught.value) == (
        "X refuses app-only bearer tokens (X_BEARER_TOKEN) for media uploads: use OAuth 1.0a "
        "user keys (X_API_KEY, X_API_SECRET, X_ACCESS_TOKEN, X_ACCESS_TOKEN_SECRET) or an "
        "OAuth 2.0 user token with the media.write scope (X_USER_TOKEN)"
    )


# ------------------------------------------------------------------------- credentials


OAUTH1_ENV = {
    "X_API_KEY": CONSUMER_KEY,
    "X_API_SECRET": CONSUMER_SECRET,
    "X_ACCESS_TOKEN": ACCESS_TOKEN,
    "X_ACCESS_TOKEN_SECRET": ACCESS_TOKEN_SECRET,
}
USER_ENV = {
    "X_USER_TOKEN": "user-access-token-0123456789abcdef",
    "X_REFRESH_TOKEN": "user-refresh-token-0123456789abcdef",
    "X_CLIENT_ID": "client-id-0123456789",
    "X_CLIENT_SECRET": "client-secret-0123456789abcdef",
}


def test_from_env_reads_oauth1_keys() -> None:
    creds = Credentials.from_env(
        {**{k: f" {v}\n" for k, v in OAUTH1_ENV.items()}, "X_BEARER_TOKEN": "app"}
    )
    assert creds.kind == "oauth1"
    assert creds.user_id == "370773112"
    assert creds.current_token is None
    assert set(creds.secrets()) == {CONSUMER_SECRET, ACCESS_TOKEN_SECRET}
    auth = creds.auth(clock=ManualClock(TIMESTAMP))
    assert isinstance(auth, OAuth1Signer)
    params = oauth_params(sign(httpx.Request("GET", V1_URL), auth).headers["Authorization"])
    assert (params["oauth_consumer_key"], params["oauth_token"]) == (CONSUMER_KEY, ACCESS_TOKEN)
    assert params["oauth_timestamp"] == str(TIMESTAMP)


def test_from_env_reads_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (*OAUTH1_ENV, *USER_ENV, "X_BEARER_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    for name, value in OAUTH1_ENV.items():
        monkeypatch.setenv(name, value)
    assert Credentials.from_env().kind == "oauth1"


def test_from_env_names_the_missing_oauth1_variables() -> None:
    env = {"X_API_KEY": CONSUMER_KEY, "X_ACCESS_TOKEN": ACCESS_TOKEN, "X_API_SECRET": "  "}
    with pytest.raises(CredentialsError) as caught:
        Credentials.from_env(env)
    message = str(caught.value)
    assert "X_API_SECRET, X_ACCESS_TOKEN_SECRET not set" in message
    assert CONSUMER_KEY not in message and ACCESS_TOKEN not in message


def test_from_env_reads_an_oauth2_user_token() -> None:
    creds = Credentials.from_env(USER_ENV)
    assert creds.kind == "oauth2_user"
    assert creds.user_id is None
    token = creds.current_token
    assert token is not None
    assert token.access_token == USER_ENV["X_USER_TOKEN"]
    assert token.refresh_token == USER_ENV["X_REFRESH_TOKEN"]
    assert (token.client_id, token.client_secret) == (
        USER_ENV["X_CLIENT_ID"],
        USER_ENV["X_CLIENT_SECRET"],
    )
    assert token.can_refresh
    assert set(creds.secrets()) == {
        USER_ENV["X_USER_TOKEN"],
        USER_ENV["X_REFRESH_TOKEN"],
        USER_ENV["X_CLIENT_SECRET"],
    }
    assert isinstance(creds.auth(), UserTokenAuth)
    public = Credentials.from_env({"X_USER_TOKEN": "only-an-access-token-000"})
    assert public.current_token is not None and not public.current_token.can_refresh


def test_from_env_prefers_complete_oauth1_keys_then_a_user_token() -> None:
    assert Credentials.from_env({**OAUTH1_ENV, **USER_ENV}).kind == "oauth1"
    partial = {"X_API_KEY": CONSUMER_KEY, **USER_ENV}
    assert Credentials.from_env(partial).kind == "oauth2_user"


def test_from_env_refuses_an_app_only_bearer_token() -> None:
    with pytest.raises(CredentialsError) as caught:
        Credentials.from_env({"X_BEARER_TOKEN": "AAAAAAAAAAAAAAAAAAAAAApp-only-token"})
    assert str(caught.value) == APP_ONLY_BEARER_MESSAGE
    assert "AAAAAAAAAAAAAAAAAAAAAApp-only-token" not in str(caught.value)


def test_from_env_without_credentials_lists_the_variables() -> None:
    for env in ({}, {"X_API_KEY": "", "X_USER_TOKEN": " "}, {"UNRELATED": "1"}):
        with pytest.raises(CredentialsError) as caught:
            Credentials.from_env(env)
        message = str(caught.value)
        for name in (*OAUTH1_ENV, *USER_ENV):
            assert name in message
    with pytest.raises(CredentialsError, match="X_USER_TOKEN is not"):
        Credentials.from_env({"X_REFRESH_TOKEN": "r" * 20, "X_CLIENT_ID": "c"})


def test_constructors_refuse_unusable_values_without_echoing_them() -> None:
    with pytest.raises(CredentialsError) as caught:
        Credentials.oauth1(CONSUMER_KEY, CONSUMER_SECRET + "\n", ACCESS_TOKEN, ACCESS_TOKEN_SECRET)
    assert "consumer_secret" in str(caught.value) and CONSUMER_SECRET not in str(caught.value)
    with pytest.raises(CredentialsError, match="access_token"):
        Credentials.user_token("")
    with pytest.raises(CredentialsError, match="refresh_token"):
        Credentials.user_token("tok", refresh_token="has space")
    with pytest.raises(TypeError):
        Credentials()
    creds = Credentials.oauth1(*KEYS)
    with pytest.raises(AttributeError):
        creds._keys = None


def test_user_id_needs_a_numeric_prefix() -> None:
    assert Credentials.oauth1("ck", "cs", "12345-abc", "ts").user_id == "12345"
    assert Credentials.oauth1("ck", "cs", "abc-12345", "ts").user_id is None
    assert Credentials.oauth1("ck", "cs", "12345", "ts").user_id is None


def test_user_token_scopes_from_a_string_or_an_iterable() -> None:
    a = Credentials.user_token("tok", scopes="media.write  tweet.write").current_token
    b = Credentials.user_token("tok", scopes=["tweet.write", "media.write"]).current_token
    assert a is not None and b is not None
    assert a.scopes == b.scopes == frozenset({"media.write", "tweet.write"})


def test_no_repr_or_str_shows_a_secret() -> None:
    user = UserToken(
        access_token=USER_ENV["X_USER_TOKEN"],
        refresh_token=USER_ENV["X_REFRESH_TOKEN"],
        expires_at=NOW,
        scopes=frozenset({"media.write"}),
        client_id=USER_ENV["X_CLIENT_ID"],
        client_secret=USER_ENV["X_CLIENT_SECRET"],
    )
    oauth1 = Credentials.oauth1(*KEYS)
    oauth2 = Credentials.from_env(USER_ENV)
    request = sign(httpx.Request("GET", V1_URL), example_signer(now=NOW))
    verdict = verify(method="GET", urls=[V1_URL], authorization=request.headers["Authorization"])
    objects: list[object] = [
        oauth1,
        oauth2,
        user,
        oauth1.auth(),
        oauth2.auth(),
        UserTokenAuth(user),
        example_signer(),
        verdict,
        oauth2.current_token,
    ]
    secrets = [*KEYS, *USER_ENV.values()]
    for obj in objects:
        for text in (repr(obj), str(obj)):
            for secret in secrets:
                assert secret not in text, (type(obj).__name__, text)
    assert repr(oauth1) == "Credentials(kind='oauth1', consumer_key='xvz1…', user_id='370773112')"
    assert "oauth2_user" in repr(oauth2)
    assert "media.write" in repr(user)


def test_redact_removes_secrets_and_their_encoded_forms() -> None:
    secret = "s3cr3t/with+special=chars"
    text = f"raw {secret} quoted {quote(secret, safe='')} plus {secret.replace('/', '%2F')}"
    cleaned = redact(text, [secret, "", "unrelated-value"])
    assert secret not in cleaned and quote(secret, safe="") not in cleaned
    assert cleaned.startswith("raw *** quoted *** plus ")
    assert redact("nothing to hide", []) == "nothing to hide"


# ------------------------------------------------------------------- OAuth 2.0 refresh


@dataclass
class TokenServer:
    """A minimal X token endpoint and media endpoint: tokens rotate on every refresh, and an
    access token that is not the newest answers 401."""

    client_id: str = "client-id-0123456789"
    client_secret: str | None = None
    refresh_token: str = "rt-0"
    access_tokens: set[str] = field(default_factory=lambda: {"at-0"})
    first_wave: int = 0  # hold this many 401s until they have all arrived
    always_401: bool = False
    refresh_delay_s: float = 0.01
    refreshes: int = 0
    refresh_attempts: int = 0
    token_requests: list[tuple[dict[str, str], str | None]] = field(default_factory=list)
    media_bodies: list[tuple[str | None, bytes]] = field(default_factory=list)
    _held: int = 0
    _wave_in: asyncio.Event = field(default_factory=asyncio.Event)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/2/oauth2/token", self.token, methods=["POST"]),
                Route("/2/media/upload{rest:path}", self.media, methods=["GET", "POST"]),
            ]
        )

    async def token(self, request: Request) -> Response:
        self.refresh_attempts += 1
        form = dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))
        authorization = request.headers.get("authorization")
        self.token_requests.append((form, authorization))
        await asyncio.sleep(self.refresh_delay_s)
        if self.client_secret is None:
            client_ok = form.get("client_id") == self.client_id and authorization is None
        else:
            pair = f"{self.client_id}:{self.client_secret}".encode()
            client_ok = authorization == "Basic " + base64.b64encode(pair).decode()
        if (
            not client_ok
            or form.get("grant_type") != "refresh_token"
            or form.get("refresh_token") != self.refresh_token
        ):
            return JSONResponse(
                {
                    "error": "invalid_request",
                    "error_description": "Value passed for the token was invalid.",
                },
                status_code=400,
            )
        self.refreshes += 1
        n = self.refreshes
        self.refresh_token = f"rt-{n}"
        self.access_tokens = {f"at-{n}"}  # the old access token stops working
        return JSONResponse(
            {
                "token_type": "bearer",
                "expires_in": 7200,
                "access_token": f"at-{n}",
                "scope": "media.write tweet.read offline.access",
                "refresh_token": f"rt-{n}",
            }
        )

    async def media(self, request: Request) -> Response:
        token = bearer_token(request.headers.get("authorization"))
        self.media_bodies.append((token, await request.body()))
        if token in self.access_tokens and not self.always_401:
            return JSONResponse({"data": {"token": token}})
        if self._held < self.first_wave:
            self._held += 1
            if self._held == self.first_wave:
                self._wave_in.set()
            await self._wave_in.wait()
        return JSONResponse(
            {
                "title": "Unauthorized",
                "type": "about:blank",
                "status": 401,
                "detail": "Unauthorized",
            },
            status_code=401,
        )

    def client(self, auth: httpx.Auth) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app()), base_url="https://api.x.com", auth=auth
        )


async def test_refresh_user_token_public_client_rotates_the_refresh_token() -> None:
    server = TokenServer()
    old = UserToken("at-0", refresh_token="rt-0", client_id=server.client_id)
    async with server.client(httpx.Auth()) as client:
        new = await refresh_user_token(client, "https://api.x.com/2/oauth2/token", old, now=NOW)
        assert (new.access_token, new.refresh_token) == ("at-1", "rt-1")
        assert new.expires_at == NOW + 7200
        assert new.scopes == frozenset({"media.write", "tweet.read", "offline.access"})
        assert new.client_id == server.client_id
        form, authorization = server.token_requests[-1]
        assert form == {
            "grant_type": "refresh_token",
            "refresh_token": "rt-0",
            "client_id": server.client_id,
        }
        assert authorization is None
        # The old refresh token no longer works, and the error shows no secret.
        with pytest.raises(AuthError) as caught:
            await refresh_user_token(client, "https://api.x.com/2/oauth2/token", old, now=NOW)
    message = str(caught.value)
    assert caught.value.status_code == 400 and caught.value.code == "invalid_request"
    assert "HTTP 400" in message and "invalid_request" in message
    assert "rt-0" not in message and "at-0" not in message


async def test_refresh_user_token_confidential_client_uses_basic_auth() -> None:
    server = TokenServer(client_secret="client-secret-0123456789abcdef")
    old = UserToken(
        "at-0", refresh_token="rt-0", client_id=server.client_id, client_secret=server.client_secret
    )
    async with server.client(httpx.Auth()) as client:
        new = await refresh_user_token(client, "https://api.x.com/2/oauth2/token", old, now=NOW)
    form, authorization = server.token_requests[-1]
    assert "client_id" not in form
    assert authorization is not None and authorization.startswith("Basic ")
    assert new.refresh_token == "rt-1" and new.client_secret == server.client_secret


async def test_refresh_user_token_needs_a_refresh_token_and_a_client_id() -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=TokenServer().app())) as client:
        with pytest.raises(AuthError, match="no refresh token"):
            await refresh_user_token(
                client,
                "https://api.x.com/2/oauth2/token",
                UserToken("at-0", client_id="c"),
                now=NOW,
            )
        with pytest.raises(AuthError, match="X_CLIENT_ID"):
            await refresh_user_token(
                client,
                "https://api.x.com/2/oauth2/token",
                UserToken("at-0", refresh_token="rt-0"),
                now=NOW,
            )


async def test_ten_concurrent_401s_cause_one_refresh_and_all_succeed() -> None:
    server = TokenServer(access_tokens=set(), first_wave=10, refresh_delay_s=0.05)
    refreshed: list[UserToken] = []

    async def on_refresh(token: UserToken) -> None:
        await asyncio.sleep(0)
        refreshed.append(token)

    creds = Credentials.user_token(
        "at-expired", refresh_token="rt-0", client_id=server.client_id, on_refresh=on_refresh
    )
    async with server.client(creds.auth()) as client:
        responses = await asyncio.gather(
            *(
                client.post("/2/media/upload/1/append", content=f"chunk-{i}".encode())
                for i in range(10)
            )
        )
    assert [r.status_code for r in responses] == [200] * 10
    assert {r.json()["data"]["token"] for r in responses} == {"at-1"}
    assert (server.refreshes, server.refresh_attempts) == (1, 1)
    assert [t.refresh_token for t in refreshed] == ["rt-1"]
    assert creds.current_token == refreshed[0]
    assert creds.secrets() == refreshed[0].secrets()
    # Each request was sent twice (401, then with the new token), body and all.
    bodies = sorted(body for token, body in server.media_bodies if token == "at-1")
    assert bodies == sorted(f"chunk-{i}".encode() for i in range(10))
    assert len(server.media_bodies) == 20


async def test_the_next_expiry_refreshes_again_with_the_rotated_refresh_token() -> None:
    server = TokenServer()
    seen: list[str | None] = []
    creds = Credentials.from_env(
        {"X_USER_TOKEN": "at-0", "X_REFRESH_TOKEN": "rt-0", "X_CLIENT_ID": server.client_id},
        on_refresh=lambda token: seen.append(token.refresh_token),  # a sync hook
    )
    async with server.client(creds.auth()) as client:
        assert (await client.get("/2/media/upload")).json()["data"]["token"] == "at-0"
        server.access_tokens = set()  # the token expires on X's side
        assert (await client.get("/2/media/upload")).json()["data"]["token"] == "at-1"
        server.access_tokens = set()
        assert (await client.get("/2/media/upload")).json()["data"]["token"] == "at-2"
    assert seen == ["rt-1", "rt-2"]
    assert [form["refresh_token"] for form, _ in server.token_requests] == ["rt-0", "rt-1"]


async def test_multipart_body_is_replayed_intact_after_a_refresh() -> None:
    server = TokenServer(access_tokens=set())
    chunk = bytes(range(256)) * 100
    auth = UserTokenAuth(UserToken("at-0", refresh_token="rt-0", client_id=server.client_id))
    async with server.client(auth) as client:
        request = client.build_request(
            "POST",
            "/2/media/upload/5/append",
            data={"segment_index": "0"},
            files={"media": ("blob", chunk, "application/octet-stream")},
        )
        sent = request.read()
        response = await client.send(request)
    assert response.status_code == 200
    assert [body for _, body in server.media_bodies] == [sent, sent]
    assert auth.token.access_token == "at-1"


async def test_a_second_401_is_returned_not_retried_again() -> None:
    server = TokenServer(always_401=True)
    auth = UserTokenAuth(UserToken("at-0", refresh_token="rt-0", client_id=server.client_id))
    async with server.client(auth) as client:
        response = await client.get("/2/media/upload")
    assert response.status_code == 401
    assert server.refreshes == 1 and len(server.media_bodies) == 2


async def test_without_a_refresh_token_a_401_is_just_returned() -> None:
    server = TokenServer(access_tokens=set())
    async with server.client(UserTokenAuth(UserToken("at-0", client_id="c"))) as client:
        response = await client.get("/2/media/upload")
    assert response.status_code == 401
    assert server.refresh_attempts == 0


async def test_a_failed_refresh_is_shared_by_every_waiting_request() -> None:
    server = TokenServer(access_tokens=set(), refresh_token="rt-other", first_wave=10)
    auth = UserTokenAuth(UserToken("at-0", refresh_token="rt-revoked", client_id=server.client_id))
    async with server.client(auth) as client:
        results = await asyncio.gather(
            *(client.get("/2/media/upload") for _ in range(10)), return_exceptions=True
        )
        assert all(isinstance(r, AuthError) for r in results), results
        assert server.refresh_attempts == 1
        for error in results:
            assert "rt-revoked" not in str(error) and "at-0" not in str(error)
        # A later request tries again rather than inheriting an old failure.
        with pytest.raises(AuthError):
            await client.get("/2/media/upload")
        assert server.refresh_attempts == 2


async def test_a_token_known_to_expire_is_refreshed_before_sending() -> None:
    server = TokenServer()
    clock = ManualClock(NOW)
    token = UserToken("at-0", refresh_token="rt-0", client_id=server.client_id, expires_at=NOW + 30)
    auth = UserTokenAuth(token, clock=clock)
    async with server.client(auth) as client:
        response = await client.get("/2/media/upload")
    assert response.json()["data"]["token"] == "at-1"
    assert [t for t, _ in server.media_bodies] == ["at-1"]  # no wasted 401
    assert auth.token.expires_at == NOW + 7200


async def test_refresh_through_a_given_client_and_token_url() -> None:
    server = TokenServer(access_tokens=set())
    token_client = httpx.AsyncClient(transport=httpx.ASGITransport(app=server.app()))
    creds = Credentials.user_token("at-0", refresh_token="rt-0", client_id=server.client_id)
    auth = creds.auth(client=token_client, token_url="https://tokens.example/2/oauth2/token")
    async with token_client, server.client(auth) as client:
        response = await client.get("/2/media/upload")
    assert response.json()["data"]["token"] == "at-1"
    assert creds.current_token is not None and creds.current_token.refresh_token == "rt-1"


async def test_auths_built_from_one_credentials_share_the_newest_token() -> None:
    server = TokenServer(access_tokens=set())
    creds = Credentials.user_token("at-0", refresh_token="rt-0", client_id=server.client_id)
    async with server.client(creds.auth()) as first, server.client(creds.auth()) as second:
        assert (await first.get("/2/media/upload")).status_code == 200
        # The second client starts from the rotated token: no refresh with a spent one.
        assert (await second.get("/2/media/upload")).json()["data"]["token"] == "at-1"
    assert server.refresh_attempts == 1


async def test_refresh_requests_are_marked_and_keep_the_client_timeout() -> None:
    server = TokenServer(access_tokens=set())
    seen: list[tuple[str, dict[str, object]]] = []

    async def record(request: httpx.Request) -> None:
        seen.append((request.url.path, dict(request.extensions)))

    auth = UserTokenAuth(UserToken("at-0", refresh_token="rt-0", client_id=server.client_id))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=server.app()),
        base_url="https://api.x.com",
        auth=auth,
        timeout=7.0,
        event_hooks={"request": [record]},
    ) as client:
        assert (await client.get("/2/media/upload")).status_code == 200
    assert [path for path, _ in seen] == ["/2/media/upload", "/2/oauth2/token", "/2/media/upload"]
    marked = [path for path, ext in seen if ext.get(TOKEN_REFRESH_EXTENSION)]
    assert marked == ["/2/oauth2/token"]
    assert seen[1][1]["timeout"] == httpx.Timeout(7.0).as_dict()


def test_a_sync_client_gets_the_bearer_header() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"authorization": request.headers["authorization"]})

    auth = UserTokenAuth(UserToken("at-sync"))
    with httpx.Client(transport=httpx.MockTransport(handler), auth=auth) as client:
        assert client.get("https://api.x.com/2/media/upload").json() == {
            "authorization": "Bearer at-sync"
        }
