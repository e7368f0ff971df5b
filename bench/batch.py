"""A mixed batch through mediakit against the socket emulator, one file at a time, and the ideal.

Three figures for the same mixed set of files (default 50: 30 JPEG/PNG pictures, some of a few
hundred KB so they take several chunks, 10 animated GIFs, 10 short MP4 videos), all uploaded
with the same chunk size to `mediakit emulator` running in another process with added latency,
processing of 2-6 s and rate limits off (this measures the engine, not X's budget):

- A, mediakit: `upload_files_async(files, concurrency=4, segment_concurrency=3)`;
- B, mediakit with one upload slot and sequential chunks: the same call with
  `concurrency=1, segment_concurrency=1` (processing still overlaps: it holds no slot);
- C, strictly one file at a time, as a simple script does it: `MediaClient.upload` per file
  (upload with one APPEND in flight, wait until processed, then the next file). This is the
  "one at a time" of the aim (C/A >= 5); B/A shows what overlapping uploads alone buys;
- ideal: how long a client with A's concurrency that never waits needlessly would take.

The ideal is a lower bound computed from the emulator's own records of run A
(`/_emulator/media` and `/_emulator/requests`):

1. A round trip of command C costs `rt(C)`, the median time the emulator took to answer C,
   from the start of its handling to its answer: the added latency plus the measured service
   time (medians per command and media category). Client CPU and loopback time count as zero.
2. Uploading a file holds one of `concurrency` slots for
   `rt(INIT) + ceil(segments / segment_concurrency) * rt(APPEND) + rt(FINALIZE)`.
   Files take slots in mediakit's order (videos by size, largest first, then GIFs, then
   pictures: `_longest_processing_first` in mediakit/_batch.py), each as soon as a slot frees.
   Waiting for processing holds no slot.
3. A video or GIF then waits for processing as X allows: the FINALIZE answer says `pending`,
   `check_after_secs` 1; the ideal poller sends each STATUS exactly `check_after_secs` after
   the previous answer, and the emulator (`processing_info` in
   mediakit/emulator/_processing.py, with the file's recorded `processing_s`, measured from
   its recorded `finalized_at`) decides what each poll sees, at the poll's send time plus the
   latency. The wait ends when the answer saying `succeeded` (or `failed`) arrives: one
   `rt(STATUS)` after that poll. Pictures are done when FINALIZE answers.
4. The ideal batch time is the largest (upload finish + processing wait) over the files.

Printed: wall times of A, B and C, the ideal, A/ideal (aim <= 1.25), B/A and C/A (aim >= 5), the
model's inputs, and where A's time went compared with the ideal (slots, round trips, polls).
Usage: python bench/batch.py [--files 50] [--latency 50] [--chunk-kib 256] [--seed 1]
[--quick] [--json PATH] (`--quick`: 10 files, 20 ms, no run C)
"""

from __future__ import annotations

import argparse
import asyncio
import heapq
import inspect
import math
import os
import platform
import random
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx

import mediakit
from mediakit._media import inspect_file
from mediakit.emulator._config import EmulatorConfig
from mediakit.emulator._processing import processing_info

ROOT = Path(__file__).resolve().parents[1]
KIND_ORDER = {"video": 0, "gif": 1, "image": 2, "subtitles": 3}  # as mediakit/_batch.py
PROCESSED = ("tweet_video", "tweet_gif", "dm_video", "dm_gif")


# ---------------------------------------------------------------------------------------------
# The machine, the files, the server


def machine() -> str:
    model = "unknown CPU"
    try:
        found = re.search(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.M)
        if found:
            model = found.group(1).strip()
    except OSError:
        pass
    return (
        f"{os.cpu_count()} cores (nproc {len(os.sched_getaffinity(0))}), {model}, "
        f"Python {platform.python_version()}, {platform.system()} {platform.release()}"
    )


def noisy_picture(path: Path, width: int, height: int, rng: random.Random) -> Path:
    """Random pixels: a picture whose size in bytes does not collapse under compression."""
    from PIL import Image

    picture = Image.frombytes("RGB", (width, height), rng.randbytes(width * height * 3))
    if path.suffix == ".png":
        picture.save(path, format="PNG")
    else:
        picture.save(path, format="JPEG", quality=85)
    return path


def make_media(folder: Path, count: int, seed: int) -> list[Path]:
    """60 % pictures (a third of them noisy and big), 20 % animated GIFs, 20 % MP4 videos."""
    sys.path.insert(0, str(ROOT))
    from tests import mediafactory as mf

    rng = random.Random(seed)
    videos = max(1, count // 5)
    gifs = max(1, count // 5)
    pictures = max(0, count - videos - gifs)
    paths: list[Path] = []
    for i in range(videos):
        width = rng.choice([64, 160, 320, 480, 640])
        height = width * 9 // 16 // 2 * 2
        seconds = rng.choice([1.0, 1.5, 2.0, 2.5, 3.0])
        paths.append(
            mf.make_mp4(
                folder / f"video{i:02d}.mp4", seconds, width, height, fps=rng.choice([10, 24])
            )
        )
    for i in range(gifs):
        side = rng.choice([48, 96, 160, 240])
        paths.append(
            mf.make_gif(folder / f"anim{i:02d}.gif", side, side, frames=rng.randint(4, 24))
        )
    for i in range(pictures):
        suffix = ".png" if i % 2 else ".jpg"
        path = folder / f"picture{i:02d}{suffix}"
        if i % 3 == 0:  # big: 100 KB to about 1 MB
            width = rng.choice([300, 400, 500, 600])
            paths.append(noisy_picture(path, width, width * 3 // 4, rng))
        elif suffix == ".png":
            paths.append(mf.make_png(path, rng.choice([64, 320, 800]), rng.choice([48, 240, 600])))
        else:
            paths.append(mf.make_jpeg(path, rng.choice([64, 320, 800]), rng.choice([48, 240, 600])))
    return paths


class Emulator:
    """`mediakit emulator` in another process, with its output drained so it never blocks."""

    def __init__(self, state: Path, latency_ms: float, seed: int) -> None:
        cmd = [
            sys.executable,
            "-m",
            "mediakit",
            "emulator",
            "--port",
            "0",
            "--latency",
            f"{latency_ms:g}ms",
            "--processing-seconds",
            "2,6",
            "--seed",
            str(seed),
            "--rate-limits",
            "off",
            "--state",
            str(state),
        ]
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        match = re.search(r"listening on (\S+)", line)
        if not match:
            self.proc.kill()
            raise SystemExit(f"the emulator did not start: {line}{self.proc.stdout.read()}")
        self.url = match.group(1)
        self.output: list[str] = []
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.output.append(line)

    def get(self, path: str) -> Any:
        return httpx.get(f"{self.url}{path}", timeout=60).json()

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()

    def __enter__(self) -> Emulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ---------------------------------------------------------------------------------------------
# One run


@dataclass
class Run:
    name: str
    concurrency: int
    segment_concurrency: int
    wall_s: float
    result: Any  # mediakit.UploadResult
    media: dict[str, dict[str, Any]]  # media id -> the emulator's record
    requests: list[dict[str, Any]]  # the emulator's request log
    warm_up: tuple[float, float] = (0.0, 0.0)  # the warm-up batch: wall, batch elapsed


def run_batch(
    files: list[Path], args: argparse.Namespace, name: str, concurrency: int, segments: int
) -> Run:
    """One batch on a fresh emulator, after a one-file warm-up batch (imports, SSL context)."""

    with (
        tempfile.TemporaryDirectory() as tmp,
        Emulator(Path(tmp) / "state.sqlite", args.latency, args.seed) as emulator,
    ):
        options: dict[str, Any] = {}
        if "journal" in inspect.signature(mediakit.upload_files_async).parameters:
            # A journal of its own: journaling costs what it costs, and nothing is skipped
            # because an earlier run (or the user's own cache journal) already uploaded it.
            options["journal"] = Path(tmp) / "journal.sqlite"

        def batch(paths: list[Path], url: str) -> Any:
            return mediakit.upload_files_async(
                paths,
                base_url=url,
                concurrency=concurrency,
                segment_concurrency=segments,
                chunk_size=args.chunk_kib * 1024,
                progress="none",
                **options,
            )

        warm_file = Path(tmp) / "warm-up.png"
        noisy_picture(warm_file, 64, 48, random.Random(0))
        started = time.perf_counter()
        warm = asyncio.run(batch([warm_file], emulator.url))
        warm_wall = time.perf_counter() - started
        started = time.perf_counter()
        result = asyncio.run(batch(files, emulator.url))
        wall = time.perf_counter() - started
        ours = {r.media_id for r in result.records}
        media = {
            m["media_id"]: m for m in emulator.get("/_emulator/media") if m["media_id"] in ours
        }
        requests = [r for r in emulator.get("/_emulator/requests") if r.get("media_id") in ours]
    run = Run(name, concurrency, segments, wall, result, media, requests)
    run.warm_up = (warm_wall, warm.elapsed_s or 0.0)
    return run


def run_serial(files: list[Path], args: argparse.Namespace) -> tuple[float, float]:
    """Strictly one file at a time: upload, wait until processed, then the next file.

    `MediaClient.upload` per file, in the given order, one APPEND in flight. Returns the wall
    time and the part of it spent waiting for processing.
    """

    async def serial(url: str) -> float:
        waiting = 0.0
        async with mediakit.MediaClient(
            base_url=url, segment_concurrency=1, chunk_size=args.chunk_kib * 1024
        ) as client:
            for path in files:
                check = inspect_file(path, chunk_size=args.chunk_kib * 1024)
                state = await client.send_file(check)
                began = time.perf_counter()
                await client.wait_processed(state)
                waiting += time.perf_counter() - began
        return waiting

    with (
        tempfile.TemporaryDirectory() as tmp,
        Emulator(Path(tmp) / "state.sqlite", args.latency, args.seed) as emulator,
    ):
        started = time.perf_counter()
        waiting = asyncio.run(serial(emulator.url))
        return time.perf_counter() - started, waiting


# ---------------------------------------------------------------------------------------------
# The ideal


@dataclass
class Model:
    latency_s: float
    segment_concurrency: int
    concurrency: int
    rt: dict[tuple[str, str], float]  # (command, category or "*") -> median round trip
    answer_lag_s: float  # FINALIZE answered, seconds after the emulator's finalized_at
    max_check_after: int = field(default_factory=lambda: EmulatorConfig().max_check_after_secs)

    def round_trip(self, command: str, category: str | None) -> float:
        return self.rt.get((command, category or "*"), self.rt[(command, "*")])


@dataclass
class IdealFile:
    path: str
    category: str
    segments: int
    start_s: float = 0.0
    upload_s: float = 0.0
    wait_s: float = 0.0
    polls: int = 0

    @property
    def upload_end_s(self) -> float:
        return self.start_s + self.upload_s

    @property
    def end_s(self) -> float:
        return self.upload_end_s + self.wait_s


def model_from(run: Run) -> Model:
    categories = {mid: row.get("media_category") or "*" for mid, row in run.media.items()}
    samples: dict[tuple[str, str], list[float]] = defaultdict(list)
    lags: list[float] = []
    for req in run.requests:
        command, finished = req.get("command"), req.get("finished_at")
        if command is None or finished is None or not 200 <= (req.get("status") or 0) < 300:
            continue
        took = finished - req["started_at"]
        samples[(command, "*")].append(took)
        category = categories.get(req.get("media_id") or "", "*")
        if category != "*":
            samples[(command, category)].append(took)
        if command == "FINALIZE":
            finalized = run.media.get(req.get("media_id") or "", {}).get("finalized_at")
            if finalized is not None:
                lags.append(finished - finalized)
    rt = {key: statistics.median(values) for key, values in samples.items()}
    return Model(
        latency_s=0.0,
        segment_concurrency=run.segment_concurrency,
        concurrency=run.concurrency,
        rt=rt,
        answer_lag_s=statistics.median(lags) if lags else 0.0,
    )


def processing_wait(model: Model, row: dict[str, Any]) -> tuple[float, int]:
    """Seconds from the FINALIZE answer to the answer saying processing ended; polls sent."""
    failed = row.get("state") == "failed"
    fake = SimpleNamespace(
        finalized_at=0.0,
        decoding=False,  # the ideal: X's decode is part of the modelled processing time
        processing_s=row.get("processing_s") or 0.0,
        outcome="failed" if failed else "succeeded",
        fail_progress=None,
        error_code=None,
        error_name=row.get("error_name"),
        error_message=row.get("error_message"),
    )
    rt_status = model.round_trip("STATUS", row.get("media_category"))
    t, wait, polls = 0.0, 1, 0  # the FINALIZE answer: pending, check_after_secs 1
    while True:
        t += wait
        polls += 1
        seen = processing_info(
            fake, model.answer_lag_s + t + model.latency_s, model.max_check_after
        )
        t += rt_status
        if seen["state"] in ("succeeded", "failed"):
            return t, polls
        wait = max(1, int(seen.get("check_after_secs") or 1))


def ideal(run: Run, model: Model) -> list[IdealFile]:
    """Every file of `run` on the ideal schedule (see the module docstring)."""
    kinds = {"tweet_video": "video", "dm_video": "video", "tweet_gif": "gif", "dm_gif": "gif"}
    checks = []
    for record in run.result.records:  # mediakit's order: `_longest_processing_first`
        kind = kinds.get(record.media_category or "", "image")
        checks.append((KIND_ORDER[kind], -(record.bytes or 0), record))
    checks.sort(key=lambda item: item[:2])
    slots = [0.0] * model.concurrency
    planned = []
    for _, _, record in checks:
        category = record.media_category or "*"
        item = IdealFile(record.path, category, record.segments or 1)
        item.start_s = heapq.heappop(slots)
        waves = math.ceil(item.segments / model.segment_concurrency)
        item.upload_s = (
            model.round_trip("INIT", category)
            + waves * model.round_trip("APPEND", category)
            + model.round_trip("FINALIZE", category)
        )
        heapq.heappush(slots, item.upload_end_s)
        row = run.media.get(record.media_id or "")
        if category in PROCESSED and row is not None and row.get("processing_s") is not None:
            item.wait_s, item.polls = processing_wait(model, row)
        planned.append(item)
    return planned


# ---------------------------------------------------------------------------------------------
# Where the time went


def client_events(run: Run) -> list[Any]:
    return list(run.result._events)


def describe(run: Run, model: Model, planned: list[IdealFile]) -> None:
    result = run.result
    t0 = result.started_at
    records = result.records
    events = client_events(run)
    by_path = {item.path: item for item in planned}
    ideal_total = max(item.end_s for item in planned)
    states: dict[str, int] = defaultdict(int)
    for record in records:
        states[record.state] += 1
    print(f"  files: {dict(states)}; retries: {sum(r.retries for r in records)}")
    print(
        f"  wall {run.wall_s:.2f} s = preparation {run.wall_s - (result.elapsed_s or 0):.2f} s "
        f"(inspecting files, client) + batch {result.elapsed_s:.2f} s"
    )

    # Uploads: when the last FINALIZE answered, and how busy the slots were.
    uploaded = [r.uploaded_at - t0 for r in records if r.uploaded_at is not None]
    busy = sum(r.uploaded_at - r.started_at for r in records if r.uploaded_at and r.started_at)
    ideal_up = max(item.upload_end_s for item in planned)
    ideal_busy = sum(item.upload_s for item in planned)
    print(
        f"  uploads (INIT..FINALIZE answered): last at {max(uploaded):.2f} s "
        f"(ideal {ideal_up:.2f} s); slot time {busy:.2f} s "
        f"(ideal {ideal_busy:.2f} s) = {busy / run.concurrency / max(uploaded):.0%} of "
        f"{run.concurrency} slots busy until the last FINALIZE"
    )
    excess, dead = [], []
    for record in records:
        if record.uploaded_at is None or record.started_at is None:
            continue
        took = record.uploaded_at - record.started_at
        excess.append(took - by_path[record.path].upload_s)
        spans = sorted(
            (e.started_at, e.finished_at)
            for e in events
            if e.file_id == record.file_id
            and e.command in ("INIT", "APPEND", "FINALIZE")
            and e.finished_at is not None
        )
        covered, reach = 0.0, record.started_at
        for begin, end in spans:
            if end > reach:
                covered += end - max(begin, reach)
                reach = end
        dead.append(took - covered)
    print(
        f"  per-file upload above the ideal: median {statistics.median(excess) * 1000:.0f} ms, "
        f"max {max(excess) * 1000:.0f} ms, sum {sum(excess):.2f} s; of it with no request of "
        f"the file in flight (chunk reads, scheduling): median "
        f"{statistics.median(dead) * 1000:.1f} ms, sum {sum(dead):.2f} s"
    )
    gaps = slot_gaps(records, run.concurrency, t0)
    print(
        f"  slot hand-over (a FINALIZE answered -> the next file's INIT sent): "
        f"median {gaps[0] * 1000:.0f} ms, max {gaps[1] * 1000:.0f} ms, sum {gaps[2]:.2f} s"
    )

    # Round trips: as the client saw them against the emulator's own timing.
    print("  round trips, median ms: client-observed / emulator-side (the model's rt)")
    for command in ("INIT", "APPEND", "FINALIZE", "STATUS"):
        seen = [e.finished_at - e.started_at for e in events if e.command == command]
        if seen:
            print(
                f"    {command:<8} {statistics.median(seen) * 1000:7.1f} / "
                f"{model.rt[(command, '*')] * 1000:7.1f}   (n={len(seen)}, "
                f"client total {sum(seen):.2f} s)"
            )

    # Processing: the wait after FINALIZE, against the ideal poller for the same file.
    waits, extra, late, grain = [], [], [], []
    polls, ideal_polls = 0, 0
    last_answer: dict[int, tuple[float, int]] = {}
    for event in sorted(events, key=lambda e: e.started_at):
        if event.command not in ("FINALIZE", "STATUS") or event.file_id is None:
            continue
        if event.command == "STATUS" and event.file_id in last_answer:
            answered, asked = last_answer[event.file_id]
            late.append(event.started_at - answered - asked)
        if event.finished_at is not None and event.check_after_secs is not None:
            last_answer[event.file_id] = (event.finished_at, int(event.check_after_secs))
    for record in records:
        item = by_path[record.path]
        if item.category not in PROCESSED or record.finished_at is None or not record.uploaded_at:
            continue
        waited = record.finished_at - record.uploaded_at
        waits.append(waited)
        processing = run.media.get(record.media_id or "", {}).get("processing_s")
        if processing is not None:
            grain.append(item.wait_s - processing)
        extra.append(waited - item.wait_s)
        polls += record.status_polls
        ideal_polls += item.polls
    if waits:
        print(
            f"  processing waits ({len(waits)} files): mediakit median "
            f"{statistics.median(waits):.2f} s; above the ideal poller for the same file: median "
            f"{statistics.median(extra) * 1000:.0f} ms, max {max(extra) * 1000:.0f} ms; "
            f"polls {polls} (ideal {ideal_polls})"
        )
    if grain:
        print(
            f"  the ideal poller's wait above the recorded processing_s (X's polling grain: "
            f"integer check_after_secs, first poll after 1 s): median "
            f"{statistics.median(grain) * 1000:.0f} ms, max {max(grain) * 1000:.0f} ms"
        )
    if late:
        print(
            f"  STATUS sent after check_after_secs elapsed: median "
            f"{statistics.median(late) * 1000:.0f} ms late, max {max(late) * 1000:.0f} ms"
        )

    # The file that ended the batch, and the one that ends the ideal.
    last = max(records, key=lambda r: r.finished_at or 0)
    mine = by_path[last.path]
    print(
        f"  last to finish: {Path(last.path).name} ({last.media_category}, {last.segments} seg): "
        f"started {last.started_at - t0:.2f} s (ideal {mine.start_s:.2f}), uploaded "
        f"{last.uploaded_at - t0:.2f} s (ideal {mine.upload_end_s:.2f}), finished "
        f"{last.finished_at - t0:.2f} s (ideal {mine.end_s:.2f})"
    )
    worst = max(planned, key=lambda item: item.end_s)
    record = next(r for r in records if r.path == worst.path)
    processing = run.media.get(record.media_id or "", {}).get("processing_s") or 0.0
    print(
        f"  ideal's last: {Path(worst.path).name} ({worst.category}, {worst.segments} seg, "
        f"processing {processing:.2f} s): "
        f"ideal {worst.end_s:.2f} s, mediakit finished it at "
        f"{(record.finished_at or t0) - t0:.2f} s; ideal batch {ideal_total:.2f} s"
    )


def slot_gaps(records: list[Any], concurrency: int, t0: float) -> tuple[float, float, float]:
    """How long a freed slot stayed empty while files were still queued."""
    starts = sorted(r.started_at for r in records if r.started_at is not None)
    ends = sorted(r.uploaded_at for r in records if r.uploaded_at is not None)
    gaps = []
    # File k (0-based, in start order) past the first `concurrency` took the slot freed by
    # the (k - concurrency)-th upload to end.
    for k in range(concurrency, len(starts)):
        if k - concurrency < len(ends):
            gaps.append(max(0.0, starts[k] - ends[k - concurrency]))
    if not gaps:
        return 0.0, 0.0, 0.0
    return statistics.median(gaps), max(gaps), sum(gaps)


def print_model(model: Model, latency_ms: float) -> None:
    print(
        f"  latency {latency_ms:g} ms (added by the emulator to every request); "
        f"FINALIZE answered {model.answer_lag_s * 1000:.1f} ms after finalized_at (median); "
        f"max check_after_secs {model.max_check_after}"
    )
    print("  rt = latency + service, median ms (service = rt - latency):")
    for (command, category), value in sorted(model.rt.items()):
        service = value - latency_ms / 1000
        print(
            f"    {command:<8} {category:<12} rt {value * 1000:7.1f}  service {service * 1000:6.1f}"
        )


# ---------------------------------------------------------------------------------------------


def write_figures(
    args: argparse.Namespace,
    a: Run,
    b: Run,
    serial: tuple[float, float] | None,
    ideal_a: float,
    ideal_b: float,
) -> None:
    if args.json is None:
        return
    sys.path.insert(0, str(ROOT / "bench"))
    import _workloads as w

    figures = [
        w.figure(
            f"A: mediakit, concurrency {a.concurrency}, segment_concurrency "
            f"{a.segment_concurrency}",
            round(a.wall_s, 2),
            "s",
        ),
        w.figure("ideal for A's concurrency", round(ideal_a, 2), "s"),
        w.figure(
            "A / ideal",
            round(a.wall_s / ideal_a, 2),
            "×",
            aim="≤ 1.25",
            met=a.wall_s / ideal_a <= 1.25,
            ratio=True,
        ),
        w.figure(
            "B: one upload slot, sequential chunks",
            round(b.wall_s, 2),
            "s",
            note=f"its own ideal {ideal_b:.2f} s",
        ),
        w.figure("B / A", round(b.wall_s / a.wall_s, 2), "×", ratio=True),
    ]
    if serial is not None:
        figures += [
            w.figure(
                "C: strictly one file at a time (MediaClient per file)", round(serial[0], 2), "s"
            ),
            w.figure(
                "C / A",
                round(serial[0] / a.wall_s, 2),
                "×",
                aim="≥ 5",
                met=serial[0] / a.wall_s >= 5,
                ratio=True,
            ),
        ]
    w.write_json(
        args.json,
        "batch",
        "A mixed batch against the ideal schedule",
        {
            "files": args.files,
            "latency": f"{args.latency:g} ms",
            "chunk": f"{args.chunk_kib} KiB",
            "processing": "2-6 s",
            "rate limits": "off",
            "seed": args.seed,
            "emulator": "mediakit emulator, another process",
        },
        figures,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=50, help="files in the mixed batch")
    parser.add_argument("--latency", type=float, default=50.0, help="added latency, ms")
    parser.add_argument("--chunk-kib", type=int, default=256, help="chunk size, KiB")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--segment-concurrency", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1, help="files and processing times")
    parser.add_argument(
        "--no-serial",
        dest="serial",
        action="store_false",
        help="skip run C, strictly one file at a time (about 2 minutes of the default run)",
    )
    parser.add_argument("--quick", action="store_true", help="10 files, 20 ms, no run C")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON to this file")
    args = parser.parse_args()
    if args.quick:
        args.files, args.latency, args.serial = 10, 20.0, False

    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        files = make_media(folder, args.files, args.seed)
        chunk = args.chunk_kib * 1024
        checks = [inspect_file(path, chunk_size=chunk) for path in files]
        kinds: dict[str, list[int]] = defaultdict(list)
        for check in checks:
            kinds[check.category or "?"].append(check.size or 0)
        total = sum(check.size or 0 for check in checks)
        print(
            f"batch: {len(files)} files, {total / 2**20:.1f} MiB, "
            f"{sum(c.segments or 0 for c in checks)} segments of {args.chunk_kib} KiB; "
            + ", ".join(
                f"{len(v)} {k} ({min(v) / 1024:.0f}-{max(v) / 1024:.0f} KiB)"
                for k, v in sorted(kinds.items())
            )
        )
        print(
            f"emulator: another process, latency {args.latency:g} ms, processing 2-6 s, "
            f"seed {args.seed}, rate limits off"
        )
        a = run_batch(files, args, "A", args.concurrency, args.segment_concurrency)
        b = run_batch(files, args, "B", 1, 1)
        serial = run_serial(files, args) if args.serial else None

    model_a = model_from(a)
    model_a.latency_s = args.latency / 1000
    plan_a = ideal(a, model_a)
    ideal_a = max(item.end_s for item in plan_a)
    model_b = model_from(b)
    model_b.latency_s = args.latency / 1000
    plan_b = ideal(b, model_b)
    ideal_b = max(item.end_s for item in plan_b)

    print()
    print(
        f"A  mediakit, concurrency {a.concurrency}, segment_concurrency "
        f"{a.segment_concurrency}:{a.wall_s:8.2f} s  (batch {a.result.elapsed_s:.2f} s)"
    )
    print(
        f"B  mediakit one file at a time, sequential chunks (concurrency 1, "
        f"segment_concurrency 1; processing still overlaps):{b.wall_s:8.2f} s  "
        f"(its own ideal {ideal_b:.2f} s)"
    )
    if serial is not None:
        print(
            f"C  strictly one file at a time (MediaClient.upload per file: upload, wait until "
            f"processed, next; one APPEND in flight):{serial[0]:8.2f} s  "
            f"({serial[1]:.2f} s of it waiting for processing)"
        )
    print(f"ideal for A's concurrency:{ideal_a:8.2f} s")
    print(f"A / ideal = {a.wall_s / ideal_a:.2f}  (aim <= 1.25)")
    print(f"B / A     = {b.wall_s / a.wall_s:.2f}  (one slot, processing overlapped)")
    if serial is not None:
        print(f"C / A     = {serial[0] / a.wall_s:.2f}  (aim >= 5)")
    print(
        f"first batch in a fresh process (warm-up, 1 file): wall {a.warm_up[0]:.2f} s, "
        f"batch {a.warm_up[1]:.2f} s (one-time imports and client set-up, not counted above)"
    )
    write_figures(args, a, b, serial, ideal_a, ideal_b)
    print()
    print("model inputs (from run A's emulator records):")
    print_model(model_a, args.latency)
    print()
    print("where A's time went (against the ideal):")
    describe(a, model_a, plan_a)
    print()
    print("where B's time went (against B's own ideal, concurrency 1, segment_concurrency 1):")
    describe(b, model_b, plan_b)


if __name__ == "__main__":
    main()
