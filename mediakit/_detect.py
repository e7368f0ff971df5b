"""The one content detector: which media type the bytes are, and what X would measure in them.

The client's category inference and preflight and the emulator's FINALIZE all ask this module,
so what preflight flags is exactly what the emulator refuses. Two levels:

- `sniff(head)` names the MIME type from the leading `HEAD_BYTES` bytes alone, for every type
  of X's v2 ``media_type`` enum we can recognise (models excepted). Anything else is None, which
  X answers with "media type unrecognized."
- `probe(path)` sniffs, then measures: image dimensions with Pillow (headers only), GIF and
  WebP frame counts and durations by walking their blocks (no pixel is decoded), video
  dimensions, frame rate, frame count, codecs and profiles, pixel format, audio channels and
  duration with PyAV (container headers and each stream's first packet, FFmpeg's probe bounded
  by `PROBE_OPTIONS`; nothing is decoded). PyAV is a core dependency: the hand-written MP4 box
  parser that stood in for it is gone.

`probe` never raises on a bad file: a file that sniffs but cannot be measured gives a
`MediaInfo` whose `probe_error` says why. It reads headers and seeks, never a whole file: the
memory it needs follows the size of the headers, not of the file (a 200 MB file with a JPEG
header costs a few kilobytes). It does raise `OSError` when the file cannot be opened at all.
"""

from __future__ import annotations

import os
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO, Final, Literal

from ._limits import IMAGE_TYPES, SUBTITLE_TYPES, VIDEO_TYPES, Kind

__all__ = [
    "HEAD_BYTES",
    "PROBE_OPTIONS",
    "MediaInfo",
    "family_of",
    "probe",
    "sniff",
    "sniff_file",
]

HEAD_BYTES: Final = 4096
"""How many leading bytes `sniff` needs to decide (fewer work for most types)."""

Family = Literal["image", "video", "subtitles"]


def family_of(media_type: str) -> Family | None:
    """The family of a MIME type: image (GIFs included), video, subtitles; None otherwise.

    Whether a GIF is animated (kind "gif") takes its content: see `MediaInfo.kind`.
    """
    if media_type in IMAGE_TYPES:
        return "image"
    if media_type in VIDEO_TYPES:
        return "video"
    if media_type in SUBTITLE_TYPES:
        return "subtitles"
    return None


# ---------------------------------------------------------------------------------------------
# sniff

# ISO BMFF major brands of still images (HEIF, AVIF) and raw photos: not video, not in X's enum.
_IMAGE_BRANDS = frozenset(
    {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1", b"avif", b"avis",
     b"crx "}
)  # fmt: skip
# Atoms a QuickTime file may start with when it has no `ftyp` (pre-2001 files, some cameras).
_QT_LEADING_ATOMS = frozenset({b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"})
_BMP_DIB_SIZES = frozenset({12, 16, 40, 52, 56, 64, 108, 124})
_TS_PACKET = 188
_M2TS_PACKET = 192
_BOM = b"\xef\xbb\xbf"
_SRT_TIMING = re.compile(
    rb"\d{1,3}:\d{2}:\d{2}[,.]\d{1,3}[ \t]*-->[ \t]*\d{1,3}:\d{2}:\d{2}[,.]\d{1,3}(?:[ \t].*)?"
)


def sniff(head: bytes) -> str | None:
    """The MIME type the leading bytes of a file announce, or None if X would not recognise it.

    Give it at least `HEAD_BYTES` bytes (or the whole file when shorter). JPEG is always
    ``image/jpeg`` (``image/pjpeg`` is a legacy alias of the same bytes).
    """
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "image/webp"
    if head.startswith((b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")):
        return "image/tiff"
    if head.startswith(b"BM") and _plausible_bmp(head):
        return "image/bmp"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "video/webm" if _ebml_doctype(head) == b"webm" else None
    if head[4:8] == b"ftyp":
        return _sniff_ftyp(head)
    if head[4:8] in _QT_LEADING_ATOMS and _plausible_box_size(head):
        return "video/quicktime"
    if _is_transport_stream(head):
        return "video/mp2t"
    return _sniff_text(head)


def sniff_file(path: str | os.PathLike[str]) -> str | None:
    """`sniff` of the first `HEAD_BYTES` bytes of a file."""
    with open(path, "rb") as f:
        return sniff(f.read(HEAD_BYTES))


def _plausible_bmp(head: bytes) -> bool:
    if len(head) < 26:
        return False
    data_offset, dib_size = struct.unpack_from("<II", head, 10)
    if dib_size not in _BMP_DIB_SIZES or data_offset < 14 + dib_size:
        return False
    planes_at = 22 if dib_size == 12 else 26
    return len(head) >= planes_at + 2 and struct.unpack_from("<H", head, planes_at)[0] == 1


def _plausible_box_size(head: bytes) -> bool:
    size = struct.unpack_from(">I", head)[0]
    return size in (0, 1) or size >= 8


def _sniff_ftyp(head: bytes) -> str | None:
    if len(head) < 12 or struct.unpack_from(">I", head)[0] < 12:
        return None
    brand = head[8:12]
    if brand == b"qt  ":
        return "video/quicktime"
    if brand in _IMAGE_BRANDS:
        return None
    return "video/mp4"


def _vint(data: bytes, pos: int, *, keep_marker: bool) -> tuple[int, int]:
    """An EBML variable-length integer at `pos`: (value, next position). IndexError if cut."""
    first = data[pos]
    if first == 0:
        raise ValueError("EBML vint longer than 8 bytes")
    length = 9 - first.bit_length()
    value = first if keep_marker else first & (0xFF >> length)
    for byte in data[pos + 1 : pos + length]:
        value = (value << 8) | byte
    if pos + length > len(data):
        raise IndexError("EBML vint cut short")
    return value, pos + length


def _ebml_doctype(head: bytes) -> bytes | None:
    """The DocType of the EBML header at the start of `head` ("webm", "matroska", ...)."""
    try:
        _, pos = _vint(head, 0, keep_marker=True)  # the EBML header ID, 1A45DFA3
        size, pos = _vint(head, pos, keep_marker=False)
        end = min(pos + size, len(head))
        while pos < end:
            element, pos = _vint(head, pos, keep_marker=True)
            length, pos = _vint(head, pos, keep_marker=False)
            if element == 0x4282:
                if pos + length > len(head):
                    return None
                return head[pos : pos + length].rstrip(b"\x00")
            pos += length
    except (IndexError, ValueError):
        return None
    return None


def _is_transport_stream(head: bytes) -> bool:
    """Sync bytes (0x47) at every packet start present: 188-byte TS or 192-byte M2TS."""
    for packet, offset in ((_TS_PACKET, 0), (_M2TS_PACKET, 4)):
        starts = range(offset, len(head), packet)
        if len(starts) >= 2 and all(head[i] == 0x47 for i in starts):
            return True
    return False


def _sniff_text(head: bytes) -> str | None:
    text = head.removeprefix(_BOM)
    if text.startswith(b"WEBVTT") and (len(text) == 6 or text[6:7] in (b" ", b"\t", b"\r", b"\n")):
        return "text/vtt"
    lines = text.lstrip(b"\r\n \t").splitlines()
    if len(lines) >= 2 and lines[0].strip().isdigit() and _SRT_TIMING.fullmatch(lines[1].strip()):
        return "text/srt"
    return None


# ---------------------------------------------------------------------------------------------
# probe


@dataclass(frozen=True)
class MediaInfo:
    """What `probe` found in a file. Fields it could not measure are None.

    `kind` is "gif" only for an animated GIF (more than one frame); a one-frame GIF is an
    "image", as X counts it. `frames` and `duration_s` are set for GIFs and WebPs (the sum of
    their frame delays) and for videos (`frames` as the container's index counts them).
    `profile` is the video codec's ("High"), `audio_profile` the audio's ("LC"). `probe_error`
    says why measuring failed ("no video stream" for an audio-only file, whose `has_video` is
    False); the type is still right. `damage` is set only by `_verify.verified`: what decoding
    found wrong in a file whose headers read well.
    """

    media_type: str
    kind: Kind
    width: int | None = None
    height: int | None = None
    frames: int | None = None
    duration_s: float | None = None
    fps: float | None = None
    video_codec: str | None = None
    profile: str | None = None
    audio_codec: str | None = None
    audio_profile: str | None = None
    pixel_format: str | None = None
    has_video: bool | None = None
    has_audio: bool | None = None
    audio_channels: int | None = None
    probe_error: str | None = None
    damage: str | None = None


def probe(path: str | os.PathLike[str]) -> MediaInfo | None:
    """Sniff and measure a file; None when its type is not one X recognises.

    Never raises for bad content (see `MediaInfo.probe_error`); raises OSError when the file
    cannot be opened or read.
    """
    with open(path, "rb") as f:
        media_type = sniff(f.read(HEAD_BYTES))
        if media_type is None:
            return None
        family = family_of(media_type)
        if family == "image":
            return _probe_image(f, media_type)
        if family == "subtitles":
            return MediaInfo(media_type, "subtitles")
    return _probe_video(path, media_type)


def _describe(exc: BaseException) -> str:
    """`Type: message`, without the file name PyAV's errors carry (a spool path, say)."""
    text = (getattr(exc, "strerror", None) or str(exc)).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class _Corrupt(ValueError):
    """A structure in the file that cannot be right."""


# Images -------------------------------------------------------------------------------------


def _probe_image(f: BinaryIO, media_type: str) -> MediaInfo:
    if media_type == "image/webp":
        # Pillow's WebP plugin reads the whole file into memory; the RIFF chunks say it all.
        try:
            width, height, frames, duration_ms = _webp_info(f)
        except (_Corrupt, struct.error) as exc:
            return MediaInfo(media_type, "image", probe_error=f"bad WebP: {exc}")
        duration = duration_ms / 1000 if frames > 1 else None
        return MediaInfo(media_type, "image", width, height, frames=frames, duration_s=duration)
    try:
        width, height = _pillow_size(f, media_type)
    except Exception as exc:
        return MediaInfo(media_type, "image", probe_error=_describe(exc))
    if media_type != "image/gif":
        return MediaInfo(media_type, "image", width, height)
    try:
        frames, delay_cs = _gif_frames(f)
    except (_Corrupt, struct.error) as exc:
        return MediaInfo(media_type, "image", width, height, probe_error=f"bad GIF: {exc}")
    if frames == 1:
        return MediaInfo(media_type, "image", width, height, frames=1)
    return MediaInfo(media_type, "gif", width, height, frames=frames, duration_s=delay_cs / 100)


def _pillow_size(f: BinaryIO, media_type: str) -> tuple[int, int]:
    """Pixel size from the header. The plugin classes are used directly rather than
    `Image.open`, whose decompression-bomb check would refuse (or warn about) a huge image
    before we could report its size: judging dimensions is the limits table's job."""
    from PIL import (
        BmpImagePlugin,
        GifImagePlugin,
        ImageFile,
        JpegImagePlugin,
        PngImagePlugin,
        TiffImagePlugin,
    )

    factories: dict[str, Callable[[BinaryIO], ImageFile.ImageFile]] = {
        "image/jpeg": JpegImagePlugin.JpegImageFile,
        "image/png": PngImagePlugin.PngImageFile,
        "image/gif": GifImagePlugin.GifImageFile,
        "image/bmp": BmpImagePlugin.BmpImageFile,
        "image/tiff": TiffImagePlugin.TiffImageFile,
    }
    f.seek(0)
    with factories[media_type](f) as im:
        width, height = im.size
    return width, height


def _gif_frames(f: BinaryIO) -> tuple[int, int]:
    """(image count, sum of frame delays in 1/100 s), walking the GIF blocks without decoding."""
    f.seek(0)
    header = f.read(13)
    if len(header) < 13:
        raise _Corrupt("truncated header")
    if header[10] & 0x80:  # global colour table
        _skip(f, 3 << ((header[10] & 7) + 1))
    frames = delay = pending_delay = 0
    while True:
        block = f.read(1)
        if block in (b";", b""):  # trailer; a missing trailer is tolerated, as viewers do
            break
        if block == b"!":
            label = f.read(1)
            data = _sub_blocks(f)
            if label == b"\xf9" and len(data) >= 3:  # graphic control: delay of the next image
                pending_delay = struct.unpack_from("<H", data, 1)[0]
        elif block == b",":
            descriptor = f.read(9)
            if len(descriptor) < 9:
                raise _Corrupt("truncated image descriptor")
            if descriptor[8] & 0x80:  # local colour table
                _skip(f, 3 << ((descriptor[8] & 7) + 1))
            if not f.read(1):  # LZW minimum code size
                raise _Corrupt("truncated image data")
            _sub_blocks(f, keep=False)
            frames += 1
            delay += pending_delay
            pending_delay = 0
        elif block != b"\x00":  # stray padding is tolerated
            raise _Corrupt(f"unknown block 0x{block[0]:02x}")
    if frames == 0:
        raise _Corrupt("no image in the file")
    return frames, delay


def _sub_blocks(f: BinaryIO, keep: bool = True) -> bytes:
    """Read GIF data sub-blocks up to their terminator; the first one's data when `keep`."""
    first = b""
    while True:
        size = f.read(1)
        if not size:
            raise _Corrupt("truncated data sub-blocks")
        if size == b"\x00":
            return first
        data = f.read(size[0])
        if len(data) < size[0]:
            raise _Corrupt("truncated data sub-blocks")
        if keep and not first:
            first = data


def _skip(f: BinaryIO, count: int) -> None:
    if len(f.read(count)) < count:
        raise _Corrupt("file ends too early")


def _webp_info(f: BinaryIO) -> tuple[int, int, int, int]:
    """(width, height, frames, total duration in ms) from the RIFF chunks of a WebP."""
    f.seek(0)
    riff_size = struct.unpack("<4sI4s", f.read(12))[1]
    end = min(8 + riff_size, os.fstat(f.fileno()).st_size)
    width = height = None
    frames = duration = 0
    pos = 12
    while pos + 8 <= end:
        f.seek(pos)
        fourcc, size = struct.unpack("<4sI", f.read(8))
        if pos + 8 + size > end:
            raise _Corrupt(f"{fourcc.decode('latin-1')!r} chunk runs past the end of the file")
        payload = f.read(min(size, 30))
        if fourcc == b"VP8X":
            width = 1 + int.from_bytes(payload[4:7], "little")
            height = 1 + int.from_bytes(payload[7:10], "little")
        elif fourcc == b"ANMF":
            frames += 1
            duration += int.from_bytes(payload[12:15], "little")
        elif fourcc == b"VP8 " and width is None:
            if payload[3:6] != b"\x9d\x01\x2a":
                raise _Corrupt("no VP8 start code")
            width, height = (v & 0x3FFF for v in struct.unpack_from("<HH", payload, 6))
        elif fourcc == b"VP8L" and width is None:
            if payload[:1] != b"\x2f":
                raise _Corrupt("no VP8L signature")
            bits = int.from_bytes(payload[1:5], "little")
            width, height = (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
        pos += 8 + size + (size & 1)
    if width is None or height is None:
        raise _Corrupt("no image chunk")
    return width, height, max(frames, 1), duration


# Videos with PyAV ---------------------------------------------------------------------------

# The demuxer for each sniffed type, so FFmpeg does not second-guess the sniffer.
_AV_FORMATS = {
    "video/mp4": "mov",
    "video/quicktime": "mov",
    "video/webm": "matroska",
    "video/mp2t": "mpegts",
}

PROBE_OPTIONS: Final = {"probesize": str(128 * 1024), "analyzeduration": str(500_000)}
"""How far FFmpeg may read to find the streams' parameters: 128 KiB or 0.5 s of media.

FFmpeg's defaults (5 MB, 5 s) read a tenth of a typical 50 MB video. MP4/MOV/WebM carry every
parameter in their headers; FFmpeg still reads the first packet of each stream. MPEG-TS has no
header, so its first 128 KiB must hold both streams' first packets (a muxer interleaves them
within a fraction of a second)."""

# MPEG-4 Audio Object Types (ISO/IEC 14496-3 table 1.1) in FFmpeg's profile names.
_AAC_OBJECT_TYPES = {1: "Main", 2: "LC", 3: "SSR", 4: "LTP", 5: "HE-AAC", 29: "HE-AACv2"}


def _probe_video(path: str | os.PathLike[str], media_type: str) -> MediaInfo:
    import av

    try:
        with av.open(
            os.fspath(path),
            mode="r",
            format=_AV_FORMATS[media_type],
            options=PROBE_OPTIONS,
            metadata_errors="ignore",
        ) as container:
            audio = container.streams.audio[0] if container.streams.audio else None
            audio_fields: dict[str, object] = {"has_audio": audio is not None}
            if audio is not None:
                actx = audio.codec_context
                name = actx.codec.canonical_name  # "mp3", not the decoder's "mp3float"
                audio_fields.update(
                    audio_codec=name,
                    audio_channels=actx.channels or None,
                    audio_profile=actx.profile or _aac_object_type(name, actx.extradata),
                )
            if not container.streams.video:
                return MediaInfo(
                    media_type,
                    "video",
                    duration_s=_container_duration(container.duration),
                    has_video=False,
                    probe_error="no video stream",
                    **audio_fields,  # type: ignore[arg-type]
                )
            video = container.streams.video[0]
            ctx = video.codec_context
            if not ctx.width or not ctx.height:
                # FFmpeg found the stream but not its parameters: a cut or damaged file.
                return MediaInfo(
                    media_type,
                    "video",
                    video_codec=ctx.codec.canonical_name,
                    has_video=True,
                    probe_error="no video dimensions",
                )
            # MPEG-TS has no index: within the probe's bound FFmpeg may not reach an average
            # rate, and its guess is then the field rate; the SPS timing (framerate) is right.
            rate = video.average_rate or ctx.framerate or video.guessed_rate
            duration = _container_duration(container.duration)
            if duration is None and video.duration and video.time_base is not None:
                duration = float(video.duration * video.time_base)
            return MediaInfo(
                media_type,
                "video",
                width=ctx.width,
                height=ctx.height,
                frames=video.frames or None,
                duration_s=duration,
                fps=float(rate) if rate else None,
                video_codec=ctx.codec.canonical_name,
                profile=ctx.profile,
                pixel_format=ctx.pix_fmt,
                has_video=True,
                **audio_fields,  # type: ignore[arg-type]
            )
    except Exception as exc:
        return MediaInfo(media_type, "video", probe_error=_describe(exc))


def _container_duration(value: int | None) -> float | None:
    return value / 1_000_000 if value else None  # AV_TIME_BASE


def _aac_object_type(codec: str, extradata: bytes | None) -> str | None:
    """AAC profile from the AudioSpecificConfig, when FFmpeg has not decoded a packet yet."""
    if codec != "aac" or not extradata:
        return None
    object_type = extradata[0] >> 3
    if object_type == 31 and len(extradata) >= 2:  # escape: 32 + the next 6 bits
        object_type = 32 + (((extradata[0] & 7) << 3) | (extradata[1] >> 5))
    return _AAC_OBJECT_TYPES.get(object_type, f"object type {object_type}")
