"""X API v1.1 media endpoints (upload.twitter.com / upload.x.com): `media/upload.json` with
INIT / APPEND / FINALIZE / STATUS and the simple one-request upload, and
`media/metadata/create.json`.

The state machine is `MediaService`, shared with v2; only the wire differs. One URL, the
operation chosen by `command` (case sensitive); parameters from the query string and the body
(urlencoded or multipart) merged; the chunk as a `media` part (file part or plain field) or
`media_data` base64 text; OAuth 1.0a only; `media_id` both as a JSON number and as
`media_id_string`; and v1.1's two error envelopes: `{"errors":[{"code","message"}]}` and the
upload service's `{"request": "/1.1/media/upload.json", "error": "…"}`.
"""

from __future__ import annotations

import base64
import json
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .._detect import sniff_file
from .._limits import MEDIA_TYPES, canonical_category
from ._core import MediaService, UploadRefused
from ._forms import BodyError, Form, SpooledPart, content_type, read_form, read_small_body
from ._gate import Gate, Principal
from ._log import note
from ._ratelimit import Limiter

__all__ = ["METADATA_PATH", "UPLOAD_PATH", "V1", "V1Error", "internal_error", "refusal"]

UPLOAD_PATH = "/1.1/media/upload.json"
METADATA_PATH = "/1.1/media/metadata/create.json"
URLENCODED = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"
ID_PATTERN = re.compile(r"^[0-9]{1,19}$")
MIME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*$")
NOT_BASE64 = re.compile(r"[^A-Za-z0-9+/]")
# What the simple (one-request) upload takes; GIF and video categories need the chunked path.
SIMPLE_CATEGORIES = ("tweet_image", "dm_image", "subtitles")
# Spellings v1.1 clients sent for types X's v2 enum names otherwise (x-media-api.md §3.1).
MEDIA_TYPE_ALIASES = {
    "image/jpg": "image/jpeg",
    "text/plain": "text/srt",
    "application/x-subrip": "text/srt",
    "text/x-srt": "text/srt",
    "application/x-srt": "text/srt",
}
# OAuth1Verdict reason -> (status, code, message), x-media-api.md §5.1 and §6.1 item 3.
AUTH_ERRORS: Mapping[str, tuple[int, int, str]] = {
    "missing": (400, 215, "Bad Authentication data."),
    "unknown_consumer": (401, 32, "Could not authenticate you."),
    "bad_signature": (401, 32, "Could not authenticate you."),
    "stale_timestamp": (401, 135, "Timestamp out of bounds."),
    "unknown_token": (401, 89, "Invalid or expired token."),
    # A Bearer token (OAuth 2.0, user or app): users report 403 from X
    # (PLhery/node-twitter-api-v2#167, #371, #417); code 220 is v1.1's "credentials do not
    # allow access". `v1_bearer_status=400` gives the older 400 code 215 instead.
    "bearer": (403, 220, "Your credentials do not allow access to this resource."),
}
INVALID_JSON = "Invalid json payload."  # X's words (desmondmorris/node-twitter#217)


class V1Error(Exception):
    """Raised inside a v1.1 handler to answer with a v1.1 error body."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


# the two v1.1 error envelopes


def errors(status: int, code: int, message: str) -> Response:
    """`{"errors":[{"code":…,"message":…}]}`: auth, rate limits, parameters, not found."""
    return JSONResponse({"errors": [{"code": code, "message": message}]}, status_code=status)


def single(message: str, path: str = UPLOAD_PATH, status: int = 400) -> Response:
    """`{"request":"/1.1/media/upload.json","error":…}`: the upload service's own refusals."""
    return JSONResponse({"request": path, "error": message}, status_code=status)


def not_found() -> Response:
    # X's answer to STATUS of media it does not know or never processed (PLhery#336).
    return errors(404, 34, "Sorry, that page does not exist")


def internal_error() -> Response:
    return errors(500, 131, "Internal error")


def _missing(name: str) -> V1Error:
    return V1Error(errors(400, 38, f"{name} parameter is missing."))


def _invalid(name: str) -> V1Error:
    return V1Error(errors(400, 44, f"{name} parameter is invalid."))


def refusal(exc: UploadRefused, path: str = UPLOAD_PATH) -> Response:
    """A refusal of the state machine, in v1.1's words."""
    if exc.kind == "not_found":
        return not_found()
    if exc.kind == "invalid" and exc.param:
        return errors(400, 44, f"{exc.param} parameter is invalid.")
    # size, segments, unrecognized, large_sync, segment_index, chunk_too_large
    return single(exc.message or exc.kind, path)


# the media object


def media_object(described: Mapping[str, Any], *, with_key: bool = True) -> dict[str, Any]:
    """`MediaService.describe` in v1.1's shape: top level, id as number and string."""
    media_id = str(described["id"])
    out: dict[str, Any] = {"media_id": int(media_id), "media_id_string": media_id}
    if with_key:
        out["media_key"] = described["media_key"]
    for name in ("size", "expires_after_secs", "image", "video", "processing_info"):
        if name in described:
            out[name] = described[name]
    return out


def decode_media_data(text: str) -> bytes:
    """Base64 decoded as X decodes `media_data`: leniently.

    Characters outside the alphabet are skipped rather than refused, which is why raw bytes
    sent as `media_data` "upload" fine and FINALIZE then finds the sizes do not add up
    (x-media-api.md §1.3). A space is read as the `+` an unescaped form body turned into one.
    """
    cleaned = NOT_BASE64.sub("", text.replace(" ", "+"))
    if len(cleaned) % 4 == 1:  # a dangling sextet carries no whole byte
        cleaned = cleaned[:-1]
    return base64.b64decode(cleaned + "=" * (-len(cleaned) % 4))


class _Call:
    """One authenticated upload.json request: merged parameters and its spooled parts."""

    def __init__(self, principal: Principal, values: dict[str, str], form: Form) -> None:
        self.principal = principal
        self.values = values
        self.form = form

    def get(self, name: str) -> str | None:
        return self.values.get(name)


class V1:
    def __init__(self, service: MediaService, gate: Gate, limiter: Limiter | None = None) -> None:
        self.service = service
        self.gate = gate
        self.limiter = limiter

    # auth: OAuth 1.0a only

    def _auth(self, request: Request, form: Sequence[tuple[str, str]] | None) -> Principal:
        header = request.headers.get("authorization", "")
        if header[:7].lower() == "bearer " and self.service.config.v1_bearer_status == 403:
            raise V1Error(errors(*AUTH_ERRORS["bearer"]))
        if header[:6].lower() != "oauth ":
            # No header, a garbled one (or a Bearer token, when so configured): code 215.
            raise V1Error(errors(*AUTH_ERRORS["missing"]))
        principal, reason = self.gate.oauth1(request, form)
        if principal is None:
            raise V1Error(errors(*AUTH_ERRORS.get(reason, AUTH_ERRORS["bad_signature"])))
        note(user_id=principal.user_id)
        return principal

    def _charge(self, command: str, principal: Principal) -> None:
        note(command=command)
        if self.limiter is not None:
            self.limiter.charge(command, principal.user_id)

    # reading the request

    def _read_cap(self) -> int:
        limits = self.service.limits
        return max(
            limits.max_chunk_bytes,
            limits.sync_image_max_bytes,
            *(limits.category_max_bytes(c) for c in SIMPLE_CATEGORIES),
        )

    async def _read_form(self, request: Request) -> Form:
        return await read_form(
            request, lambda: self.service.spool_for("_incoming"), self._read_cap()
        )

    @staticmethod
    def _values(request: Request, form: Form) -> dict[str, str]:
        """Query string and body merged; the body wins where both name a parameter."""
        values = dict(request.query_params)
        values.update(form.fields)
        for name, part in form.files.items():
            # A parameter some client sent as a file part (with a file name): still a parameter.
            if name != "media" and not part.too_large:
                values[name] = Path(part.path).read_text("utf-8", "replace")
        return values

    # POST /1.1/media/upload.json

    async def upload(self, request: Request) -> Response:
        form = Form()
        try:
            kind = content_type(request)
            if kind == MULTIPART:
                # A multipart body is never signed: authenticate before reading it.
                principal = self._auth(request, None)
                form = await self._read_form(request)
            elif kind == URLENCODED:
                form = await self._read_form(request)
                principal = self._auth(request, form.fields)
            else:
                principal = self._auth(request, None)
            call = _Call(principal, self._values(request, form), form)
            command = call.get("command")
            if command is None:
                if "media" in form.files or "media" in call.values or "media_data" in call.values:
                    self._charge("UPLOAD", principal)
                    return await self._simple(call)
                raise _missing("command")
            if command not in ("INIT", "APPEND", "FINALIZE"):
                # Case sensitive; STATUS is a GET.
                raise _invalid("command")
            self._charge(command, principal)
            if command == "INIT":
                return self._init(call)
            if command == "APPEND":
                return self._append(call)
            return await self._finalize(call)
        except UploadRefused as exc:
            raise V1Error(refusal(exc)) from None
        except BodyError as exc:
            raise V1Error(single(str(exc))) from None
        finally:
            form.discard()

    def _init(self, call: _Call) -> Response:
        total = call.get("total_bytes")
        if total is None:
            raise _missing("total_bytes")
        if not total.strip().isdigit():
            raise _invalid("total_bytes")
        media_type = call.get("media_type")
        if media_type is None:
            raise _missing("media_type")
        row = self.service.init(
            user_id=call.principal.user_id,
            api="v1.1",
            media_type=_media_type(media_type),
            total_bytes=int(total),
            category=_category(call.get("media_category")),
            additional_owners=_owners(call.get("additional_owners")),
            shared=_flag(call.get("shared"), "shared"),
        )
        note(media_id=row.id)
        return JSONResponse(media_object(self.service.describe(row)))

    def _append(self, call: _Call) -> Response:
        media_id = _media_id(call.values)
        note(media_id=media_id)
        raw_index = call.get("segment_index")
        if raw_index is None:
            raise _missing("segment_index")
        try:
            segment_index = int(raw_index.strip())
        except ValueError:
            raise _invalid("segment_index") from None
        part = self._media(call, media_id)
        self.service.check_segment_index(segment_index)
        limit = self.service.limits.max_chunk_bytes
        if part.too_large or part.size > limit:
            raise UploadRefused(
                "chunk_too_large", f"Segment size exceeds {limit} bytes.", limit=limit
            )
        note(segment_index=segment_index, bytes=part.size)
        self.service.append(
            user_id=call.principal.user_id,
            media_id=media_id,
            segment_index=segment_index,
            temp_path=part.path,
            size=part.size,
        )
        return Response(status_code=204)

    async def _finalize(self, call: _Call) -> Response:
        media_id = _media_id(call.values)
        note(media_id=media_id)
        before = self.service.find(call.principal.user_id, media_id)
        row = await self.service.finalize(user_id=call.principal.user_id, media_id=media_id)
        # The FINALIZE that starts processing says `pending`, as v2's does, however fast the
        # clock runs (the answer's state used to depend on how long the request took).
        fresh = before is not None and before.phase == "initialized"
        described = self.service.describe(row, just_finalized=fresh)
        note(state=described.get("processing_info", {}).get("state"))
        return JSONResponse(media_object(described))

    def _media(self, call: _Call, spool_id: str) -> SpooledPart:
        """The chunk: a `media` part (file part or plain field) or `media_data` base64."""
        part = call.form.files.get("media")
        encoded = call.get("media_data")
        if (part is not None or "media" in call.values) and encoded is not None:
            raise V1Error(errors(400, 44, "media and media_data cannot both be given."))
        if part is not None:
            return part
        if "media" in call.values:
            # Raw bytes cannot travel in an urlencoded body or a query string.
            raise V1Error(errors(400, 44, "media parameter is invalid."))
        if encoded is None:
            raise _missing("media")
        try:
            data = decode_media_data(encoded)
        except ValueError:
            raise _invalid("media_data") from None
        fd, path = self.service.spool_for(spool_id)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        spooled = SpooledPart(path=path, size=len(data))
        # Held by the form, so it is removed with the rest if it is never committed.
        call.form.files["media_data"] = spooled
        return spooled

    # the simple upload: POST media/upload.json without a command

    async def _simple(self, call: _Call) -> Response:
        service = self.service
        category = _category(call.get("media_category"))
        if category is not None and category not in SIMPLE_CATEGORIES:
            raise V1Error(errors(400, 324, "Unsupported raw media category"))
        owners = _owners(call.get("additional_owners"))
        shared = _flag(call.get("shared"), "shared")
        part = self._media(call, "_incoming")
        limit = (
            service.limits.category_max_bytes(category)
            if category
            else service.limits.sync_image_max_bytes
        )
        if part.too_large or part.size > limit:
            # X's answer to a too-large simple upload (tweepy#1501).
            raise V1Error(errors(400, 324, f"Image file size must be <= {limit} bytes"))
        sniffed = sniff_file(part.path)
        row = service.init(
            user_id=call.principal.user_id,
            api="v1.1",
            media_type=sniffed if sniffed in MEDIA_TYPES else None,
            total_bytes=part.size,
            category=category,
            additional_owners=owners,
            shared=shared,
        )
        note(media_id=row.id, bytes=part.size)
        # One request stands for INIT + APPEND + FINALIZE.
        service.store.commit_segment(row.id, 0, part.path, part.size, service.now())
        done = await service.finalize(user_id=call.principal.user_id, media_id=row.id)
        described = service.describe(done, just_finalized=True)
        # X names a media_key on the simple upload only when a media_category was given.
        return JSONResponse(media_object(described, with_key=category is not None))

    # GET /1.1/media/upload.json?command=STATUS&media_id=…

    async def status(self, request: Request) -> Response:
        principal = self._auth(request, None)
        query = request.query_params
        command = query.get("command")
        if command is None:
            raise _missing("command")
        if command != "STATUS":
            raise _invalid("command")
        self._charge("STATUS", principal)
        media_id = _media_id(query)
        note(media_id=media_id)
        try:
            row = await self.service.status(user_id=principal.user_id, media_id=media_id)
        except UploadRefused as exc:
            raise V1Error(refusal(exc)) from None
        described = self.service.describe(row)
        note(state=described.get("processing_info", {}).get("state"))
        return JSONResponse(media_object(described))

    # POST /1.1/media/metadata/create.json (JSON body, never signed)

    async def metadata(self, request: Request) -> Response:
        try:
            if content_type(request) == URLENCODED:
                # Signed as a form, so verify it as one; X then refuses it as not JSON.
                form = await self._read_form(request)
                self._auth(request, form.fields)
                raise V1Error(single(INVALID_JSON, METADATA_PATH))
            principal = self._auth(request, None)
            self._charge("METADATA", principal)
            try:
                body = json.loads(await read_small_body(request))
            except (UnicodeDecodeError, json.JSONDecodeError):
                body = None
        except BodyError:
            raise V1Error(single(INVALID_JSON, METADATA_PATH)) from None
        if not isinstance(body, dict):
            raise V1Error(single(INVALID_JSON, METADATA_PATH))
        raw_id = body.get("media_id")
        if raw_id is None:
            raise _missing("media_id")
        if isinstance(raw_id, bool) or not isinstance(raw_id, (int, str)):
            raise V1Error(single(f"Invalid media_id: Some({raw_id}).", METADATA_PATH))
        media_id = _media_id({"media_id": str(raw_id)}, METADATA_PATH)
        note(media_id=media_id)
        alt = body.get("alt_text")
        if alt is None:
            raise _missing("alt_text")
        text = alt.get("text") if isinstance(alt, dict) else None
        if not isinstance(text, str):
            raise _invalid("alt_text")
        if len(text) > self.service.limits.max_alt_text_chars:
            raise _invalid("alt_text")
        row = self.service.find(principal.user_id, media_id)
        if row is None:
            raise V1Error(not_found())
        merged = {**row.metadata, "alt_text": {"text": text}}
        self.service.store.update_media(media_id, metadata=merged)
        return Response(status_code=200)


# parameters


def _media_id(values: Mapping[str, str], path: str = UPLOAD_PATH) -> str:
    value = values.get("media_id")
    if value is None:
        raise _missing("media_id")
    value = value.strip()
    if not ID_PATTERN.match(value):
        # X's words for a media_id it cannot read (jublo/codebird-php#171: an empty one).
        raise V1Error(single(f"Invalid media_id: Some({value[:40]}).", path))
    return value


def _media_type(value: str) -> str | None:
    """The declared type as the state machine takes it; None for a type outside v2's enum.

    v1.1 never held `media_type` to an enum (clients sent `text/plain` or
    `application/x-subrip` for subtitles); the bytes are sniffed at FINALIZE anyway.
    """
    text = value.strip().lower()
    text = MEDIA_TYPE_ALIASES.get(text, text)
    if text in MEDIA_TYPES:
        return text
    if MIME_PATTERN.match(text):
        return None
    raise _invalid("media_type")


def _category(value: str | None) -> str | None:
    """snake_case, UPPER_SNAKE or CamelCase, as X has accepted them all (§1.2)."""
    if value is None or not value.strip():
        return None
    category = canonical_category(value)
    if category is None:
        raise V1Error(errors(400, 324, "Unsupported raw media category"))
    return category


def _owners(value: str | None) -> list[str]:
    if value is None:
        return []
    owners = [o.strip() for o in value.split(",") if o.strip()]
    if not all(ID_PATTERN.match(o) for o in owners):
        raise _invalid("additional_owners")
    return owners


def _flag(value: str | None, name: str) -> bool:
    if value is None:
        return False
    text = value.strip().lower()
    if text in ("true", "1"):
        return True
    if text in ("false", "0", ""):
        return False
    raise _invalid(name)
