"""Preflight's cost on a folder of typical media, and repair's throughput.

Part 1, bytes read: a 1,000-file folder (700 photos of 1–5 MB, 100 animated GIFs of 1–10 MB,
200 H.264/AAC videos of 5–50 MB at 1280×720, 30 fps, 10–60 s, half with the index (moov) at
the end as cameras write it, half at the start) goes through `mk.preflight`. Bytes read are the
process's `rchar` (/proc/self/io: every byte any read() call returned, FFmpeg's included), so
nothing is missed; the figure is against the folder's total size. Each kind is also measured
on its own, one file at a time, for its share and its time per file. Files come warm from the
page cache (they were just written): times are CPU cost, not disk latency.

GIFs are read whole: X limits their frames, and a GIF has no index, so counting frames means
walking every block. The total therefore depends on how much of the folder is GIF; the
breakdown says so per kind.

Part 2, repair: videos X refuses (1920×1080 at 60 fps; 1280×720 at 120 fps; HEVC) go through
`mk.repair` into a fresh folder; throughput is seconds of video repaired per second of wall
time, with the default worker count. A rerun shows what the cache saves.

Generation is seeded and cached (`--cache`, default ~/.cache/mediakit-bench/preflight): the distinct
sources are made once and the folder is hard links to them, so reruns start at once.
`--quick` uses a 100-file folder of smaller media and two short repairs (well under a minute).

Usage: python bench/preflight.py [--quick] [--json PATH] [--cache DIR] [--workers N]
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import statistics
import sys
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import _workloads as w  # noqa: E402

import mediakit as mk  # noqa: E402
from mediakit._preflight import check_file  # noqa: E402

MB = 2**20


def machine() -> str:
    model = "unknown CPU"
    found = re.search(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.M)
    if found:
        model = found.group(1).strip()
    memory = re.search(r"^MemTotal:\s+(\d+) kB", Path("/proc/meminfo").read_text(), re.M)
    gib = f", {int(memory.group(1)) / 2**20:.0f} GiB" if memory else ""
    return f"{len(os.sched_getaffinity(0))} cores, {model}{gib}, Python {sys.version.split()[0]}"


def rchar() -> int:
    with open("/proc/self/io") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("rchar"))


@dataclass(frozen=True)
class Plan:
    photos: int
    gifs: int
    videos: int
    photo_sources: int
    gif_sources: int
    video_sources: int
    photo_mb: tuple[float, float]
    gif_mb: tuple[float, float]
    video_mb: tuple[float, float]
    video_seconds: tuple[int, int]
    repair_seconds: float


FULL = Plan(700, 100, 200, 24, 16, 16, (1, 5), (1, 10), (5, 50), (10, 60), 20.0)
QUICK = Plan(70, 10, 20, 6, 3, 3, (1, 2), (1, 2), (5, 6), (5, 6), 3.0)


# Generation -----------------------------------------------------------------------------------


def make_photo(path: Path, target: int, rng: random.Random) -> None:
    """A JPEG near `target` bytes: a smooth picture with fine grain, as photos compress."""
    from PIL import Image

    width = rng.choice((3000, 3264, 4000, 4032) if target > 2_000_000 else (1600, 2048, 2400))
    height = width * 3 // 4
    gen = np.random.default_rng(rng.randrange(2**32))
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack([x / width * 200, y / height * 200, (x + y) / (width + height) * 255], -1)
    grain_level = 4.0
    for _attempt in range(8):
        grain = gen.normal(0, grain_level, (height, width, 3)).astype(np.float32)
        Image.fromarray(np.clip(base + grain, 0, 255).astype(np.uint8)).save(path, quality=90)
        size = path.stat().st_size
        if abs(size - target) < 0.15 * target:
            return
        grain_level *= min(3.0, max(0.3, target / size))


def make_gif(path: Path, target: int, rng: random.Random) -> None:
    """An animated GIF of noisy 480×270 frames, as many as reach `target` bytes."""
    from PIL import Image

    gen = np.random.default_rng(rng.randrange(2**32))
    frame_bytes = 480 * 270 * 0.95
    frames = max(2, min(300, round(target / frame_bytes)))
    pictures = [
        Image.fromarray(gen.integers(0, 255, (270, 480), dtype=np.uint8), "L").convert("P")
        for _ in range(frames)
    ]
    pictures[0].save(path, save_all=True, append_images=pictures[1:], duration=80, loop=0)


def make_video(path: Path, seconds: int, target: int, rng: random.Random, faststart: bool) -> None:
    """H.264 1280×720 at 30 fps with AAC stereo, its bitrate set to reach `target` bytes.

    The picture is a camera's: smooth gradients, shapes moving across them, sensor grain; so
    keyframes weigh what they weigh in a phone's video, not what pure noise would.
    """
    import av

    fps, width, height = 30, 1280, 720
    gen = np.random.default_rng(rng.randrange(2**32))
    y, x = np.mgrid[0:height, 0:width]
    backdrop = (60 + 120 * x / width + 40 * np.sin(y / 37.0)).astype(np.float32)
    grain = gen.normal(0, 6, (8, height, width)).astype(np.float32)
    chroma = np.full((height // 2, width), 128, dtype=np.uint8)
    audio_rate = 48000
    video_bits = max(500_000, int(target * 8 / seconds) - 128_000)
    options = {"movflags": "+faststart"} if faststart else {}
    with av.open(str(path), "w", format="mp4", options=options) as out:
        video = out.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.bit_rate = video_bits
        video.options = {"preset": "ultrafast", "g": str(2 * fps)}
        audio = out.add_stream("aac", rate=audio_rate, layout="stereo")
        audio.bit_rate = 128_000
        per_frame = audio_rate // fps
        for i in range(seconds * fps):
            luma = backdrop + grain[i % len(grain)]
            for k in range(4):  # four shapes crossing the picture at their own speeds
                left = (i * (3 + 2 * k) + 300 * k) % (width - 160)
                top = 80 + 150 * k
                luma[top : top + 120, left : left + 160] = 40 + 50 * k
            plane = np.concatenate([np.clip(luma, 0, 255).astype(np.uint8), chroma])
            frame = av.VideoFrame.from_ndarray(plane, format="yuv420p")
            frame.pts, frame.time_base = i, Fraction(1, fps)
            out.mux(video.encode(frame))
            t = (np.arange(per_frame) + i * per_frame) / audio_rate
            tone = (0.1 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
            sound = av.AudioFrame.from_ndarray(
                np.stack([tone, tone]), format="fltp", layout="stereo"
            )
            sound.sample_rate, sound.pts = audio_rate, i * per_frame
            sound.time_base = Fraction(1, audio_rate)
            out.mux(audio.encode(sound))
        out.mux(video.encode(None))
        out.mux(audio.encode(None))


def sources(cache: Path, plan: Plan) -> dict[str, list[Path]]:
    """The distinct media (made once, seeded): photos, GIFs, videos."""
    rng = random.Random(20261202)
    made: dict[str, list[Path]] = {"photo": [], "gif": [], "video": []}
    folder = cache / "sources"
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(plan.photo_sources):
        path = folder / f"photo{i:02d}.jpg"
        target = int(rng.uniform(*plan.photo_mb) * 1e6)
        if not path.exists():
            make_photo(path, target, random.Random(rng.random()))
        made["photo"].append(path)
    for i in range(plan.gif_sources):
        path = folder / f"gif{i:02d}.gif"
        target = int(rng.uniform(*plan.gif_mb) * 1e6)
        if not path.exists():
            make_gif(path, target, random.Random(rng.random()))
        made["gif"].append(path)
    for i in range(plan.video_sources):
        path = folder / f"video{i:02d}.mp4"
        target = int(rng.uniform(*plan.video_mb) * 1e6)
        seconds = rng.randint(*plan.video_seconds)
        if not path.exists():
            print(f"  making {path.name} ({seconds} s, ~{target / 1e6:.0f} MB)", flush=True)
            make_video(path, seconds, target, random.Random(rng.random()), faststart=i % 2 == 1)
        made["video"].append(path)
    return made


def folder_of(cache: Path, plan: Plan, made: dict[str, list[Path]]) -> Path:
    """The benchmark folder: hard links to the sources, in the plan's numbers."""
    folder = cache / f"folder-{plan.photos + plan.gifs + plan.videos}"
    if folder.exists():
        return folder
    temp = folder.with_suffix(".tmp")
    shutil.rmtree(temp, ignore_errors=True)
    temp.mkdir(parents=True)
    for kind, count, ext in (("photo", plan.photos, "jpg"), ("gif", plan.gifs, "gif"),
                             ("video", plan.videos, "mp4")):  # fmt: skip
        for i in range(count):
            os.link(made[kind][i % len(made[kind])], temp / f"{kind}_{i:04d}.{ext}")
    temp.rename(folder)
    return folder


# Measurements ---------------------------------------------------------------------------------


def bench_preflight(folder: Path) -> list[dict[str, object]]:
    files = sorted(folder.iterdir())
    total = sum(f.stat().st_size for f in files)
    mk.preflight(files[:3])  # load every code path once
    before, started = rchar(), time.perf_counter()
    frame = mk.preflight(folder)
    elapsed = time.perf_counter() - started
    read = rchar() - before
    print(
        f"mk.preflight({folder.name}/): {len(frame)} files, {total / MB:,.0f} MiB; "
        f"read {read / MB:,.1f} MiB = {100 * read / total:.2f} % of the folder; "
        f"{elapsed:.2f} s wall ({1000 * elapsed / len(frame):.1f} ms per file, 4 threads); "
        f"{int(frame['ok'].sum())} ok"
    )
    figures = [
        w.figure(
            f"mk.preflight of {len(frame):,} files ({total / MB:,.0f} MiB): bytes read",
            round(100 * read / total, 2),
            "% of the folder",
            ratio=True,
        ),
        w.figure(
            "time per file (4 threads, warm page cache)",
            round(1000 * elapsed / len(frame), 2),
            "ms",
        ),
    ]
    print(f"{'kind':<6} {'files':>5} {'MiB':>9} {'read MiB':>9} {'read %':>7} {'ms/file':>8}")
    for kind in ("photo", "gif", "video"):
        chosen = [f for f in files if f.name.startswith(kind)]
        size = sum(f.stat().st_size for f in chosen)
        times = []
        before = rchar()
        for path in chosen:
            started = time.perf_counter()
            check_file(path)
            times.append(time.perf_counter() - started)
        read = rchar() - before
        print(
            f"{kind:<6} {len(chosen):>5} {size / MB:>9,.0f} {read / MB:>9,.1f} "
            f"{100 * read / size:>6.2f}% {1000 * statistics.median(times):>8.2f}"
        )
        per_file = f"median {1000 * statistics.median(times):.2f} ms a file"
        share = round(100 * read / size, 2)
        figures.append(w.figure(f"{kind}s: bytes read, share of their size", share, "%",
                                note=per_file))  # fmt: skip
    without_gifs = [f for f in files if not f.name.startswith("gif")]
    size = sum(f.stat().st_size for f in without_gifs)
    before = rchar()
    mk.preflight(without_gifs)
    share = 100 * (rchar() - before) / size
    print(f"photos and videos only: read {share:.2f} % of their size")
    figures.append(w.figure("photos and videos only: bytes read", round(share, 2), "%"))
    return figures


def bench_repair(cache: Path, plan: Plan, workers: int | None) -> list[dict[str, object]]:
    folder = cache / f"repair-{plan.repair_seconds:g}s"
    if not folder.exists():
        temp = folder.with_suffix(".tmp")
        shutil.rmtree(temp, ignore_errors=True)
        temp.mkdir(parents=True)
        sys.path.insert(0, str(ROOT / "tests"))
        import mediafactory as mf

        seconds = plan.repair_seconds
        mf.make_video(temp / "fullhd60.mp4", seconds=seconds, width=1920, height=1080, fps=60,
                      audio="aac", channels=2)  # fmt: skip
        mf.make_video(temp / "hd120.mp4", seconds=seconds, width=1280, height=720, fps=120,
                      audio="aac", channels=2)  # fmt: skip
        if plan is FULL:
            mf.make_video(temp / "hevc.mp4", codec="libx265", seconds=seconds, width=1280,
                          height=720, fps=30, audio="aac", channels=2)  # fmt: skip
        temp.rename(folder)
    files = sorted(folder.iterdir())
    video_seconds = sum(check_file(f).info.duration_s or 0 for f in files)  # type: ignore[union-attr]
    out = cache / "repaired"
    shutil.rmtree(out, ignore_errors=True)
    started = time.perf_counter()
    frame = mk.repair(files, out=out, workers=workers)
    elapsed = time.perf_counter() - started
    started = time.perf_counter()
    again = mk.repair(files, out=out, workers=workers)
    rerun = time.perf_counter() - started
    count = workers or "default"
    print(
        f"mk.repair: {len(files)} videos, {video_seconds:.0f} s of video in {elapsed:.1f} s "
        f"(workers={count}): {video_seconds / elapsed:.2f} s of video per second; "
        f"rerun {rerun:.2f} s ({', '.join(sorted(set(again['state'])))})"
    )
    for row in frame.itertuples():
        print(f"  {Path(row.path).name}: {row.state}, {row.seconds:.1f} s: {row.repair}")
    return [
        w.figure(
            f"mk.repair: {len(files)} videos, {video_seconds:.0f} s of video (workers={count})",
            round(video_seconds / elapsed, 2),
            "s of video per s",
            ratio=True,
        ),
        w.figure("rerun (every copy reused)", round(rerun, 2), "s"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="100 small files, short repairs")
    parser.add_argument("--cache", type=Path, help="where generated media is kept")
    parser.add_argument("--workers", type=int, help="repair worker processes")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON to this file")
    args = parser.parse_args()
    plan = QUICK if args.quick else FULL
    if args.cache is None:
        args.cache = w.cache_root() / "preflight"
    cache = args.cache / ("quick" if args.quick else "full")
    print(f"machine: {machine()}")
    started = time.perf_counter()
    made = sources(cache, plan)
    folder = folder_of(cache, plan, made)
    print(f"media ready in {time.perf_counter() - started:.1f} s ({cache})")
    figures = bench_preflight(folder)
    figures += bench_repair(cache, plan, args.workers)
    w.write_json(
        args.json,
        "preflight",
        "Preflight and repair",
        {
            "folder": f"{plan.photos} photos, {plan.gifs} GIFs, {plan.videos} videos",
            "repair": f"{'3' if plan is FULL else '2'} refused videos of {plan.repair_seconds:g} s",
            "cache": str(cache),
        },
        figures,
        [
            "GIFs are read whole (counting frames means walking every block): the folder's total "
            "depends on its share of GIFs."
        ],
    )


if __name__ == "__main__":
    main()
