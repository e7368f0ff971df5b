"""The options every upload function shares: one frozen dataclass, checked once, at the call.

`UploadOptions` holds them (documented field by field), `UploadKwargs` is the same list as a
`TypedDict` so that `upload_folder(..., concurrency=8)` is typed for editors and mypy
(`**options: Unpack[UploadKwargs]`). `resolve_options` merges an optional prepared
`UploadOptions` with keyword options and checks everything before any file is touched: a bad
value is one `ConfigurationError` naming the option and what it accepts.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypedDict

from ._check import describe, instance_of, no_unknown, one_of, seconds, whole_number
from ._clock import Clock
from ._credentials import Credentials
from ._errors import ConfigurationError, ConfigurationTypeError
from ._http import httpx
from ._limits import Limits, canonical_category
from ._media import DEFAULT_CHUNK
from ._records import Event
from ._retry import RetryPolicy
from ._view import ProgressView

if TYPE_CHECKING:
    from .emulator import Emulator

__all__ = [
    "API_NAMES",
    "PROGRESS_MODES",
    "ApiName",
    "ProgressMode",
    "TargetName",
    "UploadKwargs",
    "UploadOptions",
    "resolve_options",
]

ApiName = Literal["v2", "v1.1"]
TargetName = Literal["emulator", "x"]
ProgressMode = Literal["auto", "widgets", "text", "none"]
GifRepair = Literal["mp4", "gif"]
DurationRepair = Literal["keep", "trim"]
API_NAMES: tuple[ApiName, ...] = ("v2", "v1.1")
TARGET_NAMES: tuple[TargetName, ...] = ("emulator", "x")
PROGRESS_MODES: tuple[ProgressMode, ...] = ("auto", "widgets", "text", "none")
JournalSetting = str | os.PathLike[str] | bool | None


@dataclass(frozen=True, kw_only=True)
class UploadOptions:
    """How a batch uploads: where to, how fast, what it shows, what it remembers.

    Every upload function takes these as keyword arguments (`upload_folder(path,
    concurrency=8)`), or prepared once and reused (`options=UploadOptions(target="x")`;
    keywords given beside it win). All are checked when the call is made.

    Where uploads go (the built-in emulator unless one of these says otherwise):
        target: "emulator" (the default) or "x" (X itself; credentials from the environment
            unless `credentials` is given).
        credentials: a `Credentials` to upload with; alone it means X.
        base_url: any other server, e.g. a socket emulator at "http://127.0.0.1:8765".
        transport: an httpx transport to send through (e.g. `httpx.ASGITransport`).
        emulator: an `Emulator` to upload to in-process.
        verify: TLS verification: True, False, or the path of a CA bundle.

    How:
        api: "v2" (X's current media endpoints) or "v1.1".
        category: "auto" (inferred from the content) or one of X's media categories.
        dm: with category "auto", pick the dm_ categories.
        concurrency: the most files uploading at once (INIT to FINALIZE); processing holds no
            slot. None (the default) is adaptive: the batch decides as it goes, up to
            `MAX_CONCURRENCY` (32), from the rate budget left, the measured round trips, memory
            and open files (`result.concurrency` shows what it chose, and why). A number is a
            ceiling the batch never exceeds (it may still pace below it for the budget).
        segment_concurrency: APPEND requests in flight per file.
        chunk_size: bytes per APPEND (grown when a file would need over 1,000 segments).
        status_deadline_s: the longest wait for X to process one file.
        request_timeout: seconds per HTTP request (None: 60 s, 15 s to connect).
        retry: a `RetryPolicy` (attempts, backoff, the longest rate-limit wait).
        clock: the `Clock` every wait reads (tests: `ScaledClock`, `ManualClock`).

    What it shows and remembers:
        progress: "auto" (the dashboard in a notebook, a text line elsewhere), "widgets",
            "text", "none", or any `ProgressView`.
        on_event: called with every HTTP attempt (an `Event`) as it ends.
        journal: True/None (the default journal in your cache folder), a path, or False.
        force: upload again even what the journal says is already uploaded.
        content_hash: identify files by SHA-256 of their content instead of modification
            time, for resume (reads every file once more before the batch).

    What X would refuse (every batch runs preflight first and never sends such a file: it
    ends `invalid` with the reasons and what to do):
        limits: the `Limits` preflight judges by (default: X's documented limits; raise them
            for a Premium account, e.g. `Limits(max_video_duration_s=600)`).
        fix: repair what can be repaired (a copy re-encoded in a worker process, state
            `repairing`, while the other files upload) and upload the copy; the original is
            never touched. Without it, those files end `invalid` too.
        gif: with fix, a GIF over X's GIF limits becomes an MP4 for tweet_video ("mp4", what
            X recommends) or is shrunk into them ("gif").
        max_duration: with fix, a video over the maximum duration stays invalid ("keep") or
            is cut to it ("trim"): never cut unless asked.
        repair_dir: where repaired copies are kept, keyed by content and settings, so a rerun
            reuses them (default: your cache folder).
        repair_workers: worker processes re-encoding at once (default: one per core but one).
    """

    target: TargetName | None = None
    credentials: Credentials | None = None
    base_url: str | None = None
    transport: httpx.AsyncBaseTransport | None = None
    emulator: Emulator | None = None
    verify: bool | str = True
    api: ApiName = "v2"
    category: str = "auto"
    dm: bool = False
    concurrency: int | None = None
    segment_concurrency: int = 3
    chunk_size: int = DEFAULT_CHUNK
    status_deadline_s: float = 3600.0
    request_timeout: float | None = None
    retry: RetryPolicy | None = None
    clock: Clock | None = None
    progress: ProgressMode | ProgressView = "auto"
    on_event: Callable[[Event], None] | None = None
    journal: JournalSetting = None
    force: bool = False
    content_hash: bool = False
    limits: Limits | None = None
    fix: bool = False
    gif: GifRepair = "mp4"
    max_duration: DurationRepair = "keep"
    repair_dir: str | os.PathLike[str] | None = None
    repair_workers: int | None = None

    def __post_init__(self) -> None:
        _check(self)


class UploadKwargs(TypedDict, total=False):
    """`UploadOptions` as keyword arguments (see there for what each one means)."""

    target: TargetName | None
    credentials: Credentials | None
    base_url: str | None
    transport: httpx.AsyncBaseTransport | None
    emulator: Emulator | None
    verify: bool | str
    api: ApiName
    category: str
    dm: bool
    concurrency: int | None
    segment_concurrency: int
    chunk_size: int
    status_deadline_s: float
    request_timeout: float | None
    retry: RetryPolicy | None
    clock: Clock | None
    progress: ProgressMode | ProgressView
    on_event: Callable[[Event], None] | None
    journal: JournalSetting
    force: bool
    content_hash: bool
    limits: Limits | None
    fix: bool
    gif: GifRepair
    max_duration: DurationRepair
    repair_dir: str | os.PathLike[str] | None
    repair_workers: int | None


OPTION_NAMES = frozenset(field.name for field in dataclasses.fields(UploadOptions))


def resolve_options(
    function: str, options: UploadOptions | None, given: Mapping[str, Any]
) -> UploadOptions:
    """`options` (or the defaults) with the keyword options `given` to `function` applied.

    Raises:
        ConfigurationTypeError: an unknown option, or a value of the wrong type.
        ConfigurationError: a value outside what the option accepts.
    """
    no_unknown(function, given, OPTION_NAMES)
    if options is not None and not isinstance(options, UploadOptions):
        raise ConfigurationTypeError(f"options must be an UploadOptions, not {describe(options)}")
    base = options or UploadOptions()
    return dataclasses.replace(base, **given) if given else base


def _flag(name: str, value: object) -> None:
    instance_of(name, value, bool, "True or False")


def _check(o: UploadOptions) -> None:
    if o.target is not None:
        one_of("target", o.target, TARGET_NAMES)
    if o.credentials is not None:
        instance_of("credentials", o.credentials, Credentials, "a mediakit.Credentials or None")
    if o.base_url is not None:
        instance_of("base_url", o.base_url, str, "a URL such as 'http://127.0.0.1:8765'")
        if not o.base_url.startswith(("http://", "https://")):
            raise ConfigurationError(
                f"base_url must start with http:// or https://, not {o.base_url!r}"
            )
    if o.transport is not None:
        instance_of("transport", o.transport, httpx.AsyncBaseTransport, "an httpx async transport")
    if o.emulator is not None:
        from .emulator import Emulator  # already loaded: the caller made one

        instance_of("emulator", o.emulator, Emulator, "a mediakit.Emulator or None")
    if not isinstance(o.verify, bool | str):
        raise ConfigurationTypeError(
            f"verify must be True, False or the path of a CA bundle, not {describe(o.verify)}"
        )
    if o.target == "x" and (o.transport is not None or o.emulator is not None):
        raise ConfigurationError("target='x' talks to X: drop transport= and emulator=")
    one_of("api", o.api, API_NAMES)
    instance_of("category", o.category, str, "'auto' or one of X's media categories")
    if o.category.strip().lower() != "auto" and canonical_category(o.category) is None:
        from ._limits import CATEGORIES

        raise ConfigurationError(
            f"category must be 'auto' or one of {', '.join(CATEGORIES)}, not {o.category!r}"
        )
    _flag("dm", o.dm)
    if o.concurrency is not None:
        whole_number("concurrency", o.concurrency, minimum=1)
    whole_number("segment_concurrency", o.segment_concurrency, minimum=1)
    whole_number("chunk_size", o.chunk_size, minimum=1, maximum=Limits().max_chunk_bytes)
    seconds("status_deadline_s", o.status_deadline_s)
    seconds("request_timeout", o.request_timeout, allow_none=True)
    if o.retry is not None:
        instance_of("retry", o.retry, RetryPolicy, "a mediakit.RetryPolicy or None")
    if o.clock is not None:
        instance_of("clock", o.clock, Clock, "a mediakit.Clock (now() and async sleep())")
    if isinstance(o.progress, str):
        one_of("progress", o.progress.lower(), PROGRESS_MODES)
    elif not isinstance(o.progress, ProgressView):
        raise ConfigurationTypeError(
            f"progress must be one of {', '.join(map(repr, PROGRESS_MODES))} or a "
            f"ProgressView, not {describe(o.progress)}"
        )
    if o.on_event is not None and not callable(o.on_event):
        raise ConfigurationTypeError(
            f"on_event must be a function taking an Event, not {describe(o.on_event)}"
        )
    if not isinstance(o.journal, str | os.PathLike | bool | type(None)):
        raise ConfigurationTypeError(
            f"journal must be a path, True (the default journal) or False (none), "
            f"not {describe(o.journal)}"
        )
    if isinstance(o.journal, str) and not o.journal.strip():
        raise ConfigurationError("journal must be a path, True or False, not an empty string")
    _flag("force", o.force)
    _flag("content_hash", o.content_hash)
    if o.limits is not None:
        instance_of("limits", o.limits, Limits, "a mediakit.Limits or None")
    _flag("fix", o.fix)
    one_of("gif", o.gif, ("mp4", "gif"))
    one_of("max_duration", o.max_duration, ("keep", "trim"))
    if o.repair_dir is not None:
        instance_of("repair_dir", o.repair_dir, (str, os.PathLike), "a folder path or None")
        if isinstance(o.repair_dir, str) and not o.repair_dir.strip():
            raise ConfigurationError("repair_dir must be a folder path or None, not ''")
    if o.repair_workers is not None:
        whole_number("repair_workers", o.repair_workers, minimum=1)
