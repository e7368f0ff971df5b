"""Sample media to try mediakit on: real photos, animated GIFs and H.264 videos, made on the spot.

```python
import mediakit as mk

folder = mk.samples.make_folder("campaign/", n=20, seed=1)
result = mk.upload_folder(folder)     # a SampleFolder is a path: pass it anywhere a folder goes
folder.frame                          # what was made: kind, bytes, alt text, why a bad file is bad
```

Everything is encoded for real (Pillow for JPEG, PNG, WebP and GIF; PyAV, whose wheels carry
FFmpeg and libx264, for H.264/AAC MP4), from a seed, so a folder is the same every time and takes
a second or two to make. Two files are bad on purpose, as in real folders: an animated GIF over
X's size limit for GIFs, and a "photo" that is really an HTML error page saved by a failed
download. mediakit refuses both before sending a byte, with the reason.

Files already there with the same content are left untouched, modification time included, so
making the folder again (a notebook run twice) lets a rerun resume instead of uploading again.
Other files in the folder are never touched.

This module imports Pillow and numpy when imported, PyAV when videos are made; `import mediakit`
imports none of them (`mk.samples` is loaded on first use).
"""

from __future__ import annotations

import io
import math
import os
import random
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from PIL import Image, ImageDraw

from ._errors import ConfigurationError
from ._limits import Limits

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["SampleFile", "SampleFolder", "make_folder"]

Kind = Literal["photo", "gif", "video", "bad"]
FloatArray = np.ndarray[Any, np.dtype[np.float32]]
ByteArray = np.ndarray[Any, np.dtype[np.uint8]]

# Shares of the good files; the rest are photos. Videos are the slow part of a real batch
# (X processes them for seconds), so a quarter of them makes the dashboard worth watching.
VIDEO_SHARE = 0.25
GIF_SHARE = 0.2
BAD_FILES = 2


@dataclass(frozen=True)
class SampleFile:
    """One file of a sample folder, and what mediakit should make of it."""

    path: Path
    kind: Kind
    media_type: str | None  # what the bytes are; None for the file that is not media
    bytes: int
    alt_text: str
    problem: str | None  # why X would refuse it (the bad files), else None

    @property
    def expected_state(self) -> str:
        """`succeeded` for the good files, `invalid` for the bad ones (refused locally)."""
        return "invalid" if self.problem else "succeeded"


@dataclass(frozen=True)
class SampleFolder(os.PathLike[str]):
    """A folder of sample media. It is a path (`os.PathLike`): pass it to `upload_folder`."""

    path: Path
    files: tuple[SampleFile, ...]
    notes: tuple[str, ...] = ()  # what could not be made as asked, e.g. videos without PyAV

    def __fspath__(self) -> str:
        return str(self.path)

    def __str__(self) -> str:
        return str(self.path)

    @property
    def good(self) -> tuple[SampleFile, ...]:
        return tuple(f for f in self.files if f.problem is None)

    @property
    def bad(self) -> tuple[SampleFile, ...]:
        return tuple(f for f in self.files if f.problem is not None)

    @property
    def bytes(self) -> int:
        return sum(f.bytes for f in self.files)

    @property
    def frame(self) -> pd.DataFrame:
        """One row per file: path, kind, media_type, bytes, alt_text, expected_state, problem.

        With a `path` and an `alt_text` column it is also a valid input for `upload_files`.
        """
        import pandas as pd

        rows = [
            {
                "path": str(f.path),
                "kind": f.kind,
                "media_type": f.media_type,
                "bytes": f.bytes,
                "alt_text": f.alt_text,
                "expected_state": f.expected_state,
                "problem": f.problem,
            }
            for f in self.files
        ]
        return pd.DataFrame(rows).astype(
            {
                "path": "string",
                "kind": "string",
                "media_type": "string",
                "bytes": "Int64",
                "alt_text": "string",
                "expected_state": "string",
                "problem": "string",
            }
        )

    def write_csv(self, path: str | os.PathLike[str]) -> Path:
        """A CSV of `path,alt_text,kind` for `mediakit upload FILE.csv` or `upload_files`.

        Paths are written relative to the CSV's folder when the samples are below it (the CSV
        and its folder can then move together), absolute otherwise.
        """
        target = Path(path)
        frame = self.frame[["path", "alt_text", "kind"]].copy()
        base = target.absolute().parent
        frame["path"] = [_relative_or_absolute(Path(p), base) for p in frame["path"]]
        frame.to_csv(target, index=False)
        return target

    def __repr__(self) -> str:
        kinds = {k: sum(1 for f in self.files if f.kind == k) for k in ("photo", "gif", "video")}
        made = ", ".join(f"{n} {k}{'s' if n != 1 else ''}" for k, n in kinds.items() if n)
        bad = f", {len(self.bad)} bad on purpose" if self.bad else ""
        return f"<SampleFolder {self.path}: {made}{bad}; {self.bytes / 2**20:.1f} MiB>"


def _relative_or_absolute(path: Path, base: Path) -> str:
    try:
        return str(path.absolute().relative_to(base))
    except ValueError:
        return str(path.absolute())


def make_folder(
    path: str | os.PathLike[str],
    n: int = 20,
    *,
    seed: int = 0,
    bad_files: bool = True,
    videos: bool | None = None,
) -> SampleFolder:
    """Make `n` sample media files in `path` (created if missing) and describe them.

    Args:
        path: the folder; other files in it are left alone.
        n: how many files, the two bad ones included (when `bad_files`). Of the good ones
            about a quarter are H.264 videos (2-4 s, 640x360, some with AAC audio), a fifth
            animated GIFs, the rest photos (JPEG, PNG, WebP).
        seed: the same seed makes the same files.
        bad_files: add the two files X would refuse: an animated GIF over the GIF size limit
            and an HTML page saved as `.jpg`.
        videos: make videos (needs PyAV); None makes them when PyAV is installed and says so
            in `notes` when it is not (photos take their place).

    Returns:
        A `SampleFolder`: a path-like with `files` (one `SampleFile` each) and `frame`.

    Raises:
        ConfigurationError: `n` too small for the bad files, or `videos=True` without PyAV.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ConfigurationError(f"n must be a whole number of files (0 or more), not {n!r}")
    bad = BAD_FILES if bad_files else 0
    if n < bad:
        raise ConfigurationError(
            f"n={n} leaves no room for the {bad} bad files: pass n >= {bad} or bad_files=False"
        )
    notes: list[str] = []
    have_av = _pyav_available()
    if videos is True and not have_av:
        raise ConfigurationError(
            "sample videos need PyAV: pip install 'mediakit-x[video]' (or videos=False)"
        )
    make_videos = have_av if videos is None else videos
    if videos is None and not have_av:
        notes.append("PyAV is not installed, so photos took the videos' place")
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    specs = _plan(n - bad, make_videos) + (_bad_specs() if bad else [])
    # Each file draws from its own generator (seed and name), so the files are the same
    # whatever order threads make them in. Pillow, numpy and FFmpeg encode without the GIL.
    workers = max(1, min(4, os.cpu_count() or 1))
    with ThreadPoolExecutor(workers, thread_name_prefix="mediakit-samples") as pool:
        files = list(pool.map(lambda spec: _write(folder, spec, seed), specs))
    return SampleFolder(folder, tuple(files), tuple(notes))


# --- what to make --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Spec:
    name: str
    kind: Kind
    make: Callable[[random.Random], tuple[bytes, str | None, str]]  # → bytes, type, alt text
    problem: str | None = None


def _plan(good: int, make_videos: bool) -> list[_Spec]:
    video_count = round(good * VIDEO_SHARE) if make_videos else 0
    gif_count = round(good * GIF_SHARE)
    if good >= 3:  # at least one of each kind the folder can have
        video_count = max(video_count, 1 if make_videos else 0)
        gif_count = max(gif_count, 1)
    photo_count = good - video_count - gif_count
    specs: list[_Spec] = []
    for i in range(photo_count):
        fmt = _PHOTO_FORMATS[i % len(_PHOTO_FORMATS)]
        specs.append(_Spec(f"photo_{i + 1:02d}.{fmt}", "photo", _photo_maker(fmt)))
    specs += [_Spec(f"loop_{i + 1:02d}.gif", "gif", _gif) for i in range(gif_count)]
    specs += [
        _Spec(f"clip_{i + 1:02d}.mp4", "video", _video_maker(long=i == 0))
        for i in range(video_count)
    ]
    return specs


def _bad_specs() -> list[_Spec]:
    gif_limit = Limits().category_max_bytes("tweet_gif")
    return [
        _Spec(
            "banner.gif",
            "bad",
            _oversized_gif,
            problem=f"an animated GIF over X's {gif_limit / 2**20:.0f} MB limit for GIFs",
        ),
        _Spec(
            "broken_download.jpg",
            "bad",
            _html_page,
            problem="not media: an HTML error page saved with a .jpg name",
        ),
    ]


def _write(folder: Path, spec: _Spec, seed: int) -> SampleFile:
    data, media_type, alt_text = spec.make(random.Random(f"{seed}:{spec.name}"))
    target = folder / spec.name
    try:
        unchanged = target.stat().st_size == len(data) and target.read_bytes() == data
    except OSError:
        unchanged = False
    if not unchanged:  # the same content keeps its mtime, so a rerun resumes
        partial = target.with_name(f".{spec.name}.partial")
        partial.write_bytes(data)
        partial.replace(target)
    return SampleFile(target, spec.kind, media_type, len(data), alt_text, spec.problem)


# --- photos --------------------------------------------------------------------------------

_PHOTO_FORMATS = ("jpg", "jpg", "png", "jpg", "webp")
_SCENES = ("dawn", "noon", "dusk", "night")
_SIZES = ((1600, 1067), (1200, 1200), (1080, 1350), (1920, 1080))


def _photo_maker(fmt: str) -> Callable[[random.Random], tuple[bytes, str | None, str]]:
    def make(rng: random.Random) -> tuple[bytes, str | None, str]:
        width, height = rng.choice(_SIZES)
        scene = rng.choice(_SCENES)
        buffer = io.BytesIO()
        if fmt == "png":
            _poster(width, height, scene, rng).save(buffer, format="PNG", compress_level=1)
            return buffer.getvalue(), "image/png", f"A poster of coloured cards, {scene} colours"
        picture = _landscape(width, height, scene, rng)
        if fmt == "webp":
            picture.save(buffer, format="WEBP", quality=80, method=0)
            media_type = "image/webp"
        else:
            picture.save(buffer, format="JPEG", quality=88)
            media_type = "image/jpeg"
        light = "moon" if scene == "night" else "sun"
        return buffer.getvalue(), media_type, f"Green hills under a {scene} sky, the {light} above"

    return make


_SKY: dict[str, tuple[tuple[int, int, int], tuple[int, int, int]]] = {
    "dawn": ((60, 80, 160), (250, 170, 120)),
    "noon": ((40, 110, 210), (170, 210, 250)),
    "dusk": ((50, 30, 90), (240, 110, 60)),
    "night": ((5, 10, 30), (30, 40, 80)),
}


def _landscape(width: int, height: int, scene: str, rng: random.Random) -> Image.Image:
    """A photo-like picture: a sky gradient, a sun (or moon), layered hills and film grain."""
    np_rng = np.random.default_rng(rng.getrandbits(32))
    top, bottom = (np.array(c, dtype=np.float32) for c in _SKY[scene])
    t = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
    canvas: FloatArray = np.broadcast_to(top + (bottom - top) * t, (height, width, 3)).copy()
    ys = np.arange(height, dtype=np.float32)[:, None]
    xs = np.arange(width, dtype=np.float32)[None, :]
    sun_x, sun_y = rng.uniform(0.2, 0.8) * width, rng.uniform(0.25, 0.5) * height
    radius = 0.06 * min(width, height)
    distance2 = (xs - sun_x) ** 2 + (ys - sun_y) ** 2
    canvas += (np.exp(distance2 * (-1.0 / (18 * radius**2))) * 120.0)[..., None]
    canvas[distance2 <= radius**2] = (255.0, 240.0, 200.0)
    for layer in range(3):
        base = height * (0.55 + 0.12 * layer)
        phase, freq = rng.uniform(0, math.tau), rng.uniform(1.5, 4.0)
        wave = np.sin(np.linspace(0, freq * math.tau, width, dtype=np.float32) + phase)
        ridge = base + 0.06 * height * wave
        shade = 0.25 + 0.2 * layer
        canvas[ys >= ridge[None, :]] = (40 * shade, 90 * shade + 20, 40 * shade)
    pixels: ByteArray = np.clip(canvas, 0, 255).astype(np.uint8)
    # Film grain, added in 8 bits (cheap), keeps JPEGs at a photo's size rather than a drawing's.
    grain = np_rng.integers(0, 13, (height, width, 1), dtype=np.uint8)
    np.minimum(pixels, 242, out=pixels)
    pixels += grain
    return Image.fromarray(pixels, "RGB")


def _poster(width: int, height: int, scene: str, rng: random.Random) -> Image.Image:
    """A graphic, as PNGs usually are: flat colours, shapes and a caption bar."""
    top, bottom = _SKY[scene]
    picture = Image.new("RGB", (width, height), top)
    draw = ImageDraw.Draw(picture)
    for _ in range(12):
        x, y = rng.randrange(width), rng.randrange(height)
        size = rng.randrange(width // 12, width // 4)
        fill = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
        draw.rounded_rectangle((x, y, x + size, y + size // 2), radius=size // 8, fill=fill)
    draw.rectangle((0, height * 5 // 6, width, height), fill=bottom)
    draw.text((width // 20, height * 5 // 6 + height // 24), "mediakit sample", fill=(20, 20, 20))
    return picture


# --- animated GIFs -------------------------------------------------------------------------


def _gif(rng: random.Random) -> tuple[bytes, str | None, str]:
    """A short looping animation: a ball bouncing over a gradient (16-32 frames, 320x240)."""
    width, height, count = 320, 240, rng.choice((16, 24, 32))
    hue = rng.randrange(256)
    ball = rng.randrange(40, 80)
    colour = (rng.randrange(180, 256), rng.randrange(40, 160), rng.randrange(40, 120))
    background = Image.linear_gradient("L").resize((width, height)).convert("RGB")
    tint = Image.new("RGB", (width, height), (hue, 255 - hue, 180))
    background = Image.blend(background, tint, 0.5)
    frames = []
    for i in range(count):
        frame = background.copy()
        x = int((width - ball) * (0.5 + 0.5 * math.sin(math.tau * i / count)))
        y = int((height - ball) * abs(math.cos(math.pi * i / count)))
        ImageDraw.Draw(frame).ellipse((x, y, x + ball, y + ball), fill=colour)
        frames.append(frame.quantize(32))
    buffer = io.BytesIO()
    frames[0].save(
        buffer,
        format="GIF",
        save_all=True,
        append_images=frames[1:],
        duration=60,
        loop=0,
        optimize=False,
    )
    return buffer.getvalue(), "image/gif", "A ball bouncing across a pastel background, looping"


def _oversized_gif(rng: random.Random) -> tuple[bytes, str | None, str]:
    """A real, playable animated GIF of grainy frames, a tenth over X's limit for GIFs.

    Noise does not compress, so every frame costs about the same: one frame is encoded to
    learn its size, then as many as it takes are.
    """
    limit = Limits().category_max_bytes("tweet_gif")
    np_rng = np.random.default_rng(rng.getrandbits(32))
    width, height = 640, 480

    def frame() -> Image.Image:
        noise = np_rng.integers(0, 256, (height, width), dtype=np.uint8)
        return Image.fromarray(noise, "L").convert("P")

    probe = io.BytesIO()
    frames = [frame()]
    frames[0].save(probe, format="GIF")
    count = math.ceil(limit * 1.1 / len(probe.getvalue()))
    frames += [frame() for _ in range(count - 1)]
    buffer = io.BytesIO()
    frames[0].save(
        buffer, format="GIF", save_all=True, append_images=frames[1:], duration=80, loop=0
    )
    data = buffer.getvalue()
    if len(data) <= limit:  # a "too big" sample that X would accept would be a lie
        raise AssertionError(f"the oversized GIF came out at {len(data)} bytes, under {limit}")
    return data, "image/gif", "Grainy film footage of a city at night, looping"


# --- videos (PyAV) -------------------------------------------------------------------------


def _pyav_available() -> bool:
    try:
        import av  # noqa: F401
    except ImportError:
        return False
    return True


# Bit rates of web video (640x360 at 3 Mbit/s): realistic sizes, and the first, longer clip
# needs two 4 MiB APPEND segments, as large files do.
VIDEO_BIT_RATE = 3_000_000
LONG_CLIP_S = 12.0


def _video_maker(long: bool) -> Callable[[random.Random], tuple[bytes, str | None, str]]:
    """H.264 (yuv420p, x264 ultrafast) in MP4 at 30 fps, 640x360, AAC stereo on about half."""

    def make(rng: random.Random) -> tuple[bytes, str | None, str]:
        seconds = LONG_CLIP_S if long else rng.choice((3.0, 4.0, 6.0))
        with_audio = rng.random() < 0.5
        tone = rng.choice((330.0, 440.0, 550.0))
        colour = (rng.randrange(60, 200), rng.randrange(60, 200))
        data = _encode_mp4(seconds, 640, 360, 30, colour, tone if with_audio else None, rng)
        sound = f", with a {tone:.0f} Hz tone" if with_audio else ", silent"
        alt = f"A bright bar sweeping across a grainy screen ({seconds:.0f} s{sound})"
        return data, "video/mp4", alt

    return make


def _yuv_frames(
    width: int, height: int, count: int, colour: tuple[int, int], rng: random.Random
) -> Iterator[ByteArray]:
    """yuv420p pictures as the (height * 3 / 2, width) arrays PyAV takes: a bar sweeping over
    a gradient with moving grain (so the encoder has something to spend its bit rate on)."""
    rows = height * 3 // 2
    base: ByteArray = np.empty((rows, width), dtype=np.uint8)
    base[:height] = np.linspace(40, 180, width, dtype=np.uint8)[None, :]
    base[height:] = np.repeat(np.array(colour, dtype=np.uint8), (rows - height) // 2)[:, None]
    grain = np.random.default_rng(rng.getrandbits(32)).integers(
        0, 24, (height + 64, width), dtype=np.uint8
    )
    bar = max(4, width // 10)
    for i in range(count):
        frame = base.copy()
        offset = (i * 5) % 64
        frame[:height] += grain[offset : offset + height]
        x = (i * 7) % (width - bar)
        frame[:height, x : x + bar] = 235
        yield frame


def _encode_mp4(
    seconds: float,
    width: int,
    height: int,
    fps: int,
    colour: tuple[int, int],
    tone_hz: float | None,
    rng: random.Random,
) -> bytes:
    import av
    from av.audio.stream import AudioStream
    from av.video.stream import VideoStream

    buffer = io.BytesIO()
    count = round(seconds * fps)
    with av.open(buffer, mode="w", format="mp4") as out:
        video = out.add_stream("libx264", rate=fps)
        if not isinstance(video, VideoStream):  # pragma: no cover - PyAV's own contract
            raise TypeError("libx264 did not give a video stream")
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.bit_rate = VIDEO_BIT_RATE
        video.codec_context.time_base = Fraction(1, fps)
        video.options = {"preset": "ultrafast", "tune": "zerolatency"}
        audio: AudioStream | None = None
        if tone_hz is not None:
            added = out.add_stream("aac", rate=44100, layout="stereo")
            if not isinstance(added, AudioStream):  # pragma: no cover
                raise TypeError("aac did not give an audio stream")
            audio = added
        for i, picture in enumerate(_yuv_frames(width, height, count, colour, rng)):
            frame = av.VideoFrame.from_ndarray(picture, format="yuv420p")
            frame.pts, frame.time_base = i, Fraction(1, fps)
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        if audio is not None and tone_hz is not None:
            _encode_tone(out, audio, seconds, tone_hz)
    return buffer.getvalue()


def _encode_tone(out: Any, audio: Any, seconds: float, tone_hz: float) -> None:
    import av

    rate = audio.codec_context.sample_rate
    chunk = audio.codec_context.frame_size or 1024
    total = round(seconds * rate)
    t = np.arange(total, dtype=np.float32) / rate
    wave = (0.2 * np.sin(2 * np.pi * tone_hz * t)).astype(np.float32)
    for start in range(0, total, chunk):
        planes = np.zeros((2, chunk), dtype=np.float32)  # fltp: one plane per channel
        piece = wave[start : start + chunk]
        planes[:, : len(piece)] = piece
        frame = av.AudioFrame.from_ndarray(planes, format="fltp", layout="stereo")
        frame.sample_rate, frame.pts, frame.time_base = rate, start, Fraction(1, rate)
        out.mux(audio.encode(frame))
    out.mux(audio.encode(None))


# --- not media -----------------------------------------------------------------------------


def _html_page(rng: random.Random) -> tuple[bytes, str | None, str]:
    """What a failed download leaves behind: the server's error page, under the image's name."""
    request_id = f"{rng.getrandbits(64):016x}"
    page = (
        "<!DOCTYPE html>\n<html><head><title>403 Forbidden</title></head>\n"
        "<body><h1>403 Forbidden</h1><p>You don't have permission to access this resource."
        f"</p><p>Request id {request_id}</p></body></html>\n"
    )
    return page.encode(), None, "Campaign photo (the download failed)"
