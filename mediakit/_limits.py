"""What X accepts per media category: the one limits table.

The client's category inference and preflight and the emulator's INIT, FINALIZE and processing
checks all read this table (preflight's judge, `_preflight.judge`, applies it for both), so the
emulator refuses exactly what preflight flags. Numbers are X's documented limits
(../shared/x-media-api.md §3: sizes §3.1, video §3.2, GIF and images §3.3); Premium accounts
differ and X changes them, so every number can be overridden:
``Limits(max_bytes={"tweet_video": 16 * 2**30}, max_video_duration_s=600)``.

Where this table differs from the plain reading of §3, the field says so:
- `video_pix_fmts` also takes ``yuvj420p``: §3.2 says "YUV 4:2:0 only", and yuvj420p is the
  same 4:2:0 sampling in full range (what many cameras write).
- `video_profiles` also takes "Constrained Baseline", the subset of Baseline that FFmpeg names
  apart (§3.2 recommends High; the issue lists High, Main and Baseline).
- The GIF numbers are what X's best-practices page calls recommendations (§3.3); X's processing
  refuses GIFs beyond them, so they are enforced.
- `image_max_side` (8192) comes from a third-party guide (§3.3, low confidence); its 4×4 minimum
  is not enforced, since nothing official backs it.
- Not modelled: the synchronous (no-category, v1.1) video path's 30 s and 1,310,720-pixel caps,
  and promoted (amplify_video) videos' longer duration from the Ads docs (§3.1): one video
  duration range serves every video category.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from ._errors import ConfigurationError

__all__ = [
    "ASYNC_CATEGORIES",
    "CATEGORIES",
    "IMAGE_TYPES",
    "MEDIA_TYPES",
    "SUBTITLE_TYPES",
    "VIDEO_TYPES",
    "X_APP_RATE_LIMITS",
    "X_USER_RATE_LIMITS",
    "Limits",
    "canonical_category",
]

KiB = 1024
MiB = 1024 * 1024

# X's published v2 budgets (docs.x.com x-api/fundamentals/rate-limits.mdx; x-media-api.md §4.1),
# by command (the endpoint each command is served by). X never published v1.1 media numbers, so
# v1.1 commands count against the matching v2 endpoint's budget.
X_USER_RATE_LIMITS: Mapping[str, int] = {  # per user per 15 minutes
    "UPLOAD": 500,
    "STATUS": 1000,
    "INIT": 1875,
    "APPEND": 1875,
    "FINALIZE": 1875,
    "METADATA": 500,
    "SUBTITLES": 100,
}
X_APP_RATE_LIMITS: Mapping[str, int] = {  # per app per 24 hours
    "UPLOAD": 50_000,
    "STATUS": 100_000,
    "INIT": 180_000,
    "APPEND": 180_000,
    "FINALIZE": 180_000,
    "METADATA": 50_000,
    "SUBTITLES": 10_000,
}

IMAGE_TYPES = (
    "image/jpeg",
    "image/pjpeg",
    "image/png",
    "image/gif",
    "image/webp",
    "image/bmp",
    "image/tiff",
)
VIDEO_TYPES = ("video/mp4", "video/quicktime", "video/webm", "video/mp2t")
SUBTITLE_TYPES = ("text/srt", "text/vtt")
MODEL_TYPES = ("model/gltf-binary", "model/vnd.usdz+zip")
# The v2 initialize enum (OAS v2.167), in X's order of kinds.
MEDIA_TYPES = (
    "video/mp4",
    "video/webm",
    "video/mp2t",
    "video/quicktime",
    "text/srt",
    "text/vtt",
    "image/jpeg",
    "image/gif",
    "image/bmp",
    "image/png",
    "image/webp",
    "image/pjpeg",
    "image/tiff",
    *MODEL_TYPES,
)

CATEGORIES = (
    "amplify_video",
    "tweet_gif",
    "tweet_image",
    "tweet_video",
    "dm_gif",
    "dm_image",
    "dm_video",
    "subtitles",
)
# Categories whose media X processes after FINALIZE (processing_info, STATUS polling).
ASYNC_CATEGORIES = frozenset({"amplify_video", "tweet_gif", "tweet_video", "dm_gif", "dm_video"})

Kind = Literal["image", "gif", "video", "subtitles"]

_CATEGORY_KIND: dict[str, Kind] = {
    "tweet_image": "image",
    "dm_image": "image",
    "tweet_gif": "gif",
    "dm_gif": "gif",
    "tweet_video": "video",
    "dm_video": "video",
    "amplify_video": "video",
    "subtitles": "subtitles",
}

_DEFAULT_MAX_BYTES: dict[str, int] = {
    "tweet_image": 5 * MiB,
    "dm_image": 5 * MiB,
    "tweet_gif": 15 * MiB,
    "dm_gif": 15 * MiB,
    "tweet_video": 512 * MiB,
    "dm_video": 512 * MiB,
    "amplify_video": 512 * MiB,
    # Undocumented by X; subtitle files are tiny, so this only stops obvious mistakes.
    "subtitles": 5 * MiB,
}

_DEFAULT_TYPES: dict[Kind, tuple[str, ...]] = {
    "image": IMAGE_TYPES,
    "gif": ("image/gif",),
    "video": VIDEO_TYPES,
    "subtitles": SUBTITLE_TYPES,
}


def canonical_category(value: str) -> str | None:
    """`tweet_image` from any spelling X has accepted: TweetImage, TWEET_IMAGE, tweet_image."""
    text = value.strip()
    snake = "".join(
        ("_" + ch.lower()) if ch.isupper() and i and not text[i - 1].isupper() else ch.lower()
        for i, ch in enumerate(text)
    )
    snake = snake.replace("__", "_")
    return snake if snake in _CATEGORY_KIND else None


@dataclass(frozen=True)
class Limits:
    """X's upload limits per media category; override any of them for Premium accounts."""

    max_bytes: Mapping[str, int] = field(default_factory=dict)
    # Without a media_category X finalizes synchronously and applies smaller limits.
    sync_image_max_bytes: int = 5 * MiB
    sync_video_max_bytes: int = 15 * MiB
    # The largest total_bytes the v2 initialize endpoint accepts at all (16 GiB).
    total_bytes_max: int = 17_179_869_184
    # X documents each APPEND chunk as "<= 5 MB" (v1.1 APPEND reference: for `media` and for the
    # base64 `media_data` alike, i.e. what is sent). The v2 edge refuses, with 413 and no body,
    # an APPEND whose request body is over 5 MiB: a multipart body carrying a media part of
    # exactly 5,242,880 bytes was refused (trypostit/trypost#31, 2026-05) while 4 MiB parts
    # pass (xdevplatform/xurl api/media.go, the official large-video sample). So the boundary
    # is the whole request body, not the media part.
    max_chunk_bytes: int = 5 * MiB  # a chunk's decoded bytes (v1.1 refuses more)
    max_append_body_bytes: int = 5 * MiB  # a v2 APPEND's request body (the edge's 413)
    # Room a client leaves for multipart framing (boundaries, part headers: a few hundred
    # bytes) so its chunks stay safely under `max_append_body_bytes`.
    append_framing_bytes: int = 64 * KiB
    max_segments: int = 1000
    max_alt_text_chars: int = 1000
    max_additional_owners: int = 100
    # Video (§3.2, X's best-practices "Advanced" section).
    min_video_duration_s: float = 0.5
    max_video_duration_s: float = 140.0
    # 1280×1024 read by orientation: 720×1280 portrait (X's own recommendation) passes.
    video_max_long_side: int = 1280
    video_max_short_side: int = 1024
    video_min_side: int = 32
    video_max_fps: float = 60.0  # older docs said 40
    video_min_aspect: float = 1 / 3
    video_max_aspect: float = 3.0
    video_codecs: tuple[str, ...] = ("h264",)
    video_profiles: tuple[str, ...] = ("Constrained Baseline", "Baseline", "Main", "High")
    video_pix_fmts: tuple[str, ...] = ("yuv420p", "yuvj420p")
    # Audio: AAC-LC, mono or stereo, or no audio at all (§3.2).
    audio_codecs: tuple[str, ...] = ("aac",)
    audio_profiles: tuple[str, ...] = ("LC",)
    audio_max_channels: int = 2
    # Animated GIFs (§3.3): the screen size, the frame count, and width × height × frames.
    gif_max_width: int = 1280
    gif_max_height: int = 1080
    gif_max_frames: int = 350
    gif_max_total_pixels: int = 300_000_000
    # Still images, static GIFs included (§3.3; third-party source, low confidence).
    image_max_side: int = 8192

    def __post_init__(self) -> None:
        unknown = set(self.max_bytes) - set(_DEFAULT_MAX_BYTES)
        if unknown:
            raise ConfigurationError(
                f"Limits.max_bytes has unknown media categories {sorted(unknown)}; "
                f"X's are {', '.join(CATEGORIES)}"
            )

    @property
    def max_client_chunk_bytes(self) -> int:
        """The largest chunk a client should send: its APPEND body then stays under X's cap."""
        return min(self.max_chunk_bytes, self.max_append_body_bytes - self.append_framing_bytes)

    def category_max_bytes(self, category: str) -> int:
        """The size limit for `category` (snake_case, as `canonical_category` returns)."""
        return int(self.max_bytes.get(category, _DEFAULT_MAX_BYTES[category]))

    @staticmethod
    def kind_of(category: str) -> Kind:
        return _CATEGORY_KIND[category]

    @staticmethod
    def is_async(category: str | None) -> bool:
        return category in ASYNC_CATEGORIES

    @staticmethod
    def accepted_types(category: str) -> tuple[str, ...]:
        return _DEFAULT_TYPES[_CATEGORY_KIND[category]]

    def max_bytes_for(self, category: str | None, media_type: str | None) -> int:
        """The limit that applies at INIT, with or without a category."""
        if category is not None:
            return self.category_max_bytes(category)
        if media_type in VIDEO_TYPES:
            return self.sync_video_max_bytes
        return self.sync_image_max_bytes
