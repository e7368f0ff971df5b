"""X API v2 alt text and subtitles: `POST /2/media/metadata`, `POST|DELETE /2/media/subtitles`."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from ._core import UploadRefused
from ._log import note
from ._v2 import LANGUAGE_CODE, V2, _check_id, _data, _invalid

__all__ = ["V2Metadata"]


class V2Metadata:
    """The v2 endpoints that describe media already uploaded; auth and bodies as `V2`'s."""

    def __init__(self, v2: V2) -> None:
        self.v2 = v2

    # POST /2/media/metadata

    async def metadata(self, request: Request) -> Response:
        note(command="METADATA")
        principal = self.v2.authenticate(request)
        body = await self.v2.json_body(request)
        self.v2.refuse_extra(body, ("id", "metadata"))
        media_id = body.get("id")
        _check_id(media_id if isinstance(media_id, str) else None, "id", "body")
        assert isinstance(media_id, str)
        note(media_id=media_id)
        # OAS v2.167 (CreateMediaMetadataRequest) requires only `id`.
        metadata = body.get("metadata", {})
        if not isinstance(metadata, dict):
            raise _invalid("body", "metadata", metadata, "is not an object")
        alt = metadata.get("alt_text")
        if alt is not None:
            text = alt.get("text") if isinstance(alt, dict) else None
            if not isinstance(text, str):
                raise _invalid("body", "metadata.alt_text.text", text, "is not a string")
            limit = self.v2.service.limits.max_alt_text_chars
            if len(text) > limit:
                raise _invalid(
                    "body",
                    "metadata.alt_text.text",
                    text[:40] + "…",
                    f"is longer than {limit} characters",
                )
        row = self.v2.service.find(principal.user_id, media_id)
        if row is None:
            raise UploadRefused("not_found", "Not found")
        merged = {**row.metadata, **metadata}
        self.v2.service.store.update_media(media_id, metadata=merged)
        return _data({"id": media_id, "associated_metadata": metadata})

    # POST / DELETE /2/media/subtitles

    async def subtitles(self, request: Request) -> Response:
        note(command="SUBTITLES")
        principal = self.v2.authenticate(request)
        body = await self.v2.json_body(request)
        deleting = request.method == "DELETE"
        allowed = (
            ("id", "media_category", "language_code")
            if deleting
            else ("id", "media_category", "subtitles")
        )
        self.v2.refuse_extra(body, allowed)
        media_id = body.get("id")
        _check_id(media_id if isinstance(media_id, str) else None, "id", "body")
        assert isinstance(media_id, str)
        note(media_id=media_id)
        category = body.get("media_category")
        if category not in ("TweetVideo", "AmplifyVideo"):
            raise _invalid(
                "body", "media_category", category, "is not one of [AmplifyVideo,TweetVideo]"
            )
        video = self.v2.service.find(principal.user_id, media_id)
        if video is None or video.phase != "finalized" or video.kind != "video":
            raise UploadRefused("not_found", "Not found")
        current = list(video.subtitles)
        if deleting:
            code = body.get("language_code")
            if not isinstance(code, str) or not LANGUAGE_CODE.match(code):
                raise _invalid("body", "language_code", code, "does not match ^[A-Z]{2}$")
            remaining = [s for s in current if s["language_code"] != code]
            if len(remaining) == len(current):
                raise UploadRefused("not_found", "Not found")
            self.v2.service.store.update_media(media_id, subtitles=remaining)
            return _data({"deleted": True})
        sub = body.get("subtitles")
        if not isinstance(sub, dict):
            raise _invalid("body", "subtitles", sub, "is not an object")
        sub_id, code, name = sub.get("id"), sub.get("language_code"), sub.get("display_name")
        _check_id(sub_id if isinstance(sub_id, str) else None, "subtitles.id", "body")
        assert isinstance(sub_id, str)
        if not isinstance(code, str) or not LANGUAGE_CODE.match(code):
            raise _invalid("body", "subtitles.language_code", code, "does not match ^[A-Z]{2}$")
        if not isinstance(name, str) or not name:
            raise _invalid("body", "subtitles.display_name", name, "is not a non-empty string")
        track = self.v2.service.find(principal.user_id, sub_id)
        if track is None or track.media_category != "subtitles" or track.phase != "finalized":
            raise UploadRefused("not_found", "Not found")
        entry = {"id": sub_id, "language_code": code, "display_name": name}
        current = [s for s in current if s["language_code"] != code] + [entry]
        self.v2.service.store.update_media(media_id, subtitles=current)
        return _data({"id": media_id, "media_category": category, "associated_subtitles": current})
