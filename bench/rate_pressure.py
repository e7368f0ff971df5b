"""Rate-limit pressure: a batch larger than one window's budget, against the ideal.

`mediakit emulator` in another process with rate limits on, every chunked endpoint's budget
(INIT, APPEND, FINALIZE) set to B requests per window of W seconds (X's are 1,875 per 900 s;
both shrunk so the bench takes a minute, not an hour), and a batch of N single-chunk pictures
with N > B: the batch needs k = ceil(N / B) windows. mediakit reads X's x-rate-limit-* headers
and waits for the reset instead of sending into a refusal (mediakit/_budget.py).

The same batch also runs with rate limits off (side by side, fresh emulators), which gives
T_free, its time with no limit. The ideal with the limit is a client that spends each window's
budget at T_free's pace and sends the next request the moment the window resets:
    ideal = max(T_free, (k - 1) × W + T_free × (N - (k - 1) × B) / N)
(the emulator's windows start at the first request and reset on whole seconds, so the ideal
is low by up to a second per window). Times are from the first request sent to the last
answer received, from mediakit's own event records.

Printed: 429 answers received, and of them those sent after the headers had warned (an answer
for the same endpoint, received before the request was sent, said fewer units were left than
requests of that endpoint were then in flight); aim: none of those. And the time lost against
the ideal. Usage: python bench/rate_pressure.py [--quick] [--json PATH] [--files 1200]
[--budget 500] [--window 20]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _workloads as w

COMMANDS = ("INIT", "APPEND", "FINALIZE")


async def batch(files: list[Path], url: str, concurrency: int) -> Any:
    import mediakit as mk

    with tempfile.TemporaryDirectory() as tmp:
        result = await mk.upload_files_async(
            files,
            base_url=url,
            concurrency=concurrency,
            progress="none",
            journal=Path(tmp) / "journal.sqlite",
        )
    return result


def span(result: Any) -> float:
    events = [e for e in result._events if e.finished_at is not None]
    return max(e.finished_at for e in events) - min(e.started_at for e in events)


def refusals(result: Any) -> tuple[int, int]:
    """429s received, and those sent although the headers had warned."""
    events = sorted((e for e in result._events if e.command in COMMANDS),
                    key=lambda e: e.started_at)  # fmt: skip
    got, warned = 0, 0
    for event in events:
        if event.http_status != 429:
            continue
        got += 1
        start = event.started_at
        seen = [
            e
            for e in events
            if e.command == event.command
            and e.finished_at is not None
            and e.finished_at <= start
            and e.rate_limit_remaining is not None
        ]
        if not seen:
            continue  # nothing had answered yet: no warning possible
        last = max(seen, key=lambda e: e.finished_at)
        reset = last.rate_limit_reset
        if reset is not None and start >= reset:
            continue  # the window had turned: the headers promised a new budget
        in_flight = sum(
            1
            for e in events
            if e.command == event.command
            and e is not event
            and e.started_at <= start
            and (e.finished_at is None or e.finished_at > start)
        )
        if last.rate_limit_remaining <= in_flight:
            warned += 1
    return got, warned


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    w.add_common_args(parser)
    parser.add_argument("--files", type=int, default=1200)
    parser.add_argument("--budget", type=int, default=500, help="requests per window, each")
    parser.add_argument("--window", type=float, default=20.0, help="window, seconds")
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    if args.quick:
        args.files, args.budget, args.window = 60, 50, 2.0  # still over one window's INITs
    pictures = w.files_in(w.small_pictures(1000 if args.files <= 980 else 10_000))
    warm, files = pictures[:5], pictures[20 : 20 + args.files]
    budgets = dict.fromkeys(COMMANDS, args.budget) | {"STATUS": 1000, "UPLOAD": 500}
    limited = {"per_user": budgets, "user_window_s": args.window}
    w.progress(f"rate pressure: {len(files)} files, {args.budget} per {args.window:g} s window")

    with w.emulator() as (url, _pid):
        asyncio.run(batch(warm, url, args.concurrency))
        free = asyncio.run(batch(files, url, args.concurrency))
    with w.emulator(rate_limits=limited) as (url, _pid):
        asyncio.run(batch(warm, url, args.concurrency))  # warm: its window resets below
        # Wait for the warm-up's window to end, so the measured batch starts a fresh one.
        asyncio.run(asyncio.sleep(args.window + 1))
        result = asyncio.run(batch(files, url, args.concurrency))
    assert free.counts == {"succeeded": len(files)}, free.counts
    t_free, t_limited = span(free), span(result)
    n, b = len(files), args.budget
    k = math.ceil(n / b)
    ideal = max(t_free, (k - 1) * args.window + t_free * (n - (k - 1) * b) / n)
    got, warned = refusals(result)
    lost = t_limited - ideal
    counts = dict(result.counts)
    print(f"{n} files, budget {b} per {args.window:g} s window: {k} windows; {counts}")
    print(f"  no limits: {t_free:.1f} s; with limits: {t_limited:.1f} s; ideal {ideal:.1f} s")
    print(f"  lost against the ideal: {lost:.1f} s ({t_limited / ideal:.2f}×)")
    print(f"  429 answers: {got}, of them after the headers warned: {warned} (aim 0)")
    w.write_json(
        args.json,
        "rate_pressure",
        "Rate-limit pressure",
        {
            "files": n,
            "budget": f"{b} INIT, APPEND and FINALIZE requests each per {args.window:g} s window",
            "windows needed": k,
            "concurrency": args.concurrency,
            "rate limits": "on (shrunk; X's: 1,875 per 900 s)",
            "outcome": counts,
        },
        [
            w.figure("time with no limit (T_free)", round(t_free, 2), "s"),
            w.figure("time with the limit", round(t_limited, 2), "s"),
            w.figure("ideal with the limit", round(ideal, 2), "s"),
            w.figure("time lost against the ideal", round(lost, 2), "s"),
            w.figure("with the limit / ideal", round(t_limited / ideal, 2), "×", ratio=True),
            w.figure("429 answers received", got, ""),
            w.figure(
                "429s sent after the headers warned",
                warned,
                "",
                aim="0",
                met=warned == 0,
                ratio=True,
            ),
        ],
        [
            "The ideal is low by up to 1 s per window: X's resets are whole seconds, and mediakit "
            "waits one second past them (mediakit/_budget.py)."
        ],
    )


if __name__ == "__main__":
    main()
