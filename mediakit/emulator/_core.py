"""The media state machine, shared by every dialect (v2 now, v1.1 and the command form too).

Handlers parse a request into plain values, call one of these methods, and render the
result or the `UploadRefused` in their own dialect's shape. Nothing here knows HTTP.

    INIT ─► initialized ─(APPEND…)─► FINALIZE ─► ready (images, subtitles: synchronous)
                                             └─► processing: pending → in_progress
                                                  → succeeded | failed
    a session not finalized in time, or media past its expiry, is gone (not found)

FINALIZE decodes images before it answers, as X does. A video or GIF it only probes and
hashes (what X refuses at FINALIZE is refused there still); its decode runs afterwards in a
worker thread (`_decoding`) as the start of processing, and its result gives the processing
plan. The modelled time counts from FINALIZE, and STATUS never gives an outcome before the
decode has ended: once the time is up it waits for the decode.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread

from .._detect import MediaInfo, probe
from .._judge import judge, processing_refusal
from .._limits import CATEGORIES, IMAGE_TYPES, MEDIA_TYPES, VIDEO_TYPES, Limits
from .._verify import verified
from ._config import EmulatorConfig
from ._decoding import Decodes, this_decoder
from ._processing import ProcessingModel, ProcessingPlan, processing_info
from ._store import MediaRow, Store, file_sha256

__all__ = ["MediaService", "UploadRefused", "post_category"]

SEGMENTS_MISMATCH = "Segments do not add up to provided total file size."
UNRECOGNIZED = "media type unrecognized."
LARGE_SYNC = "Large file can not be finalized synchronously."
# What processing says of a file whose decode could not read it (code, name, message, progress)
_UNREADABLE = (1, "InvalidMedia", "file is invalid", 100)
# How long a STATUS waits for a decode another process runs before answering in_progress
DECODE_WAIT_S = 30.0
_log = logging.getLogger("mediakit.emulator")


@dataclass
class UploadRefused(Exception):
    """Why the state machine refused a request, in terms every dialect can render.

    kind: "not_found" | "invalid" (a parameter: `param`, `value`, `rule`) | "size" (`limit`) |
    "segments" | "unrecognized" | "large_sync" | "chunk_too_large" | "segment_index" |
    "invalid_media" (an image the judge refuses at FINALIZE: a limit, or damage)
    """

    kind: str
    message: str = ""
    param: str | None = None
    value: object = None
    rule: str = ""
    limit: int | None = None

    def __str__(self) -> str:
        return self.message or self.kind


def media_key_prefix(category: str | None, media_type: str | None) -> str:
    if category in ("tweet_video", "dm_video"):
        return "7"
    if category == "amplify_video":
        return "13"
    if category in ("tweet_gif", "dm_gif"):
        return "16"
    if category is None and media_type in VIDEO_TYPES:
        return "7"
    return "3"


def post_category(media_type: str | None) -> str | None:
    """The category X assumes on v2 without one: "media for a Post (tweet_image, tweet_video,
    or tweet_gif), depending on the content type" (docs.x.com media best practices)."""
    if media_type == "image/gif":
        return "tweet_gif"
    if media_type in IMAGE_TYPES:
        return "tweet_image"
    if media_type in VIDEO_TYPES:
        return "tweet_video"
    return None  # subtitles and 3D models: no Post category to assume


class MediaService:
    def __init__(self, config: EmulatorConfig, store: Store) -> None:
        self.config = config
        self.store = store
        self.decodes = Decodes(store.state_id)
        self.processing = ProcessingModel(
            seed=config.seed,
            limits=config.limits,
            costs=config.processing_costs,
            seconds=config.processing_seconds,
            scale=config.processing_scale,
            failure_rate=config.processing_failure_rate,
        )

    @property
    def limits(self) -> Limits:
        return self.config.limits

    def now(self) -> float:
        return self.config.clock.now()

    # INIT

    def init(
        self,
        *,
        user_id: str,
        api: str,
        media_type: str | None,
        total_bytes: int,
        category: str | None,
        additional_owners: Sequence[str] = (),
        shared: bool = False,
    ) -> MediaRow:
        if media_type is not None and media_type not in MEDIA_TYPES:
            raise UploadRefused(
                "invalid",
                param="media_type",
                value=media_type,
                rule=f"is not one of [{','.join(MEDIA_TYPES)}]",
            )
        if category is not None and category not in CATEGORIES:
            raise UploadRefused(
                "invalid",
                param="media_category",
                value=category,
                rule=f"is not one of [{','.join(CATEGORIES)}]",
            )
        if total_bytes < 0 or total_bytes > self.limits.total_bytes_max:
            raise UploadRefused(
                "invalid",
                param="total_bytes",
                value=total_bytes,
                rule=f"is not between 0 and {self.limits.total_bytes_max}",
            )
        if len(additional_owners) > self.limits.max_additional_owners:
            raise UploadRefused(
                "invalid",
                param="additional_owners",
                value=",".join(additional_owners),
                rule=f"has more than {self.limits.max_additional_owners} items",
            )
        limit = self.limits.max_bytes_for(category, media_type)
        if total_bytes > limit:
            raise UploadRefused("size", f"File size exceeds {limit} bytes.", limit=limit)
        now = self.now()
        ttl = (
            self.config.amplify_session_ttl_s
            if category == "amplify_video"
            else self.config.session_ttl_s
        )
        media_id = self.store.next_media_id(now)
        self.store.insert_media(
            id=media_id,
            owner=user_id,
            additional_owners=tuple(additional_owners),
            api=api,
            media_type=media_type,
            media_category=category,
            media_key=f"{media_key_prefix(category, media_type)}_{media_id}",
            total_bytes=total_bytes,
            shared=int(shared),
            phase="initialized",
            created_at=now,
            session_expires_at=now + ttl,
        )
        row = self.store.get_media(media_id)
        assert row is not None
        return row

    # lookups

    def find(self, user_id: str, media_id: str) -> MediaRow | None:
        """The media if it exists, is the user's, and has not expired."""
        row = self.store.get_media(media_id)
        if row is None or not row.owned_by(user_id):
            return None
        now = self.now()
        if row.phase == "initialized" and now >= row.session_expires_at:
            return None
        if row.media_expires_at is not None and now >= row.media_expires_at:
            return None
        return row

    def session(self, user_id: str, media_id: str) -> MediaRow:
        row = self.find(user_id, media_id)
        if row is None or row.phase != "initialized":
            raise UploadRefused("not_found", "Not found")
        return row

    # APPEND

    def check_segment_index(self, segment_index: int) -> None:
        if not 0 <= segment_index < self.limits.max_segments:
            raise UploadRefused(
                "segment_index",
                f"SegmentIndex must be between 0 and {self.limits.max_segments - 1}.",
                param="segment_index",
                value=segment_index,
                rule=f"is not between 0 and {self.limits.max_segments - 1}",
            )

    def spool_for(self, media_id: str) -> tuple[int, str]:
        return self.store.new_segment_file(media_id)

    def append(
        self, *, user_id: str, media_id: str, segment_index: int, temp_path: str, size: int
    ) -> MediaRow:
        """Store one segment that a handler already spooled to `temp_path`."""
        try:
            row = self.session(user_id, media_id)
            self.check_segment_index(segment_index)
            if size > self.limits.max_chunk_bytes:
                raise UploadRefused(
                    "chunk_too_large",
                    f"Segment size exceeds {self.limits.max_chunk_bytes} bytes.",
                    limit=self.limits.max_chunk_bytes,
                )
        except UploadRefused:
            _unlink(temp_path)
            raise
        self.store.commit_segment(media_id, segment_index, temp_path, size, self.now())
        return row

    # FINALIZE

    async def finalize(self, *, user_id: str, media_id: str) -> MediaRow:
        row = self.find(user_id, media_id)
        if row is None:
            raise UploadRefused("not_found", "Not found")
        if row.phase != "initialized":
            if self.config.finalize_twice == "idempotent":
                return row
            raise UploadRefused("not_found", "Not found")
        segments = self.store.segments(media_id)
        received = sum(size for _index, size in segments)
        if not segments or received != row.total_bytes:
            raise UploadRefused("segments", SEGMENTS_MISMATCH)
        path = await anyio.to_thread.run_sync(self.store.join_segments, media_id)
        category = row.media_category
        # What X processes is decoded during processing, after FINALIZE has answered.
        deferred = category is not None and Limits.is_async(category)
        info, digest = await self._read_joined(path, category, decode=not deferred)
        try:
            fields = self._finalize_fields(row, info, digest)
        except UploadRefused:
            _unlink(str(path))
            raise
        if deferred and self._needs_decode(info, category):
            assert info is not None and category is not None
            future = self.decodes.reserve(media_id)
            # Until the decode ends: the time the headers give, and no outcome yet.
            fields.update(
                outcome=None,
                error_code=None,
                error_name=None,
                error_message=None,
                fail_progress=None,
                decoder=this_decoder(),
                attempt=self.store.earlier_uploads(digest, media_id),
            )
            try:
                self.store.update_media(media_id, **fields)
            except BaseException:
                future.set_result(None)
                raise
            self.decodes.start(media_id, future, lambda: self._decode(media_id, info))
        else:
            self.store.update_media(media_id, **fields)
            if not self.config.keep_media:
                # The checks that need the bytes ran above; X keeps no copy we could serve.
                self.store.remove_spool(media_id)
        final = self.store.get_media(media_id)
        assert final is not None
        return final

    async def _read_joined(
        self, path: Path, category: str | None, *, decode: bool = True
    ) -> tuple[MediaInfo | None, str]:
        """Probe (and decode) the file while another thread hashes it: both drop the GIL, so on
        two cores FINALIZE takes about the longer of the two, not their sum."""
        digest: list[str] = []
        info: list[MediaInfo | None] = []
        failed: dict[str, Exception] = {}

        async def hash_it() -> None:
            try:
                digest.append(await anyio.to_thread.run_sync(file_sha256, path))
            except Exception as exc:  # raised below as it was, not inside an ExceptionGroup
                failed["hash"] = exc

        async def read_it() -> None:
            try:
                found = await anyio.to_thread.run_sync(probe, path)
                if decode:
                    found = await anyio.to_thread.run_sync(self._decoded, path, found, category)
                info.append(found)
            except Exception as exc:
                failed["read"] = exc

        async with anyio.create_task_group() as group:
            group.start_soon(hash_it)
            group.start_soon(read_it)
        for step in ("hash", "read"):  # the hash came first when one thread did both
            if step in failed:
                raise failed[step]
        return info[0], digest[0]

    def _decoded(
        self, path: os.PathLike[str], info: MediaInfo | None, category: str | None
    ) -> MediaInfo | None:
        """`info` with what decoding found (`_verify`), for media X decodes: what it processes,
        and images. Only media that passes the header-level judge is decoded (bounded)."""
        if info is None:
            return None
        if category is None:
            if info.kind not in ("image", "gif"):
                return info  # the no-category video path is finalized synchronously, unread
            category = "tweet_image"
        elif not (Limits.is_async(category) or Limits.kind_of(category) == "image"):
            return info
        if judge(info, category, self.limits):
            return info  # refused on its headers already; not worth decoding
        return verified(path, info)

    def _needs_decode(self, info: MediaInfo | None, category: str | None) -> bool:
        """Whether `_decoded` would decode this media (else its headers say all there is)."""
        if info is None or category is None or not Limits.is_async(category):
            return False
        return not judge(info, category, self.limits)

    # the decode that processing starts with (worker thread)

    def _decode(self, media_id: str, info: MediaInfo | None) -> None:
        """Decode the joined file, and store the processing plan its result gives, as
        `_finalize_fields` did at FINALIZE: the duration the headers lacked, damage failing.
        `info` is None when this process takes over a decode another one left."""
        row = self.store.get_media(media_id)
        if row is None or not row.decoding:
            return
        category = row.media_category
        assert category is not None and row.content_sha256 is not None
        try:
            path = self.store.joined_path(media_id)
            found = probe(path) if info is None else info
            decoded = self._decoded(path, found, category)
            plan = self.processing.plan(
                category=category,
                size=row.total_bytes,
                info=decoded,
                content_sha256=row.content_sha256,
                attempt=row.attempt or 0,
            )
            duration_s = decoded.duration_s if decoded is not None else row.duration_s
        except Exception:  # the bytes are gone or unreadable: X could not process them either
            _log.exception("decoding media %s failed", media_id)
            plan = ProcessingPlan(row.processing_s or 0.0, "failed", *_UNREADABLE)
            duration_s = row.duration_s
        self.store.finish_decode(media_id, duration_s=duration_s, **plan.fields())
        if not self.config.keep_media:
            self.store.remove_spool(media_id)

    async def settled(self, row: MediaRow) -> MediaRow:
        """`row` once its decode has ended, if the processing time the model gave at FINALIZE
        is over: STATUS never says succeeded or failed before the decode's result is known.
        """
        assert row.finalized_at is not None
        if not row.decoding or self.now() - row.finalized_at < (row.processing_s or 0.0):
            return row
        deadline = time.monotonic() + DECODE_WAIT_S
        while row.decoding and time.monotonic() < deadline:
            assert row.decoder is not None
            future = self.decodes.running(row.id)
            if future is not None:
                await anyio.to_thread.run_sync(future.result)
            elif not self.decodes.alive(row.decoder, row.id):
                await anyio.to_thread.run_sync(self._take_over, row)
            else:
                await anyio.sleep(0.02)  # another process decodes it, into the shared state
            fresh = self.store.get_media(row.id)
            if fresh is None:
                break
            row = fresh
        return row

    def settle(self, media_id: str) -> None:
        """Wait for the decode of `media_id` if one runs in this process (introspection)."""
        row = self.store.get_media(media_id)
        if row is None or row.decoder is None:
            return
        future = self.decodes.running(media_id)
        if future is not None:
            future.result()
        elif not self.decodes.alive(row.decoder, media_id):
            self._take_over(row)

    def _take_over(self, row: MediaRow) -> None:
        assert row.decoder is not None
        if self.store.claim_decode(row.id, row.decoder, this_decoder()):
            self.decodes.run_here(row.id, lambda: self._decode(row.id, None))

    def close(self) -> None:
        """Wait for the decodes this service started: none outlives the emulator."""
        self.decodes.close()

    def _finalize_fields(
        self, row: MediaRow, info: MediaInfo | None, digest: str
    ) -> dict[str, Any]:
        if info is None:
            raise UploadRefused("unrecognized", UNRECOGNIZED)
        if self.config.check_media_type_matches and row.media_type not in (None, info.media_type):
            raise UploadRefused("unrecognized", UNRECOGNIZED)
        category = row.media_category
        now = self.now()
        fields: dict[str, Any] = {
            "phase": "finalized",
            "finalized_at": now,
            "media_expires_at": now + self.config.media_ttl_s,
            "size": row.total_bytes,
            "detected_type": info.media_type,
            "kind": info.kind,
            "width": info.width,
            "height": info.height,
            "duration_s": info.duration_s,
            "content_sha256": digest,
        }
        if category is not None and Limits.is_async(category):
            plan = self.processing.plan(
                category=category,
                size=row.total_bytes,
                info=info,
                content_sha256=digest,
                attempt=self.store.earlier_uploads(digest, row.id),
            )
            fields.update(plan.fields())
            return fields
        # Synchronous: the category (or, without one, the content) says what X returns.
        wanted = Limits.kind_of(category) if category else None
        if wanted == "image" and info.kind not in ("image", "gif"):
            raise UploadRefused("unrecognized", UNRECOGNIZED)
        if wanted == "image" or (wanted is None and info.kind in ("image", "gif")):
            # X decodes images at FINALIZE: a limit or damage refuses them there.
            refusal = processing_refusal(info, category or "tweet_image", self.limits)
            if refusal is not None:
                raise UploadRefused("invalid_media", refusal.refusal)
        if wanted == "subtitles" and info.kind != "subtitles":
            raise UploadRefused("unrecognized", UNRECOGNIZED)
        if (
            wanted is None
            and info.kind == "video"
            and row.total_bytes > (self.limits.sync_video_max_bytes)
        ):
            raise UploadRefused("large_sync", LARGE_SYNC)
        fields["outcome"] = "succeeded"
        return fields

    # STATUS and the object every dialect renders

    def describe(self, row: MediaRow, *, just_finalized: bool = False) -> dict[str, Any]:
        """The finalize/STATUS object (dialect-neutral keys), as X would show it now.

        The answer to the FINALIZE that started processing always says `pending`, as X's does,
        however fast the emulator's clock runs.
        """
        now = self.now()
        out: dict[str, Any] = {
            "id": row.id,
            "media_key": row.media_key,
        }
        if row.phase == "initialized":
            out["expires_after_secs"] = max(0, int(row.session_expires_at - now))
            return out
        out["size"] = row.size
        expires = max(0, int((row.media_expires_at or now) - now))
        if row.processing_s is None:
            out["expires_after_secs"] = expires
            out.update(self._media_object(row))
            return out
        info = processing_info(row, now, self.config.max_check_after_secs)
        if just_finalized:
            info = {"state": "pending", "check_after_secs": 1}
        if info["state"] != "failed":
            out["expires_after_secs"] = expires
        if info["state"] == "succeeded":
            out.update(self._media_object(row))
        out["processing_info"] = info
        return out

    @staticmethod
    def _media_object(row: MediaRow) -> dict[str, Any]:
        if row.kind in ("image",) or (row.kind == "gif" and row.processing_s is None):
            return {"image": {"image_type": row.detected_type, "w": row.width, "h": row.height}}
        if row.kind == "video":
            return {"video": {"video_type": row.detected_type}}
        if row.kind == "gif":
            # X turns an animated GIF into an MP4 when it processes it.
            return {"video": {"video_type": "video/mp4"}}
        return {}

    async def status(self, *, user_id: str, media_id: str) -> MediaRow:
        row = self.find(user_id, media_id)
        if row is None or row.phase != "finalized":
            raise UploadRefused("not_found", "Not found")
        if row.processing_s is None and self.config.status_of_sync_media == "not_found":
            raise UploadRefused("not_found", "Not found")
        return await self.settled(row)

    # maintenance

    def sweep(self) -> None:
        """Remove the bytes of sessions and media that expired."""
        for media_id in self.store.expired_spools(self.now()):
            if not self.config.keep_media:
                self.store.remove_spool(media_id)


def _unlink(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
