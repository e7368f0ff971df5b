"""Client peak memory: one 2 GiB video, and a batch of 10,000 small files.

Each measurement runs in a fresh child process: after a warm-up upload that loads every code
path, the resident high-water mark (VmHWM, /proc/self/status) is reset (`clear_refs` 5) and
the figure is the peak above VmRSS at the start of the measured upload. The emulator runs in
another process over a socket (rate limits off, processing shortened to 1 s), so its memory
is not counted.

1. One large video: a real 2 GiB H.264 MP4 (`_workloads.big_video`), over X's 512 MB video
   limit, so a Premium `mk.Limits(max_bytes={"tweet_video": 4 GiB})` is given on both sides
   (the client's preflight and the emulator), uploaded with 4 MiB chunks and
   segment_concurrency S. Budget: (S + 2) × chunk (the chunks in flight, one being read, one
   being released).
2. Many files: the same call on 1,000 and on 10,000 small pictures (concurrency 4); the
   figure is the growth per file between the two (aim: under 2 KB per file). The result's
   records and events are kept (they are the result); DataFrames are not built ("frames
   aside": `result.items` costs what pandas costs). A diagnostic run under tracemalloc says
   what Python memory the batch still holds per file afterwards, and which lines hold most.

Usage: python bench/memory.py [--quick] [--json PATH] [--video-mib 2048] [--files 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _workloads as w

CHUNK = 4 * w.MiB
PREMIUM = {"max_bytes": {"tweet_video": 4 * 2**30}}


async def upload(files: list[Path], url: str, args: argparse.Namespace, journal: Path) -> Any:
    import mediakit as mk

    result = await mk.upload_files_async(
        files,
        base_url=url,
        concurrency=args.concurrency,
        segment_concurrency=args.segment_concurrency,
        chunk_size=CHUNK,
        progress="none",
        journal=journal,
        limits=mk.Limits(**PREMIUM),  # type: ignore[arg-type]
    )
    assert result.counts == {"succeeded": len(files)}, result.counts
    return result


def trace(files: list[Path], args: argparse.Namespace, journal: Path) -> dict[str, Any]:
    """Where a batch's memory goes, per file: Python allocations still held by the result
    (and anything else) after the batch, the traced peak, and the largest holders by line."""
    import gc
    import tracemalloc

    gc.collect()
    tracemalloc.start(1)
    before = tracemalloc.take_snapshot()
    result = asyncio.run(upload(files, args.url, args, journal))
    gc.collect()
    after = tracemalloc.take_snapshot()
    held, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    top = []
    for stat in after.compare_to(before, "lineno")[:6]:
        frame = stat.traceback[0]
        where = frame.filename.replace(str(w.ROOT) + "/", "")
        where = re.sub(r".*/(site-packages|python3\.\d+)/", "", where)
        top.append(f"{where}:{frame.lineno} {stat.size_diff / len(files):.0f} B")
    del result
    return {"held_kib": held / 1024 / len(files), "peak_kib": peak / 1024 / len(files),
            "top": top}  # fmt: skip


def child(args: argparse.Namespace) -> None:
    files = [Path(p) for p in json.loads(Path(args.files_list).read_text())]
    warm = [Path(p) for p in json.loads(Path(args.warm_list).read_text())]
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(upload(warm, args.url, args, Path(tmp) / "warm.sqlite"))
        if args.trace:
            print(json.dumps(trace(files, args, Path(tmp) / "journal.sqlite")), flush=True)
            return
        out: dict[str, Any] = {"reset": w.reset_high_water_mark()}
        base = w.status_kib("VmRSS")
        started = time.perf_counter()
        result = asyncio.run(upload(files, args.url, args, Path(tmp) / "journal.sqlite"))
        out["seconds"] = time.perf_counter() - started
        out["above_mib"] = (w.status_kib("VmHWM") - base) / 1024
        out["base_mib"] = base / 1024
        out["files"] = len(result.records)
    print(json.dumps(out), flush=True)


def measure(files: list[Path], warm: list[Path], args: argparse.Namespace, segments: int,
            concurrency: int, trace: bool = False) -> dict[str, Any]:  # fmt: skip
    with (
        tempfile.TemporaryDirectory() as tmp,
        w.emulator(
            processing_seconds=1.0, limits=PREMIUM, state=str(Path(tmp) / "state.sqlite")
        ) as (url, _pid),
    ):
        lists = Path(tmp) / "files.json", Path(tmp) / "warm.json"
        lists[0].write_text(json.dumps([str(p) for p in files]))
        lists[1].write_text(json.dumps([str(p) for p in warm]))
        cmd = [sys.executable, __file__, "--child", "--url", url, "--files-list", str(lists[0]),
               "--warm-list", str(lists[1]), "--segment-concurrency", str(segments),
               "--concurrency", str(concurrency), *(["--trace"] if trace else [])]  # fmt: skip
        done = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=w.ROOT)
    if done.returncode != 0:
        raise SystemExit(f"child failed:\n{done.stdout}{done.stderr}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    w.add_common_args(parser)
    parser.add_argument("--video-mib", type=int, default=2048)
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--segment-concurrency", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--files-list", help=argparse.SUPPRESS)
    parser.add_argument("--warm-list", help=argparse.SUPPRESS)
    parser.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    if args.quick:
        args.video_mib, args.files = 64, 400  # a smoke test: CI checks the script works
    few = args.files // 10
    segments = args.segment_concurrency

    def make_video(folder: Path) -> None:
        w.big_video(folder / "big.mp4", args.video_mib * w.MiB, seed=7)

    video = w.cached_folder(f"video-{args.video_mib}MiB-s7", make_video)
    warm_video = w.files_in(w.big_videos(1, 8, seed=9))
    warm_pictures = w.files_in(w.small_pictures(1000))[:20]
    if args.files > 980:
        pictures = w.files_in(w.small_pictures(10_000))
    else:
        pictures = w.files_in(w.small_pictures(1000))[20:]
    if len(pictures) < args.files:
        raise SystemExit(f"only {len(pictures)} pictures in the workload")

    w.progress(f"memory: one {args.video_mib} MiB video, segment_concurrency {segments}")
    big = measure(w.files_in(video), warm_video, args, segments, 1)
    expected = (segments + 2) * CHUNK / w.MiB
    w.progress(f"memory: batches of {few} and {args.files} pictures")
    small = measure(pictures[:few], warm_pictures, args, segments, args.concurrency)
    many = measure(pictures[: args.files], warm_pictures, args, segments, args.concurrency)
    sample = min(args.files, 1000)
    traced = measure(pictures[:sample], warm_pictures, args, segments, args.concurrency, trace=True)
    per_file_kb = (many["above_mib"] - small["above_mib"]) * 2**20 / 1000 / (args.files - few)

    print(
        f"{args.video_mib} MiB video, 4 MiB chunks, segment_concurrency {segments}: peak "
        f"{big['above_mib']:.1f} MiB above start ({big['above_mib'] / 4:.1f} chunks; budget "
        f"{expected:.0f} MiB = {segments + 2} chunks), {args.video_mib / big['seconds']:.0f} MiB/s"
    )
    print(
        f"batches: {few} files {small['above_mib']:.1f} MiB, {args.files} files "
        f"{many['above_mib']:.1f} MiB above start: {per_file_kb:.2f} KB per file (aim < 2)"
    )
    print(
        f"diagnostic, {sample} files: {traced['held_kib'] * 1.024:.2f} KB per file held after "
        f"the batch, traced peak {traced['peak_kib'] * 1.024:.2f} KB; {'; '.join(traced['top'])}"
    )
    w.write_json(
        args.json,
        "memory",
        "Memory: client peak RSS",
        {
            "video": f"{args.video_mib} MiB H.264 MP4, Premium mk.Limits on both sides",
            "chunk": "4 MiB",
            "segment_concurrency": segments,
            "batch concurrency": args.concurrency,
            "batches": f"{few} and {args.files} small pictures",
            "measure": "VmHWM above VmRSS at the start, reset after a warm-up, fresh process",
            "rate limits": "off",
        },
        [
            w.figure(
                f"peak RSS uploading the {args.video_mib} MiB video",
                round(big["above_mib"], 1),
                "MiB",
            ),
            w.figure(
                "the same, in chunks / budget ((in flight + 2) × chunk)",
                round(big["above_mib"] / expected, 2),
                "×",
                aim="≤ 1",
                ratio=True,
                met=big["above_mib"] <= expected,
                note=f"{big['above_mib'] / 4:.1f} chunks of {segments + 2}",
            ),
            w.figure(f"peak RSS, batch of {few} files", round(small["above_mib"], 1), "MiB"),
            w.figure(f"peak RSS, batch of {args.files} files", round(many["above_mib"], 1), "MiB"),
            w.figure(
                "growth per file",
                round(per_file_kb, 2),
                "KB",
                aim="< 2",
                met=per_file_kb < 2,
                ratio=True,
            ),
            w.figure(
                f"diagnostic (tracemalloc, {sample} files): Python memory held per file after "
                "the batch",
                round(traced["held_kib"] * 1.024, 2),
                "KB",
            ),
            w.figure(
                "diagnostic: traced peak per file", round(traced["peak_kib"] * 1.024, 2), "KB"
            ),
        ],
        [
            "largest holders after the batch, per file (tracemalloc, by line; <string> is a "
            f"dataclass __init__): {'; '.join(traced['top'])}",
            f"high-water mark reset: {big['reset'] and many['reset']}; resident at the start "
            f"{big['base_mib']:.0f} MiB (video), {many['base_mib']:.0f} MiB (batch)",
        ],
    )


if __name__ == "__main__":
    main()
