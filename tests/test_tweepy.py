"""tweepy 4.17's v1.1 media methods against the emulator over TLS, unchanged.

tweepy always builds `https://{upload_host}/1.1/{endpoint}.json`, so the emulator serves HTTPS
with a certificate from a throwaway CA (`trustme`), and `requests` trusts that CA through
`REQUESTS_CA_BUNDLE`, as a user behind a TLS-intercepting proxy would set it. tweepy itself is
configured only as a user configures it: `API(OAuth1UserHandler(...), upload_host=...)`.

What tweepy 4.17 sends (read from tweepy/api.py and confirmed by `Wire` below); requests-oauthlib
signs every request for the URL it is sent to (`https://127.0.0.1:PORT/...`, no X host name):

- chunked_upload_init: POST media/upload.json, `application/x-www-form-urlencoded` body
  `command=INIT&total_bytes=…&media_type=…[&media_category=…][&additional_owners=…]`; the
  body is signed. media_type comes from `imghdr` (deprecated, hence the warning filter) or
  `mimetypes`; media_category is passed through as given.
- chunked_upload_append: POST multipart/form-data, fields `command`, `media_id` (the JSON
  number it got from INIT), `segment_index`, and a `media` file part named after the file,
  without a content type; the body is not signed. 1 MiB chunks (at least size/1000).
- chunked_upload_finalize: POST urlencoded `command=FINALIZE&media_id=…`, signed.
- get_media_upload_status: GET `?command=STATUS&media_id=…`, signed query. While the state is
  `pending` or `in_progress` and there is no `error`, tweepy sleeps `check_after_secs` real
  seconds and polls again; it returns the last object whatever the outcome (a `failed` state
  raises nothing).
- simple_upload: POST multipart, a `media` file part plus `media_category` /
  `additional_owners` fields; no query string, body unsigned.
- create_media_metadata: POST media/metadata/create.json, `application/json`
  `{"media_id": …, "alt_text": {"text": …}}`, unsigned; the empty 200 parses as None.
- Errors: 400 → BadRequest, 401 → Unauthorized, 404 → NotFound, 429 → TooManyRequests; the
  messages of `errors[]` and a top-level `"error"` string both land in `api_messages`.

Processing runs on real time here (tweepy sleeps real seconds): 0.5 s of processing, so one
`check_after_secs` of 1 covers it.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
import trustme
import tweepy

from mediakit.emulator import DEMO, Emulator, running
from mediakit.emulator._ratelimit import RateLimits
from mediakit.emulator._verify import verify_oauth1

from . import mediafactory as mf

pytestmark = pytest.mark.filterwarnings(
    # tweepy's media_upload imports imghdr, deprecated since Python 3.11.
    "ignore:'imghdr' is deprecated:DeprecationWarning"
)

MiB = 1024 * 1024


# ---------------------------------------------------------------------------------------------
# TLS, the emulator, and tweepy configured as a user would


@dataclass(frozen=True)
class TLS:
    ca: Path
    cert: Path
    key: Path


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TLS:
    folder = tmp_path_factory.mktemp("tls")
    ca = trustme.CA()
    issued = ca.issue_cert("127.0.0.1", "localhost")
    paths = TLS(folder / "ca.pem", folder / "cert.pem", folder / "key.pem")
    ca.cert_pem.write_to_path(str(paths.ca))
    issued.cert_chain_pems[0].write_to_path(str(paths.cert))
    issued.private_key_pem.write_to_path(str(paths.key))
    return paths


@pytest.fixture(autouse=True)
def trust_ca(tls: TLS, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls.ca))


@pytest.fixture
def emulator(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Emulator]:
    """Real time, 0.5 s of processing; more settings by indirect parametrization:
    `parametrize("emulator", [{...}], indirect=True)`."""
    settings: dict[str, Any] = {"processing_seconds": 0.5, "seed": 1}
    settings.update(getattr(request, "param", {}))
    with Emulator(state=tmp_path / "tweepy.sqlite", **settings) as emulator:
        yield emulator


@pytest.fixture
def host(emulator: Emulator, tls: TLS) -> Iterator[str]:
    """`127.0.0.1:PORT` of the emulator served over HTTPS, for tweepy's `upload_host`."""
    with running(emulator, ssl_certfile=str(tls.cert), ssl_keyfile=str(tls.key)) as url:
        assert url.startswith("https://")
        yield urlsplit(url).netloc
        gc.collect()  # see `close`


def oauth1(consumer_secret: str = DEMO.consumer_secret) -> tweepy.OAuth1UserHandler:
    return tweepy.OAuth1UserHandler(
        DEMO.consumer_key, consumer_secret, DEMO.access_token, DEMO.access_token_secret
    )


@dataclass(frozen=True)
class Sent:
    """One request as it left tweepy (seen by a `requests` response hook)."""

    method: str
    url: str
    content_type: str | None
    authorization: str
    body: bytes | None
    status: int


class Wire:
    """Records what tweepy put on the wire; a plain `requests` response hook, changes nothing."""

    def __init__(self) -> None:
        self.sent: list[Sent] = []

    def hook(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        request = response.request
        body = request.body.encode() if isinstance(request.body, str) else request.body
        self.sent.append(
            Sent(
                method=str(request.method),
                url=str(request.url),
                content_type=request.headers.get("Content-Type"),
                authorization=request.headers.get("Authorization", ""),
                body=body,
                status=response.status_code,
            )
        )


def make_api(host: str, auth: Any = None, wire: Wire | None = None) -> tweepy.API:
    api = tweepy.API(auth or oauth1(), upload_host=host)
    if wire is not None:
        api.session.hooks["response"].append(wire.hook)
    return api


@pytest.fixture
def wire() -> Wire:
    return Wire()


def close(api: tweepy.API) -> None:
    """Let the TLS server stop at once.

    A `requests.Response` still referenced holds its socket open even after the session is
    closed, and uvicorn then waits for that TLS connection to close (`running` gives up after
    10 s). tweepy keeps the last response, and an exception it raised keeps its response in a
    reference cycle with the test's frame.
    """
    api.session.close()
    api.last_response = None
    gc.collect()


@pytest.fixture
def api(host: str, wire: Wire) -> Iterator[tweepy.API]:
    client = make_api(host, wire=wire)
    yield client
    close(client)


@pytest.fixture
def media_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "media"
    folder.mkdir()
    return folder


def form_of(sent: Sent) -> dict[str, str]:
    assert sent.body is not None
    return dict(parse_qsl(sent.body.decode()))


def command_of(sent: Sent) -> str | None:
    query = dict(parse_qsl(urlsplit(sent.url).query))
    if "command" in query:
        return query["command"]
    if sent.content_type == "application/x-www-form-urlencoded":
        return form_of(sent).get("command")
    if sent.body and b'name="command"' in sent.body:
        return sent.body.split(b'name="command"\r\n\r\n', 1)[1].split(b"\r\n", 1)[0].decode()
    return None


def signed_for_sent_url(sent: Sent) -> bool:
    """Whether the signature verifies for exactly the URL tweepy connected to."""
    parts = urlsplit(sent.url)
    form = (
        list(parse_qsl(sent.body.decode(), keep_blank_values=True))
        if sent.content_type == "application/x-www-form-urlencoded" and sent.body
        else None
    )
    verdict = verify_oauth1(
        method=sent.method,
        urls=[f"{parts.scheme}://{parts.netloc}{parts.path}"],
        authorization=sent.authorization,
        query=parse_qsl(parts.query, keep_blank_values=True),
        form=form,
        consumer_secret_for=lambda key: DEMO.consumer_secret,
        token_secret_for=lambda token: DEMO.access_token_secret,
        now=time.time(),
    )
    return verdict.ok


# ---------------------------------------------------------------------------------------------
# Uploads


def test_tweepy_chunked_image(
    api: tweepy.API, wire: Wire, host: str, emulator: Emulator, media_dir: Path
) -> None:
    path = mf.make_jpeg(media_dir / "photo.jpg", width=321, height=123)
    size = path.stat().st_size
    media = api.media_upload(
        str(path), chunked=True, media_category="tweet_image", chunk_size=size // 3 + 1
    )
    assert isinstance(media, tweepy.models.Media)
    assert isinstance(media.media_id, int) and str(media.media_id) == media.media_id_string
    assert media.media_key == f"3_{media.media_id_string}"
    assert media.size == size
    assert media.image == {"image_type": "image/jpeg", "w": 321, "h": 123}
    assert not hasattr(media, "processing_info")
    record = emulator.media_by_id(media.media_id_string)
    assert record is not None and record.state == "ready" and record.segments == 3
    assert record.owner == DEMO.user_id and record.api == "v1.1"

    # What went over the wire.
    assert [command_of(s) for s in wire.sent] == ["INIT", "APPEND", "APPEND", "APPEND", "FINALIZE"]
    assert all(urlsplit(s.url).netloc == host for s in wire.sent)
    assert all(urlsplit(s.url).path == "/1.1/media/upload.json" for s in wire.sent)
    assert all(urlsplit(s.url).scheme == "https" for s in wire.sent)
    assert all(s.authorization.startswith("OAuth ") for s in wire.sent)
    init, *appends, final = wire.sent
    assert init.content_type == "application/x-www-form-urlencoded"
    assert form_of(init) == {
        "command": "INIT",
        "total_bytes": str(size),
        "media_type": "image/jpeg",
        "media_category": "tweet_image",
    }
    for index, sent in enumerate(appends):
        assert sent.content_type is not None
        assert sent.content_type.startswith("multipart/form-data; boundary=")
        assert sent.body is not None
        assert b'name="media"; filename="' + str(path).encode() + b'"' in sent.body
        assert f'name="segment_index"\r\n\r\n{index}\r\n'.encode() in sent.body
        assert f'name="media_id"\r\n\r\n{media.media_id}\r\n'.encode() in sent.body
        assert urlsplit(sent.url).query == ""
    assert final.content_type == "application/x-www-form-urlencoded"
    assert form_of(final) == {"command": "FINALIZE", "media_id": media.media_id_string}
    # Signed for the very URL it connected to; urlencoded bodies signed, multipart not.
    assert all(signed_for_sent_url(s) for s in wire.sent)


def test_tweepy_chunked_video_waits_for_processing(
    api: tweepy.API, wire: Wire, emulator: Emulator, media_dir: Path
) -> None:
    pytest.importorskip("av")
    path = mf.make_mp4(media_dir / "clip.mp4", seconds=1.0)
    started = time.monotonic()
    # A video takes the chunked path whatever `chunked` says.
    media = api.media_upload(str(path), media_category="tweet_video")
    elapsed = time.monotonic() - started
    assert media.media_key == f"7_{media.media_id_string}"
    assert media.processing_info == {"state": "succeeded", "progress_percent": 100}
    assert media.video == {"video_type": "video/mp4"}
    assert elapsed >= 1.0  # tweepy slept check_after_secs before polling
    commands = [command_of(s) for s in wire.sent]
    assert commands[0] == "INIT" and "FINALIZE" in commands and commands[-1] == "STATUS"
    status = wire.sent[-1]
    assert status.method == "GET" and status.body is None
    assert dict(parse_qsl(urlsplit(status.url).query)) == {
        "command": "STATUS",
        "media_id": media.media_id_string,
    }
    assert form_of(wire.sent[0])["media_type"] == "video/mp4"
    assert all(signed_for_sent_url(s) for s in wire.sent)
    finalize = next(r for r in emulator.requests if r.command == "FINALIZE")
    first_status = next(r for r in emulator.requests if r.command == "STATUS")
    assert first_status.started_at - (finalize.finished_at or 0) >= 0.9
    assert emulator.media_by_id(media.media_id_string).state == "succeeded"  # type: ignore[union-attr]


def test_tweepy_chunked_animated_gif(api: tweepy.API, media_dir: Path) -> None:
    path = mf.make_gif(media_dir / "anim.gif", 32, 32, frames=5)
    media = api.media_upload(str(path), chunked=True, media_category="tweet_gif")
    assert media.media_key == f"16_{media.media_id_string}"
    assert media.processing_info["state"] == "succeeded"
    assert media.video == {"video_type": "video/mp4"}


def test_tweepy_chunked_upload_directly(api: tweepy.API, media_dir: Path) -> None:
    path = mf.make_png(media_dir / "p.png", 20, 10)
    with path.open("rb") as handle:
        media = api.chunked_upload(
            "p.png", file=handle, file_type="image/png", media_category="dm_image"
        )
    assert media.image == {"image_type": "image/png", "w": 20, "h": 10}
    assert media.media_key.startswith("3_")


def test_tweepy_simple_upload_and_alt_text(
    api: tweepy.API, wire: Wire, emulator: Emulator, media_dir: Path
) -> None:
    path = mf.make_png(media_dir / "pic.png", 40, 30)
    media = api.media_upload(str(path))  # an image, not chunked: the simple upload
    assert media.image == {"image_type": "image/png", "w": 40, "h": 30}
    assert media.size == path.stat().st_size
    assert not hasattr(media, "media_key")  # X adds it only when a category was given
    sent = wire.sent[-1]
    assert command_of(sent) is None
    assert sent.content_type is not None and sent.content_type.startswith("multipart/form-data")
    assert sent.body is not None and b'name="media"; filename="pic.png"' in sent.body
    assert signed_for_sent_url(sent)

    categorized = api.simple_upload(str(path), media_category="tweet_image")
    assert categorized.media_key == f"3_{categorized.media_id_string}"
    assert wire.sent[-1].body is not None
    assert b'name="media_category"\r\n\r\ntweet_image' in wire.sent[-1].body

    assert api.create_media_metadata(media.media_id, "Two rectangles") is None
    metadata = wire.sent[-1]
    assert urlsplit(metadata.url).path == "/1.1/media/metadata/create.json"
    assert metadata.content_type == "application/json"
    assert metadata.status == 200
    assert signed_for_sent_url(metadata)
    record = emulator.media_by_id(media.media_id_string)
    assert record is not None and record.alt_text == "Two rectangles"
    # The id as a string works as well.
    api.create_media_metadata(categorized.media_id_string, "Also rectangles")
    record = emulator.media_by_id(categorized.media_id_string)
    assert record is not None and record.alt_text == "Also rectangles"


def test_tweepy_status_poll_by_hand(api: tweepy.API, media_dir: Path) -> None:
    path = mf.make_gif(media_dir / "anim.gif", 16, 16, frames=3)
    media = api.chunked_upload(
        str(path),
        file_type="image/gif",
        media_category="TweetGif",
        wait_for_async_finalize=False,
    )
    assert media.processing_info["state"] == "pending"
    assert media.processing_info["check_after_secs"] >= 1
    time.sleep(media.processing_info["check_after_secs"])
    done = api.get_media_upload_status(media.media_id)
    assert done.processing_info["state"] == "succeeded"
    assert done.media_id == media.media_id


# ---------------------------------------------------------------------------------------------
# Errors, as tweepy raises them


def test_tweepy_too_large_gif(api: tweepy.API, media_dir: Path) -> None:
    path = mf.make_big_file(media_dir / "huge.gif", 15 * MiB + 1, header="gif")
    # tweepy leaves a file it opened itself unclosed when a chunked upload fails: hand it one.
    with path.open("rb") as handle, pytest.raises(tweepy.errors.BadRequest) as raised:
        api.media_upload(path.name, file=handle, chunked=True, media_category="tweet_gif")
    error = raised.value
    assert error.response.status_code == 400
    assert "File size exceeds 15728640 bytes." in str(error)
    assert error.api_messages == ["File size exceeds 15728640 bytes."]
    assert error.api_codes == []


def test_tweepy_too_large_simple_image(api: tweepy.API, media_dir: Path) -> None:
    path = mf.make_big_file(media_dir / "huge.png", 5 * MiB + 1, header="png")
    with pytest.raises(tweepy.errors.BadRequest) as raised:
        api.simple_upload(str(path))
    assert raised.value.api_codes == [324]
    assert raised.value.api_messages == ["Image file size must be <= 5242880 bytes"]


def test_tweepy_segments_that_do_not_add_up(api: tweepy.API) -> None:
    media_id = api.chunked_upload_init(10, "image/png", media_category="tweet_image").media_id
    api.chunked_upload_append(media_id, ("x.png", b"12345"), 0)
    with pytest.raises(tweepy.errors.BadRequest) as raised:
        api.chunked_upload_finalize(media_id)
    assert raised.value.api_messages == ["Segments do not add up to provided total file size."]


def test_tweepy_status_of_an_image_is_not_found(api: tweepy.API, media_dir: Path) -> None:
    media = api.media_upload(str(mf.make_png(media_dir / "p.png")))
    with pytest.raises(tweepy.errors.NotFound) as raised:
        api.get_media_upload_status(media.media_id)
    assert raised.value.api_codes == [34]
    with pytest.raises(tweepy.errors.NotFound):
        api.chunked_upload_append(1234567890123456789, ("x", b"abc"), 0)


@pytest.mark.parametrize("emulator", [{"processing_failure_rate": 1.0}], indirect=True)
def test_tweepy_processing_failure(api: tweepy.API, media_dir: Path) -> None:
    path = mf.make_gif(media_dir / "anim.gif", 16, 16, frames=3)
    # tweepy stops polling at `failed` and returns the object; it raises nothing.
    media = api.media_upload(str(path), chunked=True, media_category="tweet_gif")
    info = media.processing_info
    assert info["state"] == "failed"
    assert info["error"]["code"] == 1 and info["error"]["name"] == "InvalidMedia"
    assert not hasattr(media, "video")
    assert not hasattr(media, "expires_after_secs")


def test_tweepy_auth_refusals(host: str, media_dir: Path) -> None:
    path = str(mf.make_png(media_dir / "p.png"))
    wrong = make_api(host, auth=oauth1(consumer_secret="not-the-secret"))
    with open(path, "rb") as handle, pytest.raises(tweepy.errors.Unauthorized) as unauthorized:
        wrong.media_upload("p.png", file=handle, chunked=True)
    assert unauthorized.value.api_codes == [32]
    assert unauthorized.value.api_messages == ["Could not authenticate you."]
    close(wrong)
    # A bearer token (even a v2 user token) is refused on v1.1, as X refuses it.
    bearer = make_api(host, auth=tweepy.OAuth2BearerHandler(DEMO.user_token))
    with pytest.raises(tweepy.errors.Forbidden) as refused:
        bearer.media_upload(path)
    assert refused.value.api_codes == [220]
    assert refused.value.api_messages == ["Your credentials do not allow access to this resource."]
    close(bearer)


@pytest.mark.parametrize(
    "emulator", [{"rate_limits": RateLimits(per_user={"UPLOAD": 1})}], indirect=True
)
def test_tweepy_rate_limited(api: tweepy.API, media_dir: Path) -> None:
    path = str(mf.make_png(media_dir / "p.png"))
    api.media_upload(path)
    with pytest.raises(tweepy.errors.TooManyRequests) as raised:
        api.media_upload(path)
    assert raised.value.api_codes == [88]
    assert raised.value.api_messages == ["Rate limit exceeded"]
    assert raised.value.response.headers["x-rate-limit-remaining"] == "0"
