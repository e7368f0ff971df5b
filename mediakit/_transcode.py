"""The re-encoders behind `mk.repair`: video with PyAV (FFmpeg's own filters), GIFs and images
with Pillow. Each takes a source, a destination and what the probe measured, writes the fixed
copy, and says what it did in words ("120 fps → 60 fps; 3840×2160 → 1280×720").

Only what fails is redone: a video stream that passes every video limit is copied packet by
packet when only the audio must change (and the other way round); nothing here touches the
source file. Targets, from the limits table:

- video: H.264 High, yuv420p, at most `video_max_fps` (a faster source is brought to the limit,
  62.5 fps → 60, or to a whole fraction of its rate just under it, 119.88 → 59.94), scaled into
  the long × short side box keeping the aspect (even dimensions, at least `video_min_side`),
  padded into the aspect range, AAC-LC stereo; cut at the maximum duration only when asked;
  a clip under the minimum holds its last frame;
- GIF → MP4: the same video target, each frame shown for its own delay (delays under 20 ms
  shown for 100 ms, as browsers do);
- GIF → GIF: decimated to the frame limit (dropped frames' delays go to the kept ones), scaled
  into the screen limit and the total-pixel limit, then smaller until it fits the size limit;
- image: scaled to the side limit; without transparency re-encoded as JPEG at the highest
  quality that fits the size limit (binary search), with transparency kept as PNG, scaled
  down until it fits.

Memory: video frames pass one at a time through FFmpeg; an image is decoded whole (under
Pillow's decompression-bomb guard, which stays on); a GIF written as GIF is held by Pillow's
GIF writer, at most X's 300 million pixels in palette mode.
"""

from __future__ import annotations

import io
import math
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from ._detect import _AV_FORMATS, MediaInfo
from ._judge import RepairOptions, _dims, _num
from ._limits import Limits
from ._media import format_size

if TYPE_CHECKING:
    from PIL import Image

__all__ = ["repair_gif_as_gif", "repair_gif_as_mp4", "repair_image", "repair_video"]

X264_OPTIONS: Final = {"preset": "veryfast", "crf": "21", "profile": "high"}
"""libx264 settings of a repaired video: X recommends H.264 High; CRF 21 keeps the quality."""
AUDIO_RATES: Final = (44100, 48000)
MIN_GIF_DELAY_MS: Final = 20
_BROWSER_GIF_DELAY_MS: Final = 100


class RepairFailed(Exception):
    """A file the re-encoders cannot fix; the message says why."""


def _even(value: float, minimum: int) -> int:
    return max(minimum, int(value) // 2 * 2)


@dataclass(frozen=True)
class Geometry:
    """Where the picture goes: scaled to `width`×`height`, centred on a `canvas` (padding)."""

    width: int
    height: int
    canvas_width: int
    canvas_height: int

    @property
    def padded(self) -> bool:
        return (self.width, self.height) != (self.canvas_width, self.canvas_height)


def fit(width: int, height: int, limits: Limits) -> Geometry:
    """The geometry that puts a `width`×`height` picture within the video limits."""
    canvas_w, canvas_h = float(width), float(height)
    if canvas_w / canvas_h > limits.video_max_aspect:
        canvas_h = canvas_w / limits.video_max_aspect
    elif canvas_w / canvas_h < limits.video_min_aspect:
        canvas_w = canvas_h * limits.video_min_aspect
    long_side, short_side = max(canvas_w, canvas_h), min(canvas_w, canvas_h)
    scale = min(
        1.0, limits.video_max_long_side / long_side, limits.video_max_short_side / short_side
    )
    if short_side * scale < limits.video_min_side:
        scale = limits.video_min_side / short_side
    low = limits.video_min_side
    out_w, out_h = _even(canvas_w * scale, low), _even(canvas_h * scale, low)
    # Even rounding can step just outside the aspect range: widen the short side back in.
    while out_w / out_h > limits.video_max_aspect:
        out_h += 2
    while out_w / out_h < limits.video_min_aspect:
        out_w += 2
    inner_w = min(out_w, _even(width * scale, 2))
    inner_h = min(out_h, _even(height * scale, 2))
    return Geometry(inner_w, inner_h, out_w, out_h)


def _filters(geometry: Geometry, fps: Fraction | None) -> list[tuple[str, str]]:
    chain = [("scale", f"{geometry.width}:{geometry.height}:flags=bicubic")]
    if geometry.padded:
        chain.append(
            ("pad", f"{geometry.canvas_width}:{geometry.canvas_height}:(ow-iw)/2:(oh-ih)/2:black")
        )
    chain += [("setsar", "1"), ("format", "yuv420p")]
    if fps is not None:
        chain.append(("fps", f"{fps.numerator}/{fps.denominator}"))
    return chain


EVEN_CADENCE_WITHIN: Final = Fraction(9, 10)  # of the limit: 119.88 → 59.94, not 60


def _target_fps(fps: float | None, limits: Limits) -> Fraction | None:
    """The rate for a source over the limit (None: keep the source's timing): the limit
    (62.5 → 60, 100 → 60; the `fps` filter drops frames evenly), or a whole fraction of the
    source's rate within 10 % under it, for an even cadence (120 → 60, 119.88 → 59.94).
    Halving 62.5 to 31.25 would lose half the motion to avoid dropping one frame in 25."""
    if fps is None or round(fps, 2) <= limits.video_max_fps:
        return None
    source = Fraction(fps).limit_denominator(1001)
    limit = Fraction(limits.video_max_fps).limit_denominator(1001)
    whole = source / math.ceil(source / limit)
    return whole if whole >= limit * EVEN_CADENCE_WITHIN else limit


class _VideoGraph:
    """A configured FFmpeg filter graph for one video stream, fed and drained frame by frame."""

    def __init__(self, template: Any, geometry: Geometry, fps: Fraction | None) -> None:
        import av

        self._av = av
        self.graph = av.filter.Graph()
        nodes = [self.graph.add_buffer(template=template)]
        nodes += [self.graph.add(name, args) for name, args in _filters(geometry, fps)]
        nodes.append(self.graph.add("buffersink"))
        self.graph.link_nodes(*nodes).configure()

    def push(self, frame: Any) -> Iterator[Any]:
        self.graph.vpush(frame)
        while True:
            try:
                yield self.graph.vpull()
            except (self._av.BlockingIOError, self._av.EOFError):
                return


class _Encoder:
    """libx264 into an output container, holding the last frame to pad a short clip."""

    def __init__(self, out: Any, geometry: Geometry, rate: Fraction, time_base: Fraction) -> None:
        self.out = out
        self.stream = out.add_stream("libx264", rate=rate, options=dict(X264_OPTIONS))
        self.stream.width = geometry.canvas_width
        self.stream.height = geometry.canvas_height
        self.stream.pix_fmt = "yuv420p"
        self.stream.codec_context.time_base = time_base
        self.time_base = time_base
        self.last: Any = None
        self.last_pts = -1
        self.frames = 0
        self.step = max(1, round(1 / (rate * time_base)))

    def encode(self, frame: Any) -> None:
        pts = round(frame.pts * frame.time_base / self.time_base) if frame.pts is not None else 0
        if pts <= self.last_pts:
            pts = self.last_pts + 1  # a rounding collision; H.264 needs rising timestamps
        frame.pts, frame.time_base = pts, self.time_base
        self.out.mux(self.stream.encode(frame))
        self.last, self.last_pts = frame, pts
        self.frames += 1

    def end_seconds(self) -> float:
        return float((self.last_pts + self.step) * self.time_base)

    def hold_until(self, seconds: float) -> bool:
        """Repeat the last frame until the clip lasts `seconds`; whether it had to."""
        held = False
        while self.last is not None and self.end_seconds() < seconds:
            self.last.pts = self.last_pts + self.step
            self.out.mux(self.stream.encode(self.last))
            self.last_pts = self.last.pts
            held = True
        return held

    def close(self) -> None:
        self.out.mux(self.stream.encode(None))


def _open_output(dst: Path) -> Any:
    import av

    return av.open(str(dst), "w", format="mp4", options={"movflags": "+faststart"})


def _video_ok(info: MediaInfo, limits: Limits) -> bool:
    """Whether the video stream passes every video limit as it is (so it can be copied)."""
    width, height = info.width or 0, info.height or 0
    long_side, short_side = max(width, height), min(width, height)
    return (
        info.video_codec in limits.video_codecs
        and (info.profile is None or info.profile in limits.video_profiles)
        and info.pixel_format in limits.video_pix_fmts
        and long_side <= limits.video_max_long_side
        and short_side <= limits.video_max_short_side
        and short_side >= limits.video_min_side
        and limits.video_min_aspect <= width / max(1, height) <= limits.video_max_aspect
        and (info.fps is None or round(info.fps, 2) <= limits.video_max_fps)
        and info.media_type in ("video/mp4", "video/quicktime")  # avcC, which MP4 can carry
    )


def _audio_ok(info: MediaInfo, limits: Limits) -> bool:
    return (
        info.audio_codec in limits.audio_codecs
        and (info.audio_profile is None or info.audio_profile in limits.audio_profiles)
        and (info.audio_channels or 1) <= limits.audio_max_channels
    )


def repair_video(
    src: Path, dst: Path, info: MediaInfo, limits: Limits, options: RepairOptions
) -> list[str]:
    """Re-encode (or remux) the video at `src` into an MP4 at `dst` that X accepts."""
    import av

    duration = info.duration_s
    end: float | None = None
    if duration is not None and duration > limits.max_video_duration_s:
        if options.max_duration != "trim":
            raise RepairFailed("over the maximum duration, and max_duration is not 'trim'")
        end = limits.max_video_duration_s
    short = duration is not None and duration < limits.min_video_duration_s
    copy_video = _video_ok(info, limits) and not short
    copy_audio = info.has_audio and _audio_ok(info, limits)
    done: list[str] = []
    with av.open(str(src), format=_AV_FORMATS[info.media_type]) as inp, _open_output(dst) as out:
        vin = inp.streams.video[0]
        ain = inp.streams.audio[0] if inp.streams.audio else None
        geometry = fit(info.width or 1, info.height or 1, limits)
        fps = _target_fps(info.fps, limits)
        encoder: _Encoder | None = None
        graph: _VideoGraph | None = None
        if copy_video:
            vout = out.add_stream_from_template(vin)
        else:
            graph = _VideoGraph(vin, geometry, fps)
            rate = fps or Fraction(info.fps or 30).limit_denominator(1001)
            time_base = (1 / fps) if fps is not None else vin.time_base or Fraction(1, 90000)
            encoder = _Encoder(out, geometry, rate, time_base)
        aout: Any = None
        resampler: Any = None
        if ain is not None:
            if copy_audio:
                aout = out.add_stream_from_template(ain)
            else:
                rate_hz = ain.codec_context.sample_rate
                rate_hz = rate_hz if rate_hz in AUDIO_RATES else 48000
                aout = out.add_stream("aac", rate=rate_hz, layout="stereo")
                resampler = av.AudioResampler(format="fltp", layout="stereo", rate=rate_hz)
        streams = [s for s in (vin, ain) if s is not None]
        for packet in inp.demux(*streams):
            video = packet.stream is vin
            if (encoder is None) if video else (resampler is None):
                # A stream that passes as it is: its packets are copied.
                if packet.size == 0 or packet.dts is None or (aout is None and not video):
                    continue
                late = packet.pts is not None and packet.pts * packet.time_base >= (end or math.inf)
                if late:
                    continue
                packet.stream = vout if video else aout
                out.mux(packet)
                continue
            for frame in packet.decode():  # the empty packet at the end flushes the decoder
                at = getattr(frame, "time", None)
                if end is not None and at is not None and at >= end:
                    continue
                if video:
                    assert graph is not None and encoder is not None
                    for ready in graph.push(frame):
                        encoder.encode(ready)
                else:
                    for ready in resampler.resample(frame):
                        out.mux(aout.encode(ready))
        if encoder is not None and graph is not None:
            for ready in graph.push(None):
                encoder.encode(ready)
            if short and encoder.hold_until(limits.min_video_duration_s):
                done.append(
                    f"{_num(duration or 0)} s → {_num(limits.min_video_duration_s)} s "
                    "(last frame held)"
                )
            encoder.close()
        if resampler is not None:
            for ready in resampler.resample(None):
                out.mux(aout.encode(ready))
            out.mux(aout.encode(None))
    if encoder is None:
        done.append("video stream copied as it is")
    else:
        done += _video_words(info, geometry, fps, limits)
    if ain is not None and not copy_audio:
        done.append(f"{_audio_words(info)} → AAC-LC stereo")
    if end is not None:
        done.append(f"{_num(duration or 0)} s → {_num(end)} s (trimmed)")
    if info.media_type not in ("video/mp4",):
        done.append(f"{_CONTAINERS.get(info.media_type, info.media_type)} → MP4")
    return done


_CONTAINERS = {"video/quicktime": "MOV", "video/webm": "WebM", "video/mp2t": "MPEG-TS"}


def _video_words(
    info: MediaInfo, geometry: Geometry, fps: Fraction | None, limits: Limits
) -> list[str]:
    words: list[str] = []
    if fps is not None:
        words.append(f"{_num(info.fps or 0)} fps → {_num(float(fps))} fps")
    source = (info.width or 0, info.height or 0)
    if (geometry.width, geometry.height) != source:
        words.append(f"{_dims(*source)} → {_dims(geometry.width, geometry.height)}")
    if geometry.padded:
        words.append(f"padded to {_dims(geometry.canvas_width, geometry.canvas_height)}")
    codec = info.video_codec or "video"
    label = f"{codec} {info.profile}" if info.profile else codec
    if codec not in limits.video_codecs or (
        info.profile is not None and info.profile not in limits.video_profiles
    ):
        words.append(f"{label} → H.264 High")
    if info.pixel_format not in (None, *limits.video_pix_fmts):
        words.append(f"{info.pixel_format} → yuv420p")
    return words


def _audio_words(info: MediaInfo) -> str:
    parts = [info.audio_codec or "audio"]
    if info.audio_profile and info.audio_codec == "aac":
        parts.append(info.audio_profile)
    if info.audio_channels:
        parts.append(f"{info.audio_channels} ch")
    return " ".join(parts)


# GIFs ---------------------------------------------------------------------------------------


def _open_image(src: Path) -> Image.Image:
    """Pillow's open with the decompression-bomb guard as an error, never a warning."""
    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            return Image.open(src)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise RepairFailed(f"too many pixels to decode safely ({exc})") from None


def _gif_frames(im: Image.Image) -> Iterator[tuple[Image.Image, int]]:
    """(RGB frame, delay in ms) of every frame, composited as viewers show them."""
    from PIL import Image

    for index in range(getattr(im, "n_frames", 1)):
        im.seek(index)
        delay = int(im.info.get("duration", _BROWSER_GIF_DELAY_MS) or 0)
        if delay < MIN_GIF_DELAY_MS:
            delay = _BROWSER_GIF_DELAY_MS
        frame = im.convert("RGBA")
        flat = Image.new("RGB", frame.size, (0, 0, 0))
        flat.paste(frame, mask=frame.getchannel("A"))
        yield flat, delay


def repair_gif_as_mp4(
    src: Path, dst: Path, info: MediaInfo, limits: Limits, options: RepairOptions
) -> list[str]:
    """An animated GIF as an H.264 MP4 for tweet_video, each frame for its own delay."""
    import av
    import numpy as np

    geometry = fit(info.width or 1, info.height or 1, limits)
    time_base = Fraction(1, 1000)
    end_ms = limits.max_video_duration_s * 1000 if options.max_duration == "trim" else math.inf
    elapsed = frames = last_delay = 0
    with _open_image(src) as im, _open_output(dst) as out:
        graph = av.filter.Graph()
        nodes = [
            graph.add_buffer(
                width=info.width,
                height=info.height,
                format=av.VideoFormat("rgb24"),
                time_base=time_base,
            )
        ]
        nodes += [graph.add(name, args) for name, args in _filters(geometry, None)]
        nodes.append(graph.add("buffersink"))
        graph.link_nodes(*nodes).configure()
        encoder = _Encoder(out, geometry, Fraction(10), time_base)

        def drain() -> None:
            while True:
                try:
                    encoder.encode(graph.vpull())
                except (av.BlockingIOError, av.EOFError):
                    return

        for picture, delay in _gif_frames(im):
            if elapsed >= end_ms:
                break
            frame = av.VideoFrame.from_ndarray(np.asarray(picture), format="rgb24")
            frame.pts, frame.time_base = elapsed, time_base
            graph.vpush(frame)
            drain()
            elapsed += delay
            last_delay = delay
            frames += 1
        graph.vpush(None)
        drain()
        # The last frame shows for its own delay, and at least until the minimum duration.
        encoder.step = max(1, last_delay)
        encoder.hold_until(max(elapsed / 1000, limits.min_video_duration_s))
        encoder.close()
    seconds = elapsed / 1000
    if seconds > limits.max_video_duration_s and options.max_duration != "trim":
        raise RepairFailed(
            f"as an MP4 it would last {_num(seconds)} s, over the "
            f"{_num(limits.max_video_duration_s)} s limit"
        )
    words = [f"GIF ({frames} frames, {_num(seconds)} s) → MP4 for tweet_video"]
    source = (info.width or 0, info.height or 0)
    if (geometry.width, geometry.height) != source:
        words.append(f"{_dims(*source)} → {_dims(geometry.width, geometry.height)}")
    if geometry.padded:
        words.append(f"padded to {_dims(geometry.canvas_width, geometry.canvas_height)}")
    if end_ms < math.inf and (info.duration_s or 0) > limits.max_video_duration_s:
        words.append(f"trimmed to {_num(limits.max_video_duration_s)} s")
    return words


def repair_gif_as_gif(
    src: Path, dst: Path, info: MediaInfo, limits: Limits, max_bytes: int
) -> list[str]:
    """An animated GIF decimated and scaled into X's GIF limits and `max_bytes`."""
    frames = info.frames or 1
    keep_every = math.ceil(frames / limits.gif_max_frames)
    kept = math.ceil(frames / keep_every)
    width, height = info.width or 1, info.height or 1
    scale = min(1.0, limits.gif_max_width / width, limits.gif_max_height / height)
    scale = min(scale, math.sqrt(limits.gif_max_total_pixels / (width * height * kept)))
    for _attempt in range(8):
        size = (max(1, int(width * scale)), max(1, int(height * scale)))
        data = _write_gif(src, size, keep_every)
        if len(data) <= max_bytes:
            break
        scale *= max(0.5, min(0.9, math.sqrt(max_bytes / len(data)) * 0.95))
    else:
        raise RepairFailed(f"still over {format_size(max_bytes)} after scaling down")
    dst.write_bytes(data)
    words = []
    if keep_every > 1:
        words.append(f"{frames} frames → {kept} (every {_ordinal(keep_every)} kept)")
    if size != (width, height):
        words.append(f"{_dims(width, height)} → {_dims(*size)}")
    if len(words) == 0:
        words.append("re-encoded")
    return words


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _write_gif(src: Path, size: tuple[int, int], keep_every: int) -> bytes:
    from PIL import Image

    pictures: list[Image.Image] = []
    delays: list[int] = []
    with _open_image(src) as im:
        for index, (picture, delay) in enumerate(_gif_frames(im)):
            if index % keep_every == 0:
                small = (
                    picture
                    if picture.size == size
                    else picture.resize(size, Image.Resampling.LANCZOS)
                )
                pictures.append(small.quantize(256))  # palette mode: 1 byte a pixel
                delays.append(delay)
            else:
                delays[-1] += delay  # the dropped frame's time goes to the one kept before it
    buffer = io.BytesIO()
    pictures[0].save(
        buffer,
        format="GIF",
        save_all=True,
        append_images=pictures[1:],
        duration=delays,
        loop=0,
        optimize=False,
    )
    return buffer.getvalue()


# Images -------------------------------------------------------------------------------------


def _has_alpha(im: Image.Image) -> bool:
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        low, _high = im.convert("RGBA").getchannel("A").getextrema()
        return bool(int(low) < 255)  # type: ignore[arg-type]
    return False


def repair_image(
    src: Path, dst_stem: Path, info: MediaInfo, limits: Limits, max_bytes: int
) -> tuple[Path, list[str]]:
    """The image scaled into the side limit and re-encoded to fit `max_bytes`; returns the
    written path (`dst_stem` + .jpg or .png) and what was done."""
    from PIL import Image, ImageOps

    with _open_image(src) as opened:
        im = ImageOps.exif_transpose(opened)
        im.load()
    source_size = im.size
    side = limits.image_max_side
    if max(im.size) > side:
        im.thumbnail((side, side), Image.Resampling.LANCZOS)
    alpha = _has_alpha(im)
    source_format = _FORMAT_NAMES.get(info.media_type, info.media_type)
    if alpha:
        im = im.convert("RGBA")
        data = _fit_png(im, max_bytes)
        dst = dst_stem.with_suffix(".png")
        quality_words = (
            "PNG (transparency kept)"
            if source_format == "PNG"
            else f"{source_format} → PNG (transparency kept)"
        )
    else:
        im = im.convert("RGB")
        data, quality = _fit_jpeg(im, max_bytes)
        dst = dst_stem.with_suffix(".jpg")
        quality_words = f"{source_format} → JPEG (quality {quality})"
    final = Image.open(io.BytesIO(data)).size
    dst.write_bytes(data)
    words = []
    if final != source_size:
        words.append(f"{_dims(*source_size)} → {_dims(*final)}")
    words.append(quality_words)
    words.append(f"{format_size(info_bytes(src))} → {format_size(len(data))}")
    return dst, words


def info_bytes(path: Path) -> int:
    return os.stat(path).st_size


_FORMAT_NAMES = {
    "image/jpeg": "JPEG",
    "image/pjpeg": "JPEG",
    "image/png": "PNG",
    "image/gif": "GIF",
    "image/webp": "WebP",
    "image/bmp": "BMP",
    "image/tiff": "TIFF",
}


def _encode(im: Image.Image, **kwargs: Any) -> bytes:
    buffer = io.BytesIO()
    im.save(buffer, **kwargs)
    return buffer.getvalue()


def _fit_jpeg(im: Image.Image, max_bytes: int) -> tuple[bytes, int]:
    """The highest JPEG quality (35–95) that fits, scaling down when even 35 does not."""
    from PIL import Image

    for _attempt in range(8):
        low, high = 35, 95
        best: tuple[bytes, int] | None = None
        while low <= high:
            quality = (low + high) // 2
            data = _encode(im, format="JPEG", quality=quality, optimize=True)
            if len(data) <= max_bytes:
                best, low = (data, quality), quality + 1
            else:
                high = quality - 1
        if best is not None:
            return best
        factor = max(0.5, math.sqrt(max_bytes / len(data)) * 0.95)
        im = im.resize(
            (max(1, int(im.width * factor)), max(1, int(im.height * factor))),
            Image.Resampling.LANCZOS,
        )
    raise RepairFailed(f"cannot fit {format_size(max_bytes)} as JPEG")


def _fit_png(im: Image.Image, max_bytes: int) -> bytes:
    """Lossless PNG, scaled down until it fits."""
    from PIL import Image

    for _attempt in range(12):
        data = _encode(im, format="PNG", optimize=True)
        if len(data) <= max_bytes:
            return data
        factor = max(0.5, math.sqrt(max_bytes / len(data)) * 0.95)
        im = im.resize(
            (max(1, int(im.width * factor)), max(1, int(im.height * factor))),
            Image.Resampling.LANCZOS,
        )
    raise RepairFailed(f"cannot fit {format_size(max_bytes)} as PNG")
