"""The judge: what X would refuse in a measured file, and why.

`judge` is the one place that applies the limits table to what was measured in a file: a pure
function from a `MediaInfo`, a media category and `Limits` to a list of `Problem`s. Preflight
(`_preflight`), the CLI and the emulator's FINALIZE and processing all call it (this module
imports neither pandas nor the emulator), so what preflight flags is exactly what the emulator
refuses. A `Problem` says, in plain English, which limit and which value ("62.5 fps is over
the 60 fps limit for tweet_video"), what to do about it, whether `mk.repair` can fix it, and
how X names the failure (`InvalidMedia` for media X cannot read or that is not of the
category's kind, `UnsupportedMedia` for readable media outside a limit; X's own wording where
it is known).

Preflight reads headers and metadata only (`_detect.probe`). Damage that only decoding finds
(a valid header followed by junk) is the emulator's to refuse (`_verify`); `judge` reports it
when a `MediaInfo` carries it. `processing_refusal` is the emulator's question: the first
reason, if any, in the order X's processing would meet them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Final, Literal

from ._detect import MediaInfo
from ._errors import ConfigurationError
from ._limits import Limits
from ._media import _category_problem, format_size, over_limit_message

__all__ = [
    "REPAIR_HINT",
    "Problem",
    "RepairOptions",
    "format_x_duration",
    "judge",
    "processing_refusal",
]

REPAIR_HINT: Final = "fix=True or mk.repair fixes it"
"""How every fixable problem's hint ends: ``fix=True`` on an upload function repairs it on the
way, `mk.repair` makes the copies beforehand."""
TRIM_HINT: Final = 'max_duration="trim" with fix=True or mk.repair'
"""A video over the maximum duration is cut only when asked."""


@dataclass(frozen=True)
class RepairOptions:
    """What `mk.repair` may do, which decides what is fixable.

    gif: a GIF over X's GIF limits becomes an MP4 for tweet_video ("mp4", what X recommends),
    or is downscaled and decimated to fit ("gif"). max_duration: a video over the maximum
    duration stays as it is, and invalid ("keep"), or is cut to the limit ("trim").
    """

    gif: Literal["mp4", "gif"] = "mp4"
    max_duration: Literal["keep", "trim"] = "keep"

    def __post_init__(self) -> None:
        if self.gif not in ("mp4", "gif"):
            raise ConfigurationError(f'gif must be "mp4" or "gif", not {self.gif!r}')
        if self.max_duration not in ("keep", "trim"):
            raise ConfigurationError(
                f'max_duration must be "keep" or "trim", not {self.max_duration!r}'
            )


@dataclass(frozen=True)
class Problem:
    """One reason X would refuse a file.

    `limit` names the `Limits` field (or "readable", "decodes", "kind", "video_stream",
    "upload"); `message` says it with the value; `hint` what to do; `fixable` whether
    `mk.repair` (with the options judged against) can fix it; `error_name`/`error_code` what
    X's processing reports (InvalidMedia 1, UnsupportedMedia 3); `x_message` X's own words
    when they are known (the duration limit), else the message.
    """

    limit: str
    message: str
    hint: str
    fixable: bool
    error_name: Literal["InvalidMedia", "UnsupportedMedia"] = "UnsupportedMedia"
    error_code: int = 3
    x_message: str | None = None

    @property
    def refusal(self) -> str:
        """The message the emulator fails the media with."""
        return self.x_message or self.message


def format_x_duration(seconds: float) -> str:
    """X's duration wording: 149.35 → '2.minutes+29.seconds+350.milliseconds'."""
    total_ms = round(seconds * 1000)
    minutes, rest = divmod(total_ms, 60_000)
    secs, millis = divmod(rest, 1000)
    parts = []
    if minutes:
        parts.append(f"{minutes}.minutes")
    if secs or not (minutes or millis):
        parts.append(f"{secs}.seconds")
    if millis:
        parts.append(f"{millis}.milliseconds")
    return "+".join(parts)


def _num(value: float) -> str:
    """12 → '12', 62.5 → '62.5', 29.97002997 → '29.97'."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return text or "0"


def _dims(width: int, height: int) -> str:
    return f"{width}×{height}"


@lru_cache(maxsize=64)
def _decodable(codec: str | None) -> bool:
    """Whether this FFmpeg build can decode `codec` (so repair can re-encode it)."""
    if codec is None:
        return False
    import av

    try:
        av.codec.Codec(codec, "r")
    except Exception:
        return False
    return True


def _pillow_can_decode(width: int | None, height: int | None) -> bool:
    """Within Pillow's decompression-bomb guard, which stays on."""
    from PIL import Image

    guard = Image.MAX_IMAGE_PIXELS
    return guard is None or (width or 0) * (height or 0) <= guard


# ---------------------------------------------------------------------------------------------
# The judge


def judge(
    info: MediaInfo,
    category: str,
    limits: Limits | None = None,
    *,
    size: int | None = None,
    options: RepairOptions | None = None,
) -> list[Problem]:
    """Every reason X would refuse `info` as `category` (snake_case), most fundamental first.

    `size` adds the category's size limit (the emulator checks it at INIT instead). `options`
    are the repair options `fixable` is judged against (the defaults when None).
    """
    limits = limits or Limits()
    options = options or RepairOptions()
    problems: list[Problem] = []
    if info.probe_error is not None or info.damage is not None:
        problems.append(_unreadable(info))
        return problems
    mismatch = _category_problem(category, info.media_type, info.kind)
    if mismatch is not None:
        problems.append(
            Problem(
                "kind",
                mismatch,
                "upload it with the category its content needs (category='auto')",
                False,
                "InvalidMedia",
                1,
                "Unsupported media",
            )
        )
        return problems
    wanted = Limits.kind_of(category)
    if wanted == "video":
        problems += _video_problems(info, category, limits, options)
    elif wanted == "gif":
        problems += _gif_problems(info, category, limits, options)
    elif wanted == "image":
        problems += _image_problems(info, category, limits)
    if size is not None:
        limit = limits.category_max_bytes(category)
        if size > limit:
            problems.append(_size_problem(info, category, limits, options, size, limit))
    return problems


def _unreadable(info: MediaInfo) -> Problem:
    if info.has_video is False:
        return Problem(
            "video_stream",
            "the file has no video stream (audio only?)",
            "upload a file with a video track",
            False,
            "InvalidMedia",
            1,
        )
    if info.damage is not None:
        return Problem(
            "decodes",
            f"{info.damage}",
            "the file is damaged: export or download it again",
            False,
            "InvalidMedia",
            1,
        )
    return Problem(
        "readable",
        f"cannot be read as {info.media_type}: {info.probe_error}",
        "the file is damaged or cut short: export or download it again",
        False,
        "InvalidMedia",
        1,
    )


def _duration_fixable(duration_s: float | None, limits: Limits, options: RepairOptions) -> bool:
    return (
        duration_s is None
        or duration_s <= limits.max_video_duration_s
        or options.max_duration == "trim"
    )


def _video_problems(
    info: MediaInfo, category: str, limits: Limits, options: RepairOptions
) -> list[Problem]:
    out: list[Problem] = []
    can_decode = _decodable(info.video_codec)
    duration = info.duration_s
    if duration is not None and duration > limits.max_video_duration_s:
        trim = options.max_duration == "trim"
        out.append(
            Problem(
                "max_video_duration_s",
                f"{_num(duration)} s is over the {_num(limits.max_video_duration_s)} s limit "
                f"for {category}",
                f"trim it to {_num(limits.max_video_duration_s)} s"
                + (f" ({REPAIR_HINT})" if trim else f" ({TRIM_HINT})"),
                trim and can_decode,
                x_message=f"Duration {format_x_duration(duration)} exceeds max duration of "
                f"{format_x_duration(limits.max_video_duration_s)}",
            )
        )
    if duration is not None and duration < limits.min_video_duration_s:
        out.append(
            Problem(
                "min_video_duration_s",
                f"{_num(duration)} s is under the {_num(limits.min_video_duration_s)} s minimum "
                f"for {category}",
                f"make it at least {_num(limits.min_video_duration_s)} s long ({REPAIR_HINT}: "
                "it holds the last frame)",
                can_decode,
                x_message=f"Duration {format_x_duration(duration)} is shorter than min duration "
                f"of {format_x_duration(limits.min_video_duration_s)}",
            )
        )
    width, height = info.width or 0, info.height or 0
    long_side, short_side = max(width, height), min(width, height)
    box = _dims(limits.video_max_long_side, limits.video_max_short_side)
    if long_side > limits.video_max_long_side or short_side > limits.video_max_short_side:
        side = (
            f"long side {long_side} > {limits.video_max_long_side}"
            if long_side > limits.video_max_long_side
            else f"short side {short_side} > {limits.video_max_short_side}"
        )
        out.append(
            Problem(
                "video_max_long_side"
                if long_side > limits.video_max_long_side
                else "video_max_short_side",
                f"{_dims(width, height)} is over the {box} limit for {category} ({side})",
                f"scale it to fit {box} (either orientation), e.g. 1280×720 ({REPAIR_HINT})",
                can_decode,
            )
        )
    if short_side < limits.video_min_side:
        floor = _dims(limits.video_min_side, limits.video_min_side)
        out.append(
            Problem(
                "video_min_side",
                f"{_dims(width, height)} is under the {floor} minimum for {category}",
                f"scale it up to at least {floor} ({REPAIR_HINT})",
                can_decode,
            )
        )
    if info.fps is not None and round(info.fps, 2) > limits.video_max_fps:
        out.append(
            Problem(
                "video_max_fps",
                f"{_num(info.fps)} fps is over the {_num(limits.video_max_fps)} fps limit "
                f"for {category}",
                f"re-encode at {_num(limits.video_max_fps)} fps or less ({REPAIR_HINT})",
                can_decode,
            )
        )
    if width and height:
        aspect = width / height
        if not limits.video_min_aspect - 1e-9 <= aspect <= limits.video_max_aspect + 1e-9:
            out.append(
                Problem(
                    "video_max_aspect" if aspect > 1 else "video_min_aspect",
                    f"aspect ratio {_aspect(aspect)} ({_dims(width, height)}) is outside the "
                    f"{_aspect(limits.video_min_aspect)} to {_aspect(limits.video_max_aspect)} "
                    f"range for {category}",
                    f"pad or crop it into that range ({REPAIR_HINT}: it pads)",
                    can_decode,
                )
            )
    if info.video_codec not in limits.video_codecs:
        out.append(
            Problem(
                "video_codecs",
                f"video codec {info.video_codec} is not accepted for {category} "
                f"({_names(limits.video_codecs)} only)",
                f"re-encode it as H.264 ({REPAIR_HINT})"
                if can_decode
                else f"this build of FFmpeg cannot decode {info.video_codec}: convert it elsewhere",
                can_decode,
            )
        )
    elif info.profile is not None and info.profile not in limits.video_profiles:
        out.append(
            Problem(
                "video_profiles",
                f"{info.video_codec} profile {info.profile} is not accepted for {category} "
                f"({_names(limits.video_profiles)})",
                f"re-encode it with the High profile ({REPAIR_HINT})",
                can_decode,
            )
        )
    if info.pixel_format is not None and info.pixel_format not in limits.video_pix_fmts:
        out.append(
            Problem(
                "video_pix_fmts",
                f"pixel format {info.pixel_format} is not accepted for {category} "
                f"({_names(limits.video_pix_fmts)})",
                f"re-encode it as yuv420p ({REPAIR_HINT})",
                can_decode,
            )
        )
    out += _audio_problems(info, category, limits, can_decode)
    return out


def _audio_problems(
    info: MediaInfo, category: str, limits: Limits, video_decodes: bool
) -> list[Problem]:
    if not info.has_audio:
        return []
    fixable = video_decodes and _decodable(info.audio_codec)
    hint = f"re-encode the audio as AAC-LC stereo ({REPAIR_HINT})"
    out: list[Problem] = []
    if info.audio_codec not in limits.audio_codecs:
        out.append(
            Problem(
                "audio_codecs",
                f"audio codec {info.audio_codec} is not accepted for {category} "
                f"({_names(limits.audio_codecs)} only)",
                hint,
                fixable,
            )
        )
    elif info.audio_profile is not None and info.audio_profile not in limits.audio_profiles:
        out.append(
            Problem(
                "audio_profiles",
                f"{info.audio_codec} profile {info.audio_profile} is not accepted for {category} "
                f"({_names(limits.audio_profiles)})",
                hint,
                fixable,
            )
        )
    channels = info.audio_channels
    if channels is not None and channels > limits.audio_max_channels:
        out.append(
            Problem(
                "audio_max_channels",
                f"{channels} audio channels is over the {limits.audio_max_channels}-channel "
                f"limit for {category} (mono or stereo)",
                hint,
                fixable,
            )
        )
    return out


def _gif_problems(
    info: MediaInfo, category: str, limits: Limits, options: RepairOptions
) -> list[Problem]:
    width, height, frames = info.width or 0, info.height or 0, info.frames or 0
    fixable = _gif_fixable(info, limits, options)
    hint = _gif_hint(options, fixable)
    out: list[Problem] = []
    if width > limits.gif_max_width or height > limits.gif_max_height:
        box = _dims(limits.gif_max_width, limits.gif_max_height)
        out.append(
            Problem(
                "gif_max_width" if width > limits.gif_max_width else "gif_max_height",
                f"{_dims(width, height)} is over the {box} limit for {category}",
                hint,
                fixable,
            )
        )
    if frames > limits.gif_max_frames:
        out.append(
            Problem(
                "gif_max_frames",
                f"{frames} frames is over the {limits.gif_max_frames}-frame limit for {category}",
                hint,
                fixable,
            )
        )
    total = width * height * frames
    if total > limits.gif_max_total_pixels:
        out.append(
            Problem(
                "gif_max_total_pixels",
                f"width × height × frames = {total:,} is over the "
                f"{limits.gif_max_total_pixels:,} limit for {category}",
                hint,
                fixable,
            )
        )
    return out


def _gif_fixable(info: MediaInfo, limits: Limits, options: RepairOptions) -> bool:
    if not _pillow_can_decode(info.width, info.height):
        return False
    if options.gif == "gif":
        return True
    return _duration_fixable(info.duration_s, limits, options)


def _gif_hint(options: RepairOptions, fixable: bool) -> str:
    if options.gif == "mp4":
        if fixable:
            return f"convert it to an MP4 for tweet_video ({REPAIR_HINT}), or shrink it"
        return (
            'the MP4 would be too long: shrink the GIF (gif="gif" with fix=True or mk.repair) '
            'or trim it (max_duration="trim")'
        )
    return f"shrink it: fewer frames, smaller ({REPAIR_HINT})"


def _image_problems(info: MediaInfo, category: str, limits: Limits) -> list[Problem]:
    width, height = info.width or 0, info.height or 0
    side = limits.image_max_side
    if width <= side and height <= side:
        return []
    decodes = _pillow_can_decode(width, height)
    return [
        Problem(
            "image_max_side",
            f"{_dims(width, height)} is over the {_dims(side, side)} limit for {category}",
            f"scale it to at most {side} pixels a side ({REPAIR_HINT})"
            if decodes
            else "too many pixels to decode safely (Pillow's decompression-bomb guard): "
            "scale it down elsewhere",
            decodes,
        )
    ]


def _size_problem(
    info: MediaInfo,
    category: str,
    limits: Limits,
    options: RepairOptions,
    size: int,
    limit: int,
) -> Problem:
    kind = Limits.kind_of(category)
    if kind == "video":
        fixable = _decodable(info.video_codec) and _duration_fixable(
            info.duration_s, limits, options
        )
        hint = f"re-encode it at a lower bitrate ({REPAIR_HINT})"
    elif kind == "gif":
        fixable = _gif_fixable(info, limits, options)
        hint = _gif_hint(options, fixable)
    elif kind == "image":
        fixable = _pillow_can_decode(info.width, info.height)
        hint = f"re-encode or scale it down ({REPAIR_HINT})"
    else:
        fixable, hint = False, f"split it to stay under {format_size(limit)}"
    return Problem("max_bytes", over_limit_message(size, limit, category), hint, fixable)


def _aspect(ratio: float) -> str:
    if ratio >= 1:
        return f"{_num(ratio)}:1"
    return f"1:{_num(1 / ratio)}"


def _names(values: Sequence[str]) -> str:
    shown = [_CODEC_NAMES.get(v, v) for v in values]
    return shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " or " + shown[-1]


_CODEC_NAMES = {"h264": "H.264", "aac": "AAC"}


def processing_refusal(
    info: MediaInfo | None, category: str, limits: Limits | None = None
) -> Problem | None:
    """Why X's processing (or a synchronous FINALIZE) fails this media, or None if it passes.

    No size check: X applies the size limit at INIT, to `total_bytes`.
    """
    if info is None:
        return Problem(
            "kind", "unrecognized media", "", False, "InvalidMedia", 1, "Unsupported media"
        )
    problems = judge(info, category, limits)
    return problems[0] if problems else None
