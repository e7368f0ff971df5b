"""How fast the frames build: `events_frame` against a bare `DataFrame.from_records`.

Builds 100,000 synthetic events shaped like a real batch (per file: INIT, APPENDs with segment
indexes and a few retries after a 503, FINALIZE, STATUS polls going pending → in_progress →
succeeded; 19-digit media ids as strings; rate-limit headers; raw JSON bodies), then times, in
the same run, best of 5:

- `events_frame(events)`: the typed frame (nullable ints, UTC timestamps, categories, strings);
- `pd.DataFrame.from_records(rows)` of the same rows, already as plain tuples (untyped columns).

Prints both and their ratio (aim: at most 2), then `items_frame` for 1,000 files with their
events, and the machine. Usage: python bench/frames.py [--quick] [--json PATH]
[--events 100000] [--files 1000] (`--quick`: 10,000 events, 100 files, best of 2)
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import sys
import time
from collections.abc import Callable
from dataclasses import astuple, fields
from typing import Any

import pandas as pd

from mediakit._frames import events_frame, items_frame
from mediakit._records import Event, FileRecord

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _workloads as w

T0 = 1_780_000_000.0
MiB = 1024 * 1024


def synthetic_batch(
    n_events: int | None = None, n_files: int | None = None, seed: int = 1
) -> tuple[list[FileRecord], list[Event]]:
    """`n_files` files and their events, or files until `n_events` events exist (then cut to
    exactly that many: the last file may be cut short)."""
    rng = random.Random(seed)
    files: list[FileRecord] = []
    events: list[Event] = []
    file_id = 0
    clock = T0
    while (n_events is None or len(events) < n_events) and (n_files is None or file_id < n_files):
        file_id += 1
        path = f"/data/campaign/clip_{file_id:05d}.mp4"
        media_id = str(rng.randrange(10**18, 10**19))
        segments = rng.randint(1, 12)
        size = segments * 4 * MiB - rng.randrange(4 * MiB)
        common: dict[str, Any] = {"batch_id": "b-20260509", "file_id": file_id, "path": path}
        remaining = 1875 - (file_id % 1875)
        start = clock
        clock += rng.uniform(0.05, 0.3)
        events.append(
            Event(
                command="INIT",
                attempt=1,
                started_at=start,
                finished_at=clock,
                http_status=200,
                ok=True,
                media_id=media_id,
                media_key=f"7_{media_id}",
                expires_after_secs=86_399,
                rate_limit_limit=1875,
                rate_limit_remaining=remaining,
                rate_limit_reset=T0 + 900,
                transaction_id=f"{rng.getrandbits(64):016x}",
                response=f'{{"data":{{"id":"{media_id}","expires_after_secs":86399}}}}',
                **common,
            )
        )
        for index in range(segments):
            chunk = 4 * MiB if index < segments - 1 else size - 4 * MiB * (segments - 1)
            attempts = 2 if rng.random() < 0.03 else 1
            for attempt in range(1, attempts + 1):
                start = clock
                clock += rng.uniform(0.2, 1.5)
                failed = attempt < attempts
                events.append(
                    Event(
                        command="APPEND",
                        attempt=attempt,
                        started_at=start,
                        finished_at=clock,
                        segment_index=index,
                        bytes_sent=chunk,
                        http_status=503 if failed else 204,
                        ok=not failed,
                        error_code="503" if failed else None,
                        error_name="ServiceUnavailable" if failed else None,
                        error_message="Service Unavailable" if failed else None,
                        rate_limit_limit=1875,
                        rate_limit_remaining=remaining,
                        rate_limit_reset=T0 + 900,
                        transaction_id=f"{rng.getrandbits(64):016x}",
                        **common,
                    )
                )
        start = clock
        clock += rng.uniform(0.1, 0.5)
        uploaded = clock
        events.append(
            Event(
                command="FINALIZE",
                attempt=1,
                started_at=start,
                finished_at=clock,
                http_status=200,
                ok=True,
                media_id=media_id,
                media_key=f"7_{media_id}",
                state="pending",
                check_after_secs=1,
                size=size,
                expires_after_secs=86_399,
                expires_at=clock + 86_399,
                rate_limit_limit=1875,
                rate_limit_remaining=remaining,
                rate_limit_reset=T0 + 900,
                transaction_id=f"{rng.getrandbits(64):016x}",
                response=(
                    f'{{"data":{{"id":"{media_id}","size":{size},"expires_after_secs":86399,'
                    '"processing_info":{"state":"pending","check_after_secs":1}}}'
                ),
                **common,
            )
        )
        polls = rng.randint(1, 4)
        for poll in range(polls):
            last = poll == polls - 1
            state = "succeeded" if last else "in_progress"
            progress = 100 if last else 20 * (poll + 1)
            start = clock + rng.uniform(1, 5)
            clock = start + rng.uniform(0.05, 0.2)
            events.append(
                Event(
                    command="STATUS",
                    attempt=1,
                    started_at=start,
                    finished_at=clock,
                    http_status=200,
                    ok=True,
                    media_id=media_id,
                    media_key=f"7_{media_id}",
                    state=state,
                    progress_percent=progress,
                    check_after_secs=None if last else 5,
                    size=size,
                    expires_after_secs=86_390,
                    expires_at=clock + 86_390,
                    rate_limit_limit=1000,
                    rate_limit_remaining=1000 - file_id % 1000,
                    rate_limit_reset=T0 + 900,
                    transaction_id=f"{rng.getrandbits(64):016x}",
                    response=(
                        f'{{"data":{{"id":"{media_id}","processing_info":'
                        f'{{"state":"{state}","progress_percent":{progress}}}}}}}'
                    ),
                    **common,
                )
            )
        files.append(
            FileRecord(
                batch_id="b-20260509",
                file_id=file_id,
                path=path,
                bytes=size,
                media_type="video/mp4",
                media_category="tweet_video",
                segments=segments,
                chunk_size=4 * MiB,
                target="emulator",
                state="succeeded",
                media_id=media_id,
                media_key=f"7_{media_id}",
                started_at=events[-1].started_at - (clock - uploaded) - 3.0,
                uploaded_at=uploaded,
                finished_at=clock,
                expires_at=clock + 86_390,
                user_columns={"campaign": "spring", "rank": file_id},
            )
        )
    return files, events if n_events is None else events[:n_events]


def best_of(repeat: int, work: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--files", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=5)
    w.add_common_args(parser)
    args = parser.parse_args()
    if args.quick:
        args.events, args.files, args.repeat = 10_000, 100, 2

    print(
        f"machine: {os.cpu_count()} cores ({len(os.sched_getaffinity(0))} usable), {cpu_model()}; "
        f"Python {platform.python_version()}, pandas {pd.__version__}"
    )
    _, events = synthetic_batch(n_events=args.events)
    columns = [f.name for f in fields(Event)]
    rows = [astuple(event) for event in events]  # the baseline's input, built outside the timing

    typed = bare = float("inf")
    for _ in range(args.repeat):  # interleaved, so both see the same machine
        typed = min(typed, best_of(1, lambda: events_frame(events)))
        bare = min(bare, best_of(1, lambda: pd.DataFrame.from_records(rows, columns=columns)))
    frame = events_frame(events)
    print(f"events: {len(frame):,} rows x {frame.shape[1]} columns")
    print(f"  events_frame(events)            {typed * 1e3:8.1f} ms")
    print(f"  DataFrame.from_records(tuples)  {bare * 1e3:8.1f} ms")
    print(f"  ratio                           {typed / bare:8.2f}  (aim: <= 2)")

    files, file_events = synthetic_batch(n_files=args.files)
    now = T0 + 3600
    items = best_of(args.repeat, lambda: items_frame(files, file_events, now=now))
    print(
        f"items_frame: {len(files):,} files with {len(file_events):,} events {items * 1e3:8.1f} ms"
    )
    ratio = typed / bare
    w.write_json(
        args.json,
        "frames",
        "Frames: the events frame against a bare DataFrame.from_records",
        {
            "events": len(frame),
            "columns": frame.shape[1],
            "best of": args.repeat,
            "pandas": pd.__version__,
            "items_frame files": len(files),
        },
        [
            w.figure("events_frame(events)", round(typed * 1e3, 1), "ms"),
            w.figure("DataFrame.from_records(tuples), untyped", round(bare * 1e3, 1), "ms"),
            w.figure(
                "events_frame / from_records",
                round(ratio, 2),
                "×",
                aim="≤ 2",
                met=ratio <= 2,
                ratio=True,
            ),
            w.figure(
                f"items_frame, {len(files):,} files with {len(file_events):,} events",
                round(items * 1e3, 1),
                "ms",
            ),
        ],
    )


if __name__ == "__main__":
    main()
