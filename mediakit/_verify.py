"""Decoding-level checks: damage that a file's headers hide (a cut file, junk after a header).

Preflight reads headers only (`_detect.probe`); X decodes what it processes, so a video whose
index is intact but whose frames are junk, or a JPEG cut half way, passes every header check
and still fails at X. The emulator calls `verified` before it accepts media, so it refuses
those files as X does. Every check here is bounded whatever the file claims:

- video: every packet is demuxed (one at a time, so memory is FFmpeg's read buffer) and
  counted against the container's index; the decoder parses every packet and reconstructs
  keyframes only, until `VIDEO_DECODE_PIXELS` pixels are decoded (about 325 keyframes of
  1280×720), then packets are only demuxed. More than 1 % of packets that do not decode, or
  none that does, is damage;
- animated GIF: every frame decoded with Pillow, at most `GIF_DECODE_PIXELS` in all (X's own
  limit is 300 million, which the judge applies first);
- still image: JPEG decoded at 1/8 scale (Pillow's draft mode reads every byte of the entropy
  stream and holds 1/64 of the pixels), PNG chunk CRCs and the end marker checked without
  inflating, other formats decoded when they have at most `IMAGE_DECODE_PIXELS` pixels.

Pillow's decompression-bomb guard stays on: an image over it is not decoded here (the limits
table refuses its dimensions anyway).
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from typing import Final

from ._detect import MediaInfo

__all__ = ["GIF_DECODE_PIXELS", "IMAGE_DECODE_PIXELS", "VIDEO_DECODE_PIXELS", "verified"]

VIDEO_DECODE_PIXELS: Final = 300_000_000
GIF_DECODE_PIXELS: Final = 400_000_000
IMAGE_DECODE_PIXELS: Final = 4096 * 4096


def verified(path: str | os.PathLike[str], info: MediaInfo) -> MediaInfo:
    """`info` with `damage` set when decoding finds the file cut or corrupt; else `info`.

    A video whose duration the headers did not give gets it from the demuxed packets. Never
    raises for bad content; OSError when the file cannot be read.
    """
    if info.probe_error is not None:
        return info  # the headers already failed: nothing more to learn
    if info.kind == "video":
        return _verify_video(path, info)
    if info.media_type == "image/gif":
        return _verify_gif(path, info)
    if info.kind == "image":
        return _verify_image(path, info)
    return info


def _damaged(info: MediaInfo, reason: str) -> MediaInfo:
    return dataclasses.replace(info, damage=reason)


def _describe(exc: BaseException) -> str:
    text = (getattr(exc, "strerror", None) or str(exc)).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


# Video ----------------------------------------------------------------------------------------


def _verify_video(path: str | os.PathLike[str], info: MediaInfo) -> MediaInfo:
    import av

    from ._detect import _AV_FORMATS

    packets = sent = errors = decoded = pixels = 0
    first: int | None = None
    last: int | None = None
    try:
        with av.open(
            os.fspath(path), format=_AV_FORMATS[info.media_type], metadata_errors="ignore"
        ) as container:
            video = container.streams.video[0]
            expected = video.frames or 0
            ctx = video.codec_context
            # The decoder still parses every packet (junk raises), but reconstructs keyframes
            # only: cheap enough to send it the whole file. Which packets are keyframes is not
            # asked of the demuxer: for H.264 it learns that by parsing the same junk.
            ctx.skip_frame = "NONKEY"
            frame_pixels = (ctx.width or 1) * (ctx.height or 1)
            time_base = video.time_base
            for packet in container.demux(video):
                if packet.size == 0:
                    continue  # the flush packet demux ends with
                packets += 1
                if packet.pts is not None:
                    end = packet.pts + (packet.duration or 0)
                    first = packet.pts if first is None else min(first, packet.pts)
                    last = end if last is None else max(last, end)
                if pixels >= VIDEO_DECODE_PIXELS:
                    continue  # the decoding budget is spent: the rest is only demuxed
                sent += 1
                try:
                    frames = ctx.decode(packet)
                except av.error.InvalidDataError:
                    errors += 1
                    continue
                decoded += len(frames)
                pixels += frame_pixels * len(frames)
            if pixels < VIDEO_DECODE_PIXELS:
                decoded += len(ctx.decode(None))  # frames the decoder still held
    except Exception as exc:
        return _damaged(info, f"the video cannot be decoded ({_describe(exc)})")
    if packets == 0:
        return _damaged(info, "the video stream holds no frames")
    if expected and packets < expected:
        return _damaged(info, f"the file is cut short: {packets} of {expected} frames present")
    if decoded == 0:
        return _damaged(info, f"no frame of the {info.video_codec} stream decodes")
    if errors * 100 > sent:  # more than 1 % of what was decoded is junk
        return _damaged(info, f"{errors} of {sent} video packets do not decode (corrupt data)")
    if info.duration_s is None and first is not None and last is not None and time_base:
        return dataclasses.replace(info, duration_s=float((last - first) * time_base))
    return info


# GIF ------------------------------------------------------------------------------------------


def _verify_gif(path: str | os.PathLike[str], info: MediaInfo) -> MediaInfo:
    from PIL import Image

    frames = info.frames or 1
    if (info.width or 0) * (info.height or 0) * frames > GIF_DECODE_PIXELS:
        return info  # over X's GIF limits, which the judge refuses without decoding
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                for index in range(frames):
                    im.seek(index)
                    im.load()
    except Exception as exc:
        return _damaged(info, f"the GIF cannot be decoded ({_describe(exc)})")
    return info


# Still images -------------------------------------------------------------------------------


def _verify_image(path: str | os.PathLike[str], info: MediaInfo) -> MediaInfo:
    from PIL import Image

    width, height = info.width or 0, info.height or 0
    guard = Image.MAX_IMAGE_PIXELS
    if guard is not None and width * height > guard:
        return info  # past Pillow's bomb guard: not decoded (its dimensions are refused)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                if info.media_type == "image/jpeg":
                    im.draft("RGB", (max(1, width // 8), max(1, height // 8)))
                    im.load()
                elif info.media_type == "image/png":
                    im.verify()  # chunk CRCs and IEND, without inflating the pixels
                elif width * height <= IMAGE_DECODE_PIXELS:
                    im.load()
    except Exception as exc:
        return _damaged(info, f"the image cannot be decoded ({_describe(exc)})")
    return info
