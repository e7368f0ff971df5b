"""node-twitter-api-v2 (npm `twitter-api-v2` 1.29.1), the most used JavaScript client, unchanged.

`tests/js/upload.mjs` drives it exactly as a user would: `new TwitterApi({appKey, appSecret,
accessToken, accessSecret}, {httpAgent})` (or `new TwitterApi(userToken)`), then
`client.v1.uploadMedia`, `client.v2.uploadMedia`, `client.v1/v2.createMediaMetadata`; it prints
what NTA returned or raised, and every request NTA made (as its agent saw it).

Pointing NTA at the emulator: NTA builds every URL from constants (`https://upload.x.com/1.1/`,
`https://api.x.com/2/`), has no setting for them, and the upload methods pass the prefix
explicitly, so `setPrefix` does not reach them; worse, it chooses the v1.1 body format from the
host name (multipart only for `upload.x.com`), so rewriting URLs (a plugin could) would change
what it sends. The URLs are therefore left alone: NTA's documented `httpAgent` setting (meant for
proxies) gets an `https.Agent` whose `createConnection` opens the connection to the emulator on
127.0.0.1 instead. The request line, the Host header, TLS SNI and the OAuth 1.0a signature all
keep X's host names, which is the case the emulator must accept: it checks signatures against
the Host it was sent and X's host names. The emulator serves TLS with a certificate from a
throwaway CA (`trustme`) covering `upload.x.com`, `api.x.com` and 127.0.0.1; node trusts that CA
through `NODE_EXTRA_CA_CERTS`. Hosts without a route are refused by the agent.

What NTA 1.29.1 sends (read from its dist/cjs sources and confirmed by the recorded wire below):

- v1.1 `uploadMedia(file, {mimeType, target, longVideo, shared, additionalOwners, chunkLength,
  maxConcurrentUploads})`: every command is a POST to upload.x.com/1.1/media/upload.json with a
  `multipart/form-data` body and nothing in the query string; plain fields (no file names)
  `command`, `total_bytes`, `media_type`, `media_category` (INIT), `media_id`, `segment_index`
  and a `media` part with `Content-Type: application/octet-stream` and no file name (APPEND),
  `media_id` (FINALIZE). `media_category` is `TweetImage` / `TweetGif` / `TweetVideo` (`Dm…` for
  `target: 'dm'`), and `amplify_video` for an .mp4 path given without a MIME type. 1 MiB chunks
  by default; up to 3 APPENDs in flight at once. Multipart is never signed: the OAuth 1.0a
  signature covers only the oauth_* parameters, for `https://upload.x.com/1.1/media/upload.json`.
  While processing, STATUS is a GET with `command=STATUS&media_id=…` in the (signed) query; NTA
  sleeps `check_after_secs` real seconds between polls and throws `Error("Failed to process
  media: NAME - MESSAGE.")` on `failed`.
- v1.1 `createMediaMetadata(id, {alt_text: {text}})`: POST upload.x.com/1.1/media/metadata/
  create.json, `application/json;charset=UTF-8` `{"media_id": "…", "alt_text": {"text": …}}`.
- v2 `uploadMedia(buffer, {media_type, media_category}, chunkSize)`: POST api.x.com/2/media/
  upload/initialize (`application/json;charset=UTF-8`), then one APPEND at a time to
  /2/media/upload/{id}/append as `multipart/form-data` with `segment_index` and a `media` part
  (octet-stream, no file name), then /finalize with the JSON body `{}`; STATUS is GET
  /2/media/upload?command=STATUS&media_id=…; `Error("Media processing failed: MESSAGE")` on
  `failed`. OAuth 1.0a (signed for api.x.com) or a bearer user token.
- v2 `createMediaMetadata(id, {alt_text: {text}})`: POST /2/media/metadata, JSON
  `{"id": "…", "metadata": {"alt_text": {"text": …}}}`.
- Errors: an `ApiResponseError` with `code` (the HTTP status), `data` (the body) and `errors`;
  a v1.1 body `{"request", "error"}` gets `errors: [{"code": 131, "message": error}]` added by NTA.

Processing runs on real time (NTA sleeps real seconds): 1 s of processing, so a single poll
after `check_after_secs` (≥ 1) finds it done.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email.parser import BytesParser
from email.policy import HTTP
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import trustme

from mediakit.emulator import DEMO, Emulator, running
from mediakit.emulator._verify import verify_oauth1

from . import mediafactory as mf

JS = Path(__file__).parent / "js"
NODE = shutil.which("node")

pytestmark = [
    pytest.mark.skipif(NODE is None, reason="node (Node.js) is not on PATH"),
    pytest.mark.skipif(
        not (JS / "node_modules" / "twitter-api-v2").is_dir(),
        reason="twitter-api-v2 is not installed: run `npm ci --prefix tests/js`",
    ),
]

MiB = 1024 * 1024
X_UPLOAD = "https://upload.x.com/1.1/media/upload.json"

OAUTH1 = {
    "appKey": DEMO.consumer_key,
    "appSecret": DEMO.consumer_secret,
    "accessToken": DEMO.access_token,
    "accessSecret": DEMO.access_token_secret,
}
BEARER = {"bearerToken": DEMO.user_token}


# ---------------------------------------------------------------------------------------------
# TLS for X's host names, the emulator, and NTA in a node process


@dataclass(frozen=True)
class TLS:
    ca: Path
    cert: Path
    key: Path


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TLS:
    folder = tmp_path_factory.mktemp("tls")
    ca = trustme.CA()
    issued = ca.issue_cert("upload.x.com", "api.x.com", "127.0.0.1")
    paths = TLS(folder / "ca.pem", folder / "cert.pem", folder / "key.pem")
    ca.cert_pem.write_to_path(str(paths.ca))
    issued.cert_chain_pems[0].write_to_path(str(paths.cert))
    issued.private_key_pem.write_to_path(str(paths.key))
    return paths


@pytest.fixture
def emulator(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Emulator]:
    """Real time, 1 s of processing; more settings by indirect parametrization."""
    settings: dict[str, Any] = {"processing_seconds": 1.0, "seed": 1}
    settings.update(getattr(request, "param", {}))
    with Emulator(state=tmp_path / "node.sqlite", **settings) as emulator:
        yield emulator


@pytest.fixture
def address(emulator: Emulator, tls: TLS) -> Iterator[str]:
    """`127.0.0.1:PORT` of the emulator served over HTTPS."""
    with running(emulator, ssl_certfile=str(tls.cert), ssl_keyfile=str(tls.key)) as url:
        yield urlsplit(url).netloc


@pytest.fixture
def media_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "media"
    folder.mkdir()
    return folder


@dataclass(frozen=True)
class Sent:
    """One request as NTA handed it to its HTTP agent."""

    method: str
    host: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    started: float
    finished: float | None
    status: int | None

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")

    def parts(self) -> list[Part]:
        return multipart(self)

    def fields(self) -> dict[str, str]:
        return {p.name: p.data.decode() for p in self.parts() if p.name != "media"}

    @property
    def command(self) -> str | None:
        if "command" in self.query:
            return self.query["command"]
        if self.content_type.startswith("multipart/form-data"):
            return self.fields().get("command")
        return None


@dataclass(frozen=True)
class Part:
    name: str
    filename: str | None
    content_type: str | None
    data: bytes


def multipart(sent: Sent) -> list[Part]:
    message = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + sent.content_type.encode() + b"\r\n\r\n" + sent.body
    )
    assert message.is_multipart()
    parts = []
    for part in message.iter_parts():
        payload = part.get_payload(decode=True)
        assert isinstance(payload, bytes)
        parts.append(
            Part(
                name=str(part.get_param("name", header="content-disposition")),
                filename=part.get_filename(),
                content_type=part.get("content-type"),
                data=payload,
            )
        )
    return parts


@dataclass(frozen=True)
class Run:
    results: list[dict[str, Any]]
    sent: list[Sent]

    def value(self, index: int = 0) -> Any:
        result = self.results[index]
        assert result["ok"], result["error"]
        return result["value"]

    def error(self, index: int = 0) -> dict[str, Any]:
        result = self.results[index]
        assert not result["ok"], result["value"]
        return dict(result["error"])


def nta(
    address: str,
    tls: TLS,
    steps: list[dict[str, Any]],
    auth: dict[str, str] | None = None,
    timeout: float = 60,
) -> Run:
    """Run `steps` through twitter-api-v2 in a node process, both X hosts routed to `address`."""
    config = {
        "routes": {"upload.x.com": address, "api.x.com": address},
        "auth": auth or OAUTH1,
        "steps": steps,
    }
    env = {**os.environ, "NODE_EXTRA_CA_CERTS": str(tls.ca)}
    assert NODE is not None
    done = subprocess.run(
        [NODE, str(JS / "upload.mjs")],
        input=json.dumps(config),
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    sent = []
    for entry in out["wire"]:
        assert not entry["body_truncated"]
        parts = urlsplit(entry["path"])
        sent.append(
            Sent(
                method=entry["method"],
                host=entry["host"],
                path=parts.path,
                query=dict(parse_qsl(parts.query)),
                headers=entry["headers"],
                body=base64.b64decode(entry["body_b64"]),
                started=entry["started"],
                finished=entry["finished"],
                status=entry["status"],
            )
        )
    return Run(results=out["results"], sent=sent)


def signed_for(sent: Sent, url: str) -> bool:
    """Whether the OAuth 1.0a signature verifies for `url` (multipart and JSON: unsigned)."""
    verdict = verify_oauth1(
        method=sent.method,
        urls=[url],
        authorization=sent.headers.get("authorization"),
        query=list(sent.query.items()),
        form=None,
        consumer_secret_for=lambda key: DEMO.consumer_secret,
        token_secret_for=lambda token: DEMO.access_token_secret,
        now=time.time(),
    )
    return verdict.ok


def max_overlap(intervals: list[tuple[float, float]]) -> int:
    """The most intervals open at one instant."""
    events = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    most = current = 0
    for _, step in events:
        current += step
        most = max(most, current)
    return most


# ---------------------------------------------------------------------------------------------
# v1.1


@pytest.mark.parametrize("emulator", [{"latency": 0.15}], indirect=True)
def test_v1_chunked_image_with_parallel_appends(
    address: str, tls: TLS, emulator: Emulator, media_dir: Path
) -> None:
    path = mf.make_jpeg(media_dir / "photo.jpg", width=640, height=480)
    data = path.read_bytes()
    chunk = 1000
    segments = -(-len(data) // chunk)
    assert segments >= 5
    run = nta(
        address,
        tls,
        [
            {
                "call": "v1.uploadMedia",
                "file": str(path),
                "options": {"chunkLength": chunk},
                "full": True,
            }
        ],
    )
    media = run.value()
    assert media["media_id_string"] == str(int(media["media_id_string"]))
    assert media["media_key"] == f"3_{media['media_id_string']}"
    assert media["size"] == len(data)
    assert media["image"] == {"image_type": "image/jpeg", "w": 640, "h": 480}
    record = emulator.media_by_id(media["media_id_string"])
    assert record is not None and record.api == "v1.1" and record.owner == DEMO.user_id
    assert record.state == "ready" and record.segments == segments
    assert record.media_category == "tweet_image"
    assert (record.detected_type, record.width, record.height) == ("image/jpeg", 640, 480)

    # The wire: X's host and path, every parameter in a multipart body, none in the query.
    assert [s.command for s in run.sent] == ["INIT"] + ["APPEND"] * segments + ["FINALIZE"]
    for sent in run.sent:
        assert (sent.method, sent.host, sent.path) == (
            "POST",
            "upload.x.com",
            "/1.1/media/upload.json",
        )
        assert sent.query == {}
        assert sent.content_type.startswith("multipart/form-data; boundary=")
        assert sent.headers["x-user-agent"] == "Node.twitter-api-v2"
        assert sent.status in (200, 204)
        # Signed for X's URL, which the emulator accepts; not for where it connected.
        assert signed_for(sent, X_UPLOAD)
        assert not signed_for(sent, f"https://{address}/1.1/media/upload.json")
    init, *appends, final = run.sent
    assert all(p.filename is None and p.content_type is None for p in init.parts())
    assert init.fields() == {
        "command": "INIT",
        "total_bytes": str(len(data)),
        "media_type": "image/jpeg",
        "media_category": "TweetImage",
    }
    pieces: dict[int, bytes] = {}
    for sent in appends:
        fields = sent.fields()
        assert fields.keys() == {"command", "media_id", "segment_index"}
        assert fields["media_id"] == media["media_id_string"]
        (part,) = [p for p in sent.parts() if p.name == "media"]
        assert part.filename is None  # a file part without a file name
        assert part.content_type == "application/octet-stream"
        pieces[int(fields["segment_index"])] = part.data
        assert sent.status == 204
    assert sorted(pieces) == list(range(segments))
    assert b"".join(pieces[i] for i in range(segments)) == data
    assert final.fields() == {"command": "FINALIZE", "media_id": media["media_id_string"]}

    # Up to 3 APPENDs at once, as NTA's maxConcurrentUploads default says: seen on both sides.
    served = [r for r in emulator.requests if r.command == "APPEND"]
    assert sorted(r.segment_index for r in served) == list(range(segments))  # type: ignore[type-var]
    assert all(r.status == 204 for r in served)
    assert max_overlap([(r.started_at, r.finished_at or r.started_at) for r in served]) == 3
    assert max_overlap([(s.started, s.finished or s.started) for s in appends]) == 3


@pytest.mark.parametrize(
    ("options", "category", "recorded", "key_prefix"),
    [
        ({"mimeType": "video/mp4"}, "TweetVideo", "tweet_video", "7_"),
        ({}, "amplify_video", "amplify_video", "13_"),  # an .mp4 path without a MIME type
    ],
)
def test_v1_chunked_video_waits_for_processing(
    address: str,
    tls: TLS,
    emulator: Emulator,
    media_dir: Path,
    options: dict[str, str],
    category: str,
    recorded: str,
    key_prefix: str,
) -> None:
    pytest.importorskip("av")
    path = mf.make_mp4(media_dir / "clip.mp4", seconds=1.0)
    started = time.monotonic()
    run = nta(
        address,
        tls,
        [
            {"call": "v1.uploadMedia", "file": str(path), "options": options, "full": True},
            {"call": "v1.mediaInfo", "mediaId": {"result": 0}},
        ],
    )
    assert time.monotonic() - started >= 1.0  # NTA slept check_after_secs before polling again
    finalized = run.value(0)  # NTA returns FINALIZE's answer, from before it waited
    media_id = finalized["media_id_string"]
    assert finalized["media_key"] == f"{key_prefix}{media_id}"
    assert finalized["processing_info"]["state"] == "pending"
    assert finalized["processing_info"]["check_after_secs"] >= 1
    status = run.value(1)
    assert status["processing_info"] == {"state": "succeeded", "progress_percent": 100}
    assert status["video"] == {"video_type": "video/mp4"}
    record = emulator.media_by_id(media_id)
    assert record is not None and record.state == "succeeded"
    assert record.media_category == recorded and record.detected_type == "video/mp4"

    commands = [s.command for s in run.sent]
    assert commands[:3] == ["INIT", "APPEND", "FINALIZE"]
    assert set(commands[3:]) == {"STATUS"} and len(commands) >= 5
    assert run.sent[0].fields()["media_category"] == category
    assert run.sent[0].fields()["media_type"] == "video/mp4"
    polls = [s for s in run.sent if s.command == "STATUS"]
    for poll in polls:
        assert (poll.method, poll.host, poll.path) == (
            "GET",
            "upload.x.com",
            "/1.1/media/upload.json",
        )
        assert poll.query == {"command": "STATUS", "media_id": media_id}
        assert poll.body == b""
        assert signed_for(poll, X_UPLOAD)  # the query is part of the signature
    # NTA waited between the two polls of its own loop.
    assert polls[1].started - (polls[0].finished or 0) >= 0.9


def test_v1_gif_from_a_buffer_for_a_dm(
    address: str, tls: TLS, emulator: Emulator, media_dir: Path
) -> None:
    path = mf.make_gif(media_dir / "anim.gif", 32, 32, frames=5)
    run = nta(
        address,
        tls,
        [
            {
                "call": "v1.uploadMedia",
                "buffer": str(path),
                "options": {"mimeType": "image/gif", "target": "dm", "shared": True},
            }
        ],
    )
    media_id = run.value()  # without returnFullMediaData: the media id string
    record = emulator.media_by_id(media_id)
    assert record is not None and record.state == "succeeded"
    assert record.media_category == "dm_gif" and record.media_key == f"16_{media_id}"
    assert run.sent[0].fields() == {
        "command": "INIT",
        "total_bytes": str(path.stat().st_size),
        "media_type": "image/gif",
        "media_category": "DmGif",
        "shared": "true",
    }


def test_v1_alt_text(address: str, tls: TLS, emulator: Emulator, media_dir: Path) -> None:
    path = mf.make_png(media_dir / "pic.png", 40, 30)
    run = nta(
        address,
        tls,
        [
            {"call": "v1.uploadMedia", "file": str(path)},
            {
                "call": "v1.createMediaMetadata",
                "mediaId": {"result": 0},
                "metadata": {"alt_text": {"text": "Two rectangles"}},
            },
        ],
    )
    media_id = run.value(0)
    assert run.value(1) == ""  # the empty 200
    record = emulator.media_by_id(media_id)
    assert record is not None and record.alt_text == "Two rectangles"
    assert record.media_category == "tweet_image" and (record.width, record.height) == (40, 30)
    metadata = run.sent[-1]
    assert (metadata.host, metadata.path) == ("upload.x.com", "/1.1/media/metadata/create.json")
    assert metadata.content_type == "application/json;charset=UTF-8"
    assert json.loads(metadata.body) == {
        "media_id": media_id,
        "alt_text": {"text": "Two rectangles"},
    }
    assert metadata.status == 200
    assert signed_for(metadata, "https://upload.x.com/1.1/media/metadata/create.json")


# ---------------------------------------------------------------------------------------------
# v2


@pytest.mark.parametrize("auth", [OAUTH1, BEARER], ids=["oauth1", "bearer"])
def test_v2_chunked_image_and_alt_text(
    address: str, tls: TLS, emulator: Emulator, media_dir: Path, auth: dict[str, str]
) -> None:
    path = mf.make_jpeg(media_dir / "photo.jpg", width=320, height=200)
    data = path.read_bytes()
    chunk = 1500
    segments = -(-len(data) // chunk)
    assert segments >= 2
    run = nta(
        address,
        tls,
        [
            {
                "call": "v2.uploadMedia",
                "buffer": str(path),
                "options": {"media_type": "image/jpeg", "media_category": "tweet_image"},
                "chunkSize": chunk,
            },
            {
                "call": "v2.createMediaMetadata",
                "mediaId": {"result": 0},
                "metadata": {"alt_text": {"text": "A bar on blue"}},
            },
        ],
        auth=auth,
    )
    media_id = run.value(0)
    assert run.value(1) == {
        "data": {"id": media_id, "associated_metadata": {"alt_text": {"text": "A bar on blue"}}}
    }
    record = emulator.media_by_id(media_id)
    assert record is not None and record.api == "v2" and record.owner == DEMO.user_id
    assert record.state == "ready" and record.segments == segments
    assert record.media_category == "tweet_image" and record.alt_text == "A bar on blue"
    assert (record.detected_type, record.width, record.height) == ("image/jpeg", 320, 200)

    assert all(s.host == "api.x.com" and s.method == "POST" and s.status == 200 for s in run.sent)
    scheme = "OAuth" if auth is OAUTH1 else "Bearer"
    assert all(s.headers["authorization"].split(" ", 1)[0] == scheme for s in run.sent)
    init, *appends, final, metadata = run.sent
    assert init.path == "/2/media/upload/initialize"
    assert init.content_type == "application/json;charset=UTF-8"
    assert json.loads(init.body) == {
        "media_type": "image/jpeg",
        "total_bytes": len(data),
        "media_category": "tweet_image",
    }
    assert len(appends) == segments
    received = b""
    for index, sent in enumerate(appends):  # one at a time, in order
        assert sent.path == f"/2/media/upload/{media_id}/append"
        assert sent.content_type.startswith("multipart/form-data; boundary=")
        assert sent.query == {}
        assert sent.fields() == {"segment_index": str(index)}
        (part,) = [p for p in sent.parts() if p.name == "media"]
        assert part.filename is None and part.content_type == "application/octet-stream"
        received += part.data
    assert received == data
    assert max_overlap([(s.started, s.finished or s.started) for s in appends]) == 1
    assert final.path == f"/2/media/upload/{media_id}/finalize"
    assert (final.content_type, final.body) == ("application/json;charset=UTF-8", b"{}")
    assert metadata.path == "/2/media/metadata"
    assert json.loads(metadata.body) == {
        "id": media_id,
        "metadata": {"alt_text": {"text": "A bar on blue"}},
    }
    if auth is OAUTH1:
        for sent in run.sent:
            assert signed_for(sent, f"https://api.x.com{sent.path}")
            assert not signed_for(sent, f"https://{address}{sent.path}")


def test_v2_chunked_video_waits_for_processing(
    address: str, tls: TLS, emulator: Emulator, media_dir: Path
) -> None:
    pytest.importorskip("av")
    path = mf.make_mp4(media_dir / "clip.mp4", seconds=1.0)
    run = nta(
        address,
        tls,
        [
            {
                "call": "v2.uploadMedia",
                "buffer": str(path),
                "options": {"media_type": "video/mp4", "media_category": "tweet_video"},
            }
        ],
        auth=BEARER,
    )
    media_id = run.value()
    record = emulator.media_by_id(media_id)
    assert record is not None and record.state == "succeeded"
    assert record.media_category == "tweet_video" and record.media_key == f"7_{media_id}"
    polls = [s for s in run.sent if s.method == "GET"]
    assert len(polls) >= 2  # pending at FINALIZE and at the first poll, then succeeded
    for poll in polls:
        assert (poll.host, poll.path) == ("api.x.com", "/2/media/upload")
        assert poll.query == {"command": "STATUS", "media_id": media_id}
    assert polls[1].started - (polls[0].finished or 0) >= 0.9
    served = [r for r in emulator.requests if r.command == "STATUS"]
    assert [r.status for r in served] == [200] * len(polls)


# ---------------------------------------------------------------------------------------------
# Errors, as NTA raises them


def test_v1_too_large_gif(address: str, tls: TLS, emulator: Emulator, media_dir: Path) -> None:
    path = mf.make_big_file(media_dir / "huge.gif", 15 * MiB + 1, header="gif")
    run = nta(address, tls, [{"call": "v1.uploadMedia", "file": str(path)}])
    error = run.error()
    assert error["type"] == "ApiResponseError" and error["code"] == 400
    assert error["data"]["error"] == "File size exceeds 15728640 bytes."
    assert error["data"]["request"] == "/1.1/media/upload.json"
    # NTA turns v1.1's {"request", "error"} body into an `errors` entry of its own (code 131).
    assert error["errors"] == [{"code": 131, "message": "File size exceeds 15728640 bytes."}]
    assert [s.command for s in run.sent] == ["INIT"]  # nothing appended
    assert run.sent[0].fields()["media_category"] == "TweetGif"
    assert error["message"] == "Request failed with code 400"  # X's words are in the data
    assert emulator.media == []


def test_v2_too_large_gif(address: str, tls: TLS, media_dir: Path) -> None:
    path = mf.make_big_file(media_dir / "huge.gif", 15 * MiB + 1, header="gif")
    run = nta(
        address,
        tls,
        [{"call": "v2.uploadMedia", "buffer": str(path), "options": {"media_type": "image/gif"}}],
    )
    error = run.error()
    assert error["type"] == "ApiResponseError" and error["code"] == 400
    assert [s.path for s in run.sent] == ["/2/media/upload/initialize"]
    assert json.loads(run.sent[0].body)["media_category"] == "tweet_gif"  # inferred by NTA
    # X's v2 problem: NTA puts its title and detail in the message, its errors in `errors`.
    assert error["message"] == (
        "Request failed with code 400 - Invalid Request: One or more parameters to your request"
        " was invalid. (see https://api.x.com/2/problems/invalid-request)"
    )
    assert error["errors"] == [
        {
            "parameters": {"total_bytes": ["15728640"]},
            "message": "File size exceeds 15728640 bytes.",
        }
    ]
    assert error["rateLimit"]["limit"] == 1875


@pytest.mark.parametrize("emulator", [{"processing_failure_rate": 1.0}], indirect=True)
def test_processing_failure(address: str, tls: TLS, emulator: Emulator, media_dir: Path) -> None:
    path = mf.make_gif(media_dir / "anim.gif", 16, 16, frames=3)
    run = nta(
        address,
        tls,
        [
            {"call": "v1.uploadMedia", "file": str(path)},
            {"call": "v2.uploadMedia", "buffer": str(path), "options": {"media_type": "image/gif"}},
        ],
    )
    failed = [m for m in emulator.media if m.state == "failed"]
    assert len(failed) == 2 and {m.error_name for m in failed} == {"InvalidMedia"}
    message = failed[0].error_message
    v1 = run.error(0)
    assert v1["type"] == "Error"
    assert v1["message"] == f"Failed to process media: InvalidMedia - {message}."
    v2 = run.error(1)
    assert v2["type"] == "Error" and v2["message"] == f"Media processing failed: {message}"


def test_auth_refusals(address: str, tls: TLS, media_dir: Path) -> None:
    path = str(mf.make_png(media_dir / "p.png"))
    wrong = nta(
        address, tls, [{"call": "v1.uploadMedia", "file": path}], auth={**OAUTH1, "appSecret": "x"}
    )
    error = wrong.error()
    assert error["code"] == 401 and error["isAuthError"]
    assert error["errors"] == [{"code": 32, "message": "Could not authenticate you."}]
    # A bearer token, even a v2 user token, is refused on v1.1 as X refuses it.
    bearer = nta(address, tls, [{"call": "v1.uploadMedia", "file": path}], auth=BEARER)
    error = bearer.error()
    assert error["code"] == 403
    assert error["errors"] == [
        {"code": 220, "message": "Your credentials do not allow access to this resource."}
    ]
