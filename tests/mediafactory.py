"""Real media files for tests, generated on the spot (no binaries are committed).

Images come from Pillow; videos from PyAV (a core dependency of mediakit), whose wheels carry
FFmpeg with libx264, libx265, the native AAC encoder, libvpx (VP8 and VP9) and libopus. Every
function takes the target path and returns it. Videos are tiny (64x48 by default) and fast to
make: a 1 s clip takes a few tens of milliseconds, and a 150 s clip at 1 fps (for the 140 s
duration limit) well under a second. `make_video` chooses everything: container, codec,
profile, pixel format, frame rate (fractions too), audio codec and channels.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from PIL import Image

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "FIXABLE",
    "VIDEO_ENCODERS",
    "copy_truncated",
    "make_big_file",
    "make_bmp",
    "make_gif",
    "make_gif_tiles",
    "make_jpeg",
    "make_mkv",
    "make_mov",
    "make_mp4",
    "make_noise",
    "make_noise_jpeg",
    "make_noise_png",
    "make_png",
    "make_srt",
    "make_tiff",
    "make_ts",
    "make_video",
    "make_vtt",
    "make_webm",
    "make_webp",
    "webm_codec",
]


# ---------------------------------------------------------------------------------------------
# Images


def _picture(width: int, height: int, seed: int = 0) -> Image.Image:
    """A small RGB picture with some structure (a gradient and a bar), different per seed."""
    im = Image.new("RGB", (width, height), ((seed * 53) % 256, 90, 160))
    bar_x = (seed * 7) % max(1, width)
    for x in range(bar_x, min(width, bar_x + max(1, width // 8))):
        for y in range(height):
            im.putpixel((x, y), (255, (seed * 31) % 256, 0))
    return im


def make_jpeg(path: Path, width: int = 64, height: int = 48) -> Path:
    _picture(width, height).save(path, format="JPEG", quality=80)
    return path


def make_png(path: Path, width: int = 64, height: int = 48) -> Path:
    _picture(width, height).save(path, format="PNG")
    return path


def make_webp(
    path: Path, width: int = 64, height: int = 48, frames: int = 1, frame_ms: int = 100
) -> Path:
    """A WebP picture; frames > 1 makes an animated WebP."""
    pictures = [_picture(width, height, seed=i) for i in range(frames)]
    if frames > 1:
        pictures[0].save(
            path,
            format="WEBP",
            save_all=True,
            append_images=pictures[1:],
            duration=frame_ms,
            loop=0,
            lossless=True,
        )
    else:
        pictures[0].save(path, format="WEBP", quality=80)
    return path


def make_bmp(path: Path, width: int = 64, height: int = 48) -> Path:
    _picture(width, height).save(path, format="BMP")
    return path


def make_tiff(path: Path, width: int = 64, height: int = 48, big_endian: bool = False) -> Path:
    """A TIFF: little endian RGB (`II*\\0`), or with big_endian=True a 16-bit grey picture,
    the one mode Pillow writes big endian (`MM\\0*`)."""
    if big_endian:
        Image.new("I;16B", (width, height), 1000).save(path, format="TIFF")
    else:
        _picture(width, height).save(path, format="TIFF")
    return path


def make_gif(
    path: Path, width: int = 32, height: int = 32, frames: int = 1, frame_ms: int = 100
) -> Path:
    """A GIF; frames > 1 makes an animated GIF of `frames` distinct frames of `frame_ms` each.

    Every frame differs from the previous one, so Pillow does not merge them.
    """
    pictures = [_picture(width, height, seed=i).convert("P") for i in range(frames)]
    if frames > 1:
        pictures[0].save(
            path,
            format="GIF",
            save_all=True,
            append_images=pictures[1:],
            duration=frame_ms,
            loop=0,
            optimize=False,
            disposal=1,
        )
    else:
        pictures[0].save(path, format="GIF")
    return path


def _tile_blocks(tile: int, color: int) -> bytes:
    """The LZW image data Pillow writes for a `tile`×`tile` frame of palette index `color`."""
    import io

    buffer = io.BytesIO()
    im = Image.new("P", (tile, tile), color)
    im.putpalette([0, 0, 0, 255, 255, 255])
    im.save(buffer, format="GIF", optimize=False)  # keep the indexes of the two colours
    data = buffer.getvalue()
    flags = data[10]
    start = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)
    at = data.index(b",", start)  # the image descriptor
    return data[at + 10 : -1]  # LZW minimum code size and sub-blocks, without the trailer


def make_gif_tiles(
    path: Path, width: int, height: int, frames: int, frame_ms: int = 100, tile: int = 2
) -> Path:
    """An animated GIF with a `width`×`height` screen and `frames` frames, each a small
    `tile`×`tile` square (alternately black and white, walking across the screen).

    Written block by block: cheap for any screen size and frame count (a 1280×1080 screen with
    218 frames, a 1×1 GIF of 10,000 frames), which Pillow could only write frame by full frame.
    """
    import struct

    tile = max(1, min(tile, width, height))
    palette = bytes([0, 0, 0, 255, 255, 255])
    out = bytearray(b"GIF89a" + struct.pack("<HHBBB", width, height, 0x80, 0, 0) + palette)
    out += b"!\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00"  # loop forever
    blocks = [_tile_blocks(tile, 0), _tile_blocks(tile, 1)]
    columns = max(1, width // tile)
    rows = max(1, height // tile)
    delay = max(0, round(frame_ms / 10))
    for i in range(frames):
        x = (i % columns) * tile
        y = ((i // columns) % rows) * tile
        out += b"!\xf9\x04" + struct.pack("<BHB", 4, delay, 0) + b"\x00"  # keep, delay
        out += b"," + struct.pack("<HHHHB", x, y, tile, tile, 0)
        out += blocks[i % 2]
    out += b";"
    path.write_bytes(bytes(out))
    return path


# ---------------------------------------------------------------------------------------------
# Videos (PyAV)

VIDEO_ENCODERS = ("libx264", "aac", "libvpx", "libvpx-vp9", "libopus")


def _encoder_available(name: str) -> bool:
    import av

    try:
        av.codec.Codec(name, "w")
    except Exception:
        return False
    return True


def webm_codec() -> str | None:
    """The VP8/VP9 encoder this PyAV build has (libvpx, libvpx-vp9), or None."""
    for name in ("libvpx", "libvpx-vp9"):
        if _encoder_available(name):
            return name
    return None


def _yuv_frame(width: int, height: int, index: int) -> np.ndarray[Any, Any]:
    """A yuv420p picture as the (height * 3 / 2, width) array PyAV expects: a moving bar."""
    import numpy as np

    arr = np.full((height * 3 // 2, width), 128, dtype=np.uint8)
    arr[:height, :] = 40 + (index * 5) % 160
    x = (index * 3) % width
    arr[:height, x : x + max(2, width // 8)] = 235
    return arr


_LAYOUTS = {1: "mono", 2: "stereo", 6: "5.1"}


def _encode(
    path: Path,
    *,
    container_format: str,
    video_codec: str | None,
    audio_codec: str | None,
    seconds: float,
    width: int,
    height: int,
    fps: float | Fraction,
    video_options: dict[str, str] | None = None,
    container_options: dict[str, str] | None = None,
    pix_fmt: str = "yuv420p",
    channels: int = 1,
) -> Path:
    import av
    import numpy as np
    from av.audio.stream import AudioStream
    from av.video.stream import VideoStream

    rate = Fraction(fps).limit_denominator(1001)
    if width % 2 or height % 2:
        raise ValueError("yuv420p needs even dimensions")
    frame_count = max(1, round(seconds * rate))
    layout = _LAYOUTS[channels]
    with av.open(
        str(path), mode="w", format=container_format, options=container_options or {}
    ) as out:
        vstream: VideoStream | None = None
        if video_codec is not None:
            added_v = out.add_stream(video_codec, rate=rate)
            assert isinstance(added_v, VideoStream)
            vstream = added_v
            vstream.width = width
            vstream.height = height
            vstream.pix_fmt = pix_fmt
            vstream.codec_context.time_base = 1 / rate
            vstream.options = dict(video_options or {})
        astream: AudioStream | None = None
        if audio_codec is not None:
            sample_rate = 48000 if audio_codec == "libopus" else 44100
            added = out.add_stream(audio_codec, rate=sample_rate, layout=layout)
            assert isinstance(added, AudioStream)
            astream = added
        if vstream is not None:
            for i in range(frame_count):
                frame = av.VideoFrame.from_ndarray(_yuv_frame(width, height, i), format="yuv420p")
                if pix_fmt != "yuv420p":
                    frame = frame.reformat(format=pix_fmt)
                frame.pts = i
                frame.time_base = 1 / rate
                out.mux(vstream.encode(frame))
            out.mux(vstream.encode(None))
        if astream is not None:
            sample_hz = astream.codec_context.sample_rate
            chunk = astream.codec_context.frame_size or 1024
            total = round(seconds * sample_hz)
            t = np.arange(total, dtype=np.float32) / sample_hz
            tone = (0.2 * np.sin(2 * np.pi * 440.0 * t)).astype(np.float32)
            fmt = astream.codec_context.format.name  # fltp (aac), s16 or flt (opus), s16p...
            planar = astream.codec_context.format.is_planar
            for start in range(0, total, chunk):
                samples = np.zeros((channels, chunk), dtype=np.float32)
                piece = tone[start : start + chunk]
                samples[:, : len(piece)] = piece
                if fmt.startswith("s16"):
                    data = (samples * 32767).astype(np.int16)
                elif fmt.startswith("s32"):
                    data = (samples * 2_147_483_647).astype(np.int32)
                else:
                    data = samples
                if not planar:
                    data = data.T.reshape(1, -1)  # packed: channels interleaved in one plane
                aframe = av.AudioFrame.from_ndarray(data, format=fmt, layout=layout)
                aframe.sample_rate = sample_hz
                aframe.pts = start
                aframe.time_base = Fraction(1, sample_hz)
                out.mux(astream.encode(aframe))
            out.mux(astream.encode(None))
    return path


_X264_FAST = {"preset": "ultrafast", "tune": "zerolatency"}


def make_mp4(
    path: Path,
    seconds: float = 1.0,
    width: int = 64,
    height: int = 48,
    fps: float = 10,
    audio: bool = False,
) -> Path:
    """H.264 yuv420p in MP4 (brand `isom`), with a mono AAC tone when audio=True."""
    return _encode(
        path,
        container_format="mp4",
        video_codec="libx264",
        audio_codec="aac" if audio else None,
        seconds=seconds,
        width=width,
        height=height,
        fps=fps,
        video_options=_X264_FAST,
    )


_CODEC_OPTIONS: dict[str, dict[str, str]] = {
    "libx264": _X264_FAST,
    "libx265": {"preset": "ultrafast", "x265-params": "log-level=none"},
    "libvpx": {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"},
    "libvpx-vp9": {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"},
}


def make_video(
    path: Path,
    *,
    container: str = "mp4",
    codec: str | None = "libx264",
    seconds: float = 1.0,
    width: int = 64,
    height: int = 48,
    fps: float | Fraction = 10,
    pix_fmt: str = "yuv420p",
    profile: str | None = None,
    audio: str | None = None,
    channels: int = 1,
) -> Path:
    """Any video the tests need: `container` (mp4, mov, webm, mpegts, matroska), `codec`
    (libx264, libx265, libvpx, libvpx-vp9, or None for an audio-only file), `profile` (an
    x264 profile: baseline, main, high, high10, high422, high444), `pix_fmt`, `fps` (62.5 or
    Fraction(30000, 1001) too), `audio` (aac, libopus, libmp3lame, ac3, or None) with
    `channels` (1, 2 or 6)."""
    options = dict(_CODEC_OPTIONS.get(codec or "", {}))
    if profile is not None:
        # ultrafast uses only Baseline tools, so x264 would signal Constrained Baseline.
        options = {"preset": "veryfast", "profile": profile}
    return _encode(
        path,
        container_format=container,
        video_codec=codec,
        audio_codec=audio,
        seconds=seconds,
        width=width,
        height=height,
        fps=fps,
        video_options=options,
        pix_fmt=pix_fmt,
        channels=channels,
    )


def make_mov(
    path: Path,
    seconds: float = 1.0,
    width: int = 64,
    height: int = 48,
    fps: int = 10,
    audio: bool = False,
) -> Path:
    """H.264 yuv420p (+ AAC) in a QuickTime container: ftyp major brand `qt  `."""
    return _encode(
        path,
        container_format="mov",
        video_codec="libx264",
        audio_codec="aac" if audio else None,
        seconds=seconds,
        width=width,
        height=height,
        fps=fps,
        video_options=_X264_FAST,
    )


def make_mkv(
    path: Path, seconds: float = 1.0, width: int = 64, height: int = 48, fps: int = 10
) -> Path:
    """H.264 in Matroska (EBML DocType "matroska", which is not in X's media_type enum)."""
    return _encode(
        path,
        container_format="matroska",
        video_codec="libx264",
        audio_codec=None,
        seconds=seconds,
        width=width,
        height=height,
        fps=fps,
        video_options=_X264_FAST,
    )


def make_webm(
    path: Path,
    seconds: float = 1.0,
    width: int = 64,
    height: int = 48,
    fps: int = 10,
    audio: bool = False,
    codec: Literal["libvpx", "libvpx-vp9"] | None = None,
) -> Path:
    """VP8 (libvpx, the default) or VP9 (libvpx-vp9) in WebM, with Opus audio when asked.

    The PyAV 18 wheels carry both encoders. Were neither present, this writes only a minimal
    EBML header with DocType "webm": enough for sniffing, not for a deeper probe.
    """
    chosen = codec or webm_codec()
    if chosen is None:
        path.write_bytes(_MINIMAL_WEBM_HEADER)
        return path
    options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"}
    return _encode(
        path,
        container_format="webm",
        video_codec=chosen,
        audio_codec="libopus" if audio else None,
        seconds=seconds,
        width=width,
        height=height,
        fps=fps,
        video_options=options,
    )


# EBML header: EBMLVersion 1, ReadVersion 1, MaxIDLength 4, MaxSizeLength 8, DocType "webm",
# DocTypeVersion 2, DocTypeReadVersion 2; then an empty Segment of unknown size.
_MINIMAL_WEBM_HEADER = (
    bytes.fromhex("1A45DFA3 9F 4286 81 01 42F7 81 01 42F2 81 04 42F3 81 08")
    + bytes.fromhex("4282 84")
    + b"webm"
    + bytes.fromhex("4287 81 02 4285 81 02")
    + bytes.fromhex("18538067 01FFFFFFFFFFFFFF")
)


def make_ts(
    path: Path,
    seconds: float = 1.0,
    width: int = 64,
    height: int = 48,
    fps: int = 10,
    audio: bool = False,
    m2ts: bool = False,
) -> Path:
    """H.264 (+ AAC) in MPEG-TS; m2ts=True writes 192-byte packets (4-byte timestamp first)."""
    return _encode(
        path,
        container_format="mpegts",
        video_codec="libx264",
        audio_codec="aac" if audio else None,
        seconds=seconds,
        width=width,
        height=height,
        fps=fps,
        video_options=_X264_FAST,
        container_options={"mpegts_m2ts_mode": "1"} if m2ts else None,
    )


# ---------------------------------------------------------------------------------------------
# Subtitles

_CUES = [
    ("00:00:00,500", "00:00:02,000", "Hello, world."),
    ("00:00:02,500", "00:00:04,000", "Second line — with ünïcödé."),
]


def make_srt(path: Path, *, crlf: bool = False, bom: bool = False) -> Path:
    """A two-cue SubRip file, optionally with CRLF line ends and a UTF-8 BOM."""
    blocks = [f"{i}\n{start} --> {end}\n{text}\n" for i, (start, end, text) in enumerate(_CUES, 1)]
    text = "\n".join(blocks)
    if crlf:
        text = text.replace("\n", "\r\n")
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    return path


def make_vtt(path: Path, *, bom: bool = False, crlf: bool = False) -> Path:
    """A two-cue WebVTT file, optionally with a UTF-8 BOM and CRLF line ends."""
    lines = ["WEBVTT", ""]
    for start, end, text in _CUES:
        lines += [f"{start.replace(',', '.')} --> {end.replace(',', '.')}", text, ""]
    text = "\n".join(lines)
    if crlf:
        text = text.replace("\n", "\r\n")
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    return path


# ---------------------------------------------------------------------------------------------
# Odd files


def make_noise(path: Path, size: int = 4096, seed: int = 1234) -> Path:
    """`size` deterministic random bytes that match no signature (the first byte is 0x00)."""
    data = bytearray(random.Random(seed).randbytes(size))
    if data:
        data[0] = 0  # no magic number starts with 0x00 followed by random bytes
    path.write_bytes(bytes(data))
    return path


_HEADER_MAKERS: dict[str, Callable[[Path], Path]] = {
    "jpeg": make_jpeg,
    "png": make_png,
    "gif": make_gif,
    "webp": make_webp,
    "bmp": make_bmp,
    "tiff": make_tiff,
    "mp4": make_mp4,
    "mov": make_mov,
}


def make_big_file(path: Path, size: int, header: str | None = None) -> Path:
    """A sparse file of exactly `size` bytes: a small real file of kind `header` (jpeg, png,
    gif, webp, bmp, tiff, mp4, mov), or nothing, followed by zero padding.

    The padding is a hole (`truncate`), so a 200 MB file costs no disk and no time.
    """
    if header is None:
        path.write_bytes(b"")
    else:
        _HEADER_MAKERS[header](path)
    if path.stat().st_size > size:
        raise ValueError(f"a {header} header alone is {path.stat().st_size} bytes > {size}")
    with path.open("r+b") as f:
        f.truncate(size)
    return path


def copy_truncated(src: Path, dst: Path, size: int) -> Path:
    """The first `size` bytes of `src` (a negative size drops that many bytes from the end)."""
    data = src.read_bytes()
    dst.write_bytes(data[:size])
    return dst


# ---------------------------------------------------------------------------------------------
# What X refuses for reasons repair fixes


def make_noise_png(path: Path, width: int, height: int, alpha: bool = False) -> Path:
    """A PNG of random pixels (incompressible: 2000×1500 is about 9 MB)."""
    import numpy as np

    channels = 4 if alpha else 3
    pixels = np.random.default_rng(5).integers(0, 255, (height, width, channels), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return path


def make_noise_jpeg(path: Path, width: int, height: int) -> Path:
    import numpy as np

    pixels = np.random.default_rng(6).integers(0, 255, (height, width, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path, quality=90)
    return path


FIXABLE: dict[str, Callable[[Path], Path]] = {
    "fps120.mp4": lambda p: make_video(p, fps=120, width=320, height=240, audio="aac"),
    "fps62_5.mp4": lambda p: make_video(p, fps=62.5),
    "hevc.mp4": lambda p: make_video(p, codec="libx265", width=320, height=240),
    "vp9.webm": lambda p: make_video(
        p, container="webm", codec="libvpx-vp9", audio="libopus", channels=2
    ),
    "yuv422.mp4": lambda p: make_video(p, pix_fmt="yuv422p"),
    "yuv444.mov": lambda p: make_video(p, container="mov", pix_fmt="yuv444p"),
    "surround.mp4": lambda p: make_video(p, audio="aac", channels=6),
    "opus.mp4": lambda p: make_video(p, audio="libopus", channels=2),
    "mp3.mp4": lambda p: make_video(p, audio="libmp3lame", channels=2),
    "fullhd.mp4": lambda p: make_video(p, width=1920, height=1080, seconds=0.6),
    "tiny.mp4": lambda p: make_video(p, width=16, height=16),
    "tall.mp4": lambda p: make_video(p, width=64, height=320),
    "wide.mp4": lambda p: make_video(p, width=320, height=64),
    "short.mp4": lambda p: make_video(p, seconds=0.2),
    "surround.ts": lambda p: make_video(p, container="mpegts", audio="aac", channels=6),
    "wide.gif": lambda p: make_gif(p, 1400, 60, frames=3),
    "many_frames.gif": lambda p: make_gif_tiles(p, 64, 64, 351, frame_ms=40),
    "noise.png": lambda p: make_noise_png(p, 2000, 1500),
    "alpha.png": lambda p: make_noise_png(p, 1300, 1300, alpha=True),
    "wide.jpg": lambda p: make_noise_jpeg(p, 9000, 120),
}
"""Twenty files X refuses, each for a reason repair fixes with the default options (frame
rate, codec, profile, pixel format, audio, dimensions, aspect, duration under 0.5 s,
container, GIF screen and frames, image size and sides)."""
