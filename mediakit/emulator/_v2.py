"""X API v2 media endpoints: dedicated initialize/append/finalize, STATUS, one-shot upload,
alt text, subtitles, and (only when configured) the retired `command=` form."""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .._detect import HEAD_BYTES, sniff, sniff_file
from .._limits import CATEGORIES, canonical_category
from . import _problems as p
from ._core import MediaService, UploadRefused, post_category
from ._forms import BodyError, BodyTooLarge, Form, content_type, read_form, read_json
from ._gate import Gate, Principal
from ._log import current, note
from ._ratelimit import Limiter

__all__ = ["V2"]

ID_PATTERN = re.compile(r"^[0-9]{1,19}$")
LANGUAGE_CODE = re.compile(r"^[A-Z]{2}$")
# POST /2/media/upload's media_category enum and body (OAS v2.167, MediaUploadRequest:
# additionalProperties false); "2025" is the spec of 2025-06 to 2026-02.
ONE_SHOT_CATEGORIES = {
    "2026": (
        "tweet_image",
        "tweet_video",
        "tweet_gif",
        "dm_image",
        "dm_video",
        "dm_gif",
        "subtitles",
    ),
    "2025": ("tweet_image", "dm_image", "subtitles"),
}
ONE_SHOT_FIELDS = {
    "2026": ("media", "media_category", "additional_owners"),
    "2025": ("media", "media_category", "additional_owners", "media_type", "shared"),
}
INITIALIZE_FIELDS = ("media_type", "total_bytes", "media_category", "additional_owners", "shared")
JSON_ONLY = "Requests with bodies must have content-type of application/json."
NOT_JSON = "Request body is not valid JSON."


def _data(payload: Mapping[str, Any], status: int = 200) -> JSONResponse:
    return JSONResponse({"data": dict(payload)}, status_code=status)


def _refusal(exc: UploadRefused) -> Response:
    if exc.kind == "not_found":
        return p.not_found()
    if exc.kind == "chunk_too_large":
        return p.payload_too_large()
    if exc.kind in ("invalid", "segment_index") and exc.param:
        return p.invalid_request([p.bad_value("body", exc.param, exc.value, exc.rule)])
    if exc.kind == "size":
        return p.invalid_request([p.message(exc.message, {"total_bytes": [str(exc.limit)]})])
    return p.invalid_request([p.message(exc.message)])


def _check_id(value: str | None, name: str, where: str) -> None:
    if value is None:
        raise p.V2Problem(
            p.invalid_request([p.message(f"The `{name}` {where} parameter is missing.")])
        )
    if not ID_PATTERN.match(value):
        raise p.V2Problem(
            p.invalid_request([p.bad_value(where, name, value, "does not match ^[0-9]{1,19}$")])
        )


def _invalid(where: str, name: str, value: object, rule: str) -> p.V2Problem:
    return p.V2Problem(p.invalid_request([p.bad_value(where, name, value, rule)]))


def _int_value(value: object, name: str, *, allow_string: bool) -> int:
    if isinstance(value, bool):
        raise _invalid("body", name, value, "is not an integer")
    if isinstance(value, int):
        return value
    if allow_string and isinstance(value, str) and value.isdigit():
        return int(value)
    raise _invalid("body", name, value, "is not an integer")


class V2:
    def __init__(self, service: MediaService, gate: Gate, limiter: Limiter) -> None:
        self.service = service
        self.gate = gate
        self.limiter = limiter

    def authenticate(self, request: Request) -> Principal:
        principal = self.gate.v2(request)
        if isinstance(principal, Response):
            raise p.V2Problem(principal)
        note(user_id=principal.user_id)
        record = current()
        if record is not None and record.command:
            self.limiter.charge(record.command, principal.user_id)
        return principal

    async def json_body(self, request: Request, *, max_body: int | None = None) -> dict[str, Any]:
        if content_type(request) != "application/json":
            raise p.V2Problem(p.invalid_request([p.message(JSON_ONLY)]))
        try:
            body = await read_json(request, max_body=max_body)
        except BodyTooLarge:
            raise
        except BodyError:
            raise p.V2Problem(p.invalid_request([p.message(NOT_JSON)])) from None
        if not isinstance(body, dict):
            raise p.V2Problem(p.invalid_request([p.message(NOT_JSON)]))
        return body

    @staticmethod
    def refuse_extra(body: Mapping[str, Any], allowed: tuple[str, ...]) -> None:
        extra = [key for key in body if key not in allowed]
        if extra:
            raise p.V2Problem(
                p.invalid_request(
                    [
                        p.message(f"The `{key}` body parameter is not allowed.", {key: [""]})
                        for key in extra
                    ]
                )
            )

    # POST /2/media/upload/initialize

    async def initialize(self, request: Request) -> Response:
        note(command="INIT")
        principal = self.authenticate(request)
        body = await self.json_body(request)
        self.refuse_extra(body, INITIALIZE_FIELDS)
        return await self._init_from(principal, body, status=200)

    async def _init_from(
        self, principal: Principal, body: Mapping[str, Any], *, status: int
    ) -> Response:
        media_type = body.get("media_type")
        if not isinstance(media_type, str):
            raise _invalid("body", "media_type", media_type, "is not a valid media type")
        if "total_bytes" not in body:
            raise p.V2Problem(
                p.invalid_request([p.message("The `total_bytes` body parameter is missing.")])
            )
        total_bytes = _int_value(body["total_bytes"], "total_bytes", allow_string=False)
        category = body.get("media_category")
        if category is not None and (not isinstance(category, str) or category not in CATEGORIES):
            raise _invalid(
                "body", "media_category", category, f"is not one of [{','.join(CATEGORIES)}]"
            )
        if category is None and self.service.config.v2_missing_category == "post":
            category = post_category(media_type)
        owners = _owners(body.get("additional_owners"))
        shared = body.get("shared", False)
        if not isinstance(shared, bool):
            raise _invalid("body", "shared", shared, "is not a boolean")
        row = self.service.init(
            user_id=principal.user_id,
            api="v2",
            media_type=media_type,
            total_bytes=total_bytes,
            category=category,
            additional_owners=owners,
            shared=shared,
        )
        note(media_id=row.id)
        described = self.service.describe(row)
        return _data(
            {
                "id": row.id,
                "media_key": row.media_key,
                "expires_after_secs": described["expires_after_secs"],
            },
            status,
        )

    # POST /2/media/upload/{id}/append

    async def append(self, request: Request) -> Response:
        media_id = request.path_params["media_id"]
        note(command="APPEND", media_id=media_id)
        _check_id(media_id, "id", "path")
        principal = self.authenticate(request)
        self.service.session(principal.user_id, media_id)
        return await self._append_body(request, principal, media_id, status=200)

    async def _append_body(
        self,
        request: Request,
        principal: Principal,
        media_id: str,
        *,
        status: int,
        form: Form | None = None,
    ) -> Response:
        # X's edge refuses an APPEND whose request body is over 5 MiB before X reads it
        # (`Limits.max_append_body_bytes`); the command form was served before that edge.
        max_body = self.service.limits.max_append_body_bytes if form is None else None
        declared = request.headers.get("content-length")
        if max_body is not None and declared and declared.isdigit() and int(declared) > max_body:
            await _drain(request, max_body)
            return p.payload_too_large()
        try:
            return await self._append_parts(request, principal, media_id, status, form, max_body)
        except BodyTooLarge as exc:
            await _drain(request, exc.limit)
            return p.payload_too_large()

    async def _append_parts(
        self,
        request: Request,
        principal: Principal,
        media_id: str,
        status: int,
        form: Form | None,
        max_body: int | None,
    ) -> Response:
        limit = self.service.limits.max_chunk_bytes
        kind = content_type(request)
        if form is None and kind == "application/json":
            body = await self.json_body(request, max_body=max_body)
            self.refuse_extra(body, ("media", "segment_index"))
            encoded = body.get("media")
            if not isinstance(encoded, str):
                raise _invalid("body", "media", "", "is not a base64 string")
            try:
                chunk = base64.b64decode(encoded, validate=True)
            except (binascii.Error, ValueError):
                raise _invalid("body", "media", "", "is not valid base64") from None
            segment_index = self._segment_index(body.get("segment_index"))
            if len(chunk) > limit:
                return p.payload_too_large()
            fd, temp_path = self.service.spool_for(media_id)
            with os.fdopen(fd, "wb") as handle:
                handle.write(chunk)
            size = len(chunk)
        else:
            if form is None:
                if kind != "multipart/form-data":
                    raise p.V2Problem(p.invalid_request([p.message(JSON_ONLY)]))
                form = await self._read_form(request, media_id, limit, max_body=max_body)
            try:
                segment_index = self._segment_index(form.get("segment_index"))
                part = form.files.get("media")
                if part is None:
                    raise p.V2Problem(
                        p.invalid_request([p.message("The `media` body parameter is missing.")])
                    )
            except BaseException:
                form.discard()
                raise
            if part.too_large:
                form.discard()
                return p.payload_too_large()
            temp_path, size = part.path, part.size
        note(segment_index=segment_index, bytes=size)
        row = self.service.append(
            user_id=principal.user_id,
            media_id=media_id,
            segment_index=segment_index,
            temp_path=temp_path,
            size=size,
        )
        if status == 204:
            return Response(status_code=204)
        return _data({"expires_at": int(row.session_expires_at)}, status)

    async def _read_form(
        self, request: Request, media_id: str, limit: int, *, max_body: int | None = None
    ) -> Form:
        try:
            return await read_form(
                request, lambda: self.service.spool_for(media_id), limit, max_body=max_body
            )
        except BodyTooLarge:
            raise
        except BodyError as exc:
            raise p.V2Problem(p.invalid_request([p.message(str(exc))])) from None

    def _segment_index(self, value: object) -> int:
        if value is None:
            raise p.V2Problem(
                p.invalid_request([p.message("The `segment_index` body parameter is missing.")])
            )
        segment_index = _int_value(value, "segment_index", allow_string=True)
        self.service.check_segment_index(segment_index)
        return segment_index

    # POST /2/media/upload/{id}/finalize

    async def finalize(self, request: Request) -> Response:
        media_id = request.path_params["media_id"]
        note(command="FINALIZE", media_id=media_id)
        _check_id(media_id, "id", "path")
        principal = self.authenticate(request)
        return await self._finalize(principal, media_id, status=200)

    async def _finalize(self, principal: Principal, media_id: str, *, status: int) -> Response:
        before = self.service.find(principal.user_id, media_id)
        row = await self.service.finalize(user_id=principal.user_id, media_id=media_id)
        fresh = before is not None and before.phase == "initialized"
        described = self.service.describe(row, just_finalized=fresh)
        note(state=described.get("processing_info", {}).get("state"))
        return _data(described, status)

    # GET /2/media/upload?media_id=…[&command=STATUS]

    async def status(self, request: Request) -> Response:
        query = request.query_params
        media_id = query.get("media_id")
        note(command="STATUS", media_id=media_id)
        unknown = sorted(set(query.keys()) - {"media_id", "command"})
        if unknown:
            raise p.V2Problem(
                p.invalid_request(
                    [
                        p.message(
                            f"The query parameters [{','.join(unknown)}] is not one of "
                            "[media_id,command]",
                            {name: [query.get(name, "")] for name in unknown},
                        )
                    ]
                )
            )
        command = query.get("command")
        if command is not None and command != "STATUS":
            raise _invalid("query", "command", command, "is not one of [STATUS]")
        _check_id(media_id, "media_id", "query")
        assert media_id is not None
        principal = self.authenticate(request)
        row = await self.service.status(user_id=principal.user_id, media_id=media_id)
        described = self.service.describe(row)
        note(state=described.get("processing_info", {}).get("state"))
        return _data(described)

    # POST /2/media/upload: one-shot, or the retired command form

    async def upload(self, request: Request) -> Response:
        command = request.query_params.get("command")
        kind = content_type(request)
        form: Form | None = None
        body: dict[str, Any] | None = None
        if kind == "application/json":
            body = await self.json_body(request)
            command = command or (
                body.get("command") if isinstance(body.get("command"), str) else None
            )
        elif kind in ("multipart/form-data", "application/x-www-form-urlencoded"):
            limits = self.service.limits
            cap = max(limits.category_max_bytes(c) for c in self._one_shot_categories())
            form = await self._read_form(request, "_incoming", cap)
            command = command or form.get("command")
        if command is not None:
            if form is not None and command != "APPEND":
                form.discard()
            return await self._command_form(request, command, form, body)
        note(command="UPLOAD")
        principal = self.authenticate(request)
        if form is not None:
            return await self._one_shot_form(request, principal, form)
        if body is None:
            raise p.V2Problem(p.invalid_request([p.message(JSON_ONLY)]))
        return await self._one_shot_json(request, principal, body)

    def _one_shot_categories(self) -> tuple[str, ...]:
        return ONE_SHOT_CATEGORIES[self.service.config.one_shot_spec]

    def _one_shot_category(self, value: object) -> str:
        allowed = self._one_shot_categories()
        if not isinstance(value, str) or value not in allowed:
            raise _invalid("body", "media_category", value, f"is not one of [{','.join(allowed)}]")
        return value

    async def _one_shot_form(self, request: Request, principal: Principal, form: Form) -> Response:
        try:
            self.refuse_extra(
                {name: "" for name in form.names()},
                ONE_SHOT_FIELDS[self.service.config.one_shot_spec],
            )
            category = self._one_shot_category(form.get("media_category"))
            part = form.files.get("media")
            if part is None:
                raise p.V2Problem(
                    p.invalid_request([p.message("The `media` body parameter is missing.")])
                )
            owners = [o for o in (form.get("additional_owners") or "").split(",") if o]
            limit = self.service.limits.category_max_bytes(category)
            if part.too_large or part.size > limit:
                raise UploadRefused("size", f"File size exceeds {limit} bytes.", limit=limit)
        except BaseException:
            form.discard()
            raise
        media_type = sniff_file(part.path)
        return await self._one_shot(principal, category, media_type, part.path, part.size, owners)

    async def _one_shot_json(
        self, request: Request, principal: Principal, body: dict[str, Any]
    ) -> Response:
        self.refuse_extra(body, ONE_SHOT_FIELDS[self.service.config.one_shot_spec])
        category = self._one_shot_category(body.get("media_category"))
        encoded = body.get("media")
        if not isinstance(encoded, str):
            raise p.V2Problem(
                p.invalid_request([p.message("The `media` body parameter is missing.")])
            )
        try:
            data = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise _invalid("body", "media", "", "is not valid base64") from None
        limit = self.service.limits.category_max_bytes(category)
        if len(data) > limit:
            raise UploadRefused("size", f"File size exceeds {limit} bytes.", limit=limit)
        fd, temp_path = self.service.spool_for("_incoming")
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        owners = _owners(body.get("additional_owners"))
        media_type = sniff(data[:HEAD_BYTES])
        return await self._one_shot(principal, category, media_type, temp_path, len(data), owners)

    async def _one_shot(
        self,
        principal: Principal,
        category: str,
        media_type: str | None,
        temp_path: str,
        size: int,
        owners: list[str],
    ) -> Response:
        service = self.service
        try:
            row = service.init(
                user_id=principal.user_id,
                api="v2",
                media_type=media_type,
                total_bytes=size,
                category=category,
                additional_owners=owners,
            )
        except UploadRefused:
            os.unlink(temp_path)
            raise
        note(media_id=row.id)
        # One request stands for INIT + APPEND + FINALIZE; the chunk cap does not apply.
        service.store.commit_segment(row.id, 0, temp_path, size, service.now())
        return await self._finalize(principal, row.id, status=200)

    async def _command_form(
        self, request: Request, command: str, form: Form | None, body: dict[str, Any] | None
    ) -> Response:
        note(command=command if command in ("INIT", "APPEND", "FINALIZE") else "UPLOAD")
        if not self.service.config.allow_command_form:
            if form is not None:
                form.discard()
            raise p.V2Problem(
                p.invalid_request(
                    [
                        p.message(
                            "The command= form of POST /2/media/upload was retired: use "
                            "/2/media/upload/initialize, /2/media/upload/{id}/append and "
                            "/2/media/upload/{id}/finalize.",
                            {"command": [command]},
                        )
                    ]
                )
            )
        principal = self.authenticate(request)
        params: dict[str, Any] = dict(request.query_params)
        if form is not None:
            params.update(dict(form.fields))
        if body is not None:
            params.update(body)
        params.pop("command", None)
        if command == "INIT":
            if "total_bytes" in params:
                params["total_bytes"] = _int_value(
                    params["total_bytes"], "total_bytes", allow_string=True
                )
            if isinstance(params.get("additional_owners"), str):
                params["additional_owners"] = [
                    o for o in params["additional_owners"].split(",") if o
                ]
            if isinstance(params.get("media_category"), str):
                params["media_category"] = (
                    canonical_category(params["media_category"]) or params["media_category"]
                )
            self.refuse_extra(params, INITIALIZE_FIELDS)
            return await self._init_from(principal, params, status=202)
        media_id = params.get("media_id")
        _check_id(media_id if isinstance(media_id, str) else None, "media_id", "query")
        assert isinstance(media_id, str)
        note(media_id=media_id)
        if command == "APPEND":
            self.service.session(principal.user_id, media_id)
            return await self._append_body(request, principal, media_id, status=204, form=form)
        if command == "FINALIZE":
            return await self._finalize(principal, media_id, status=201)
        raise _invalid("query", "command", command, "is not one of [INIT,APPEND,FINALIZE]")


async def _drain(request: Request, limit: int) -> None:
    """Read and drop what is left of a refused body, so the client reads the 413 whole.

    Past a few times the limit, give up: the server then closes the connection instead.
    """
    dropped = 0
    try:
        async for chunk in request.stream():
            dropped += len(chunk)
            if dropped > 4 * limit:
                return
    except RuntimeError:
        return  # the body was already consumed


def _owners(value: object) -> list[str]:
    if value is None:
        return []
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list) or not all(
        isinstance(item, str) and ID_PATTERN.match(item) for item in items
    ):
        raise _invalid("body", "additional_owners", value, "is not a list of user ids")
    return list(items)
