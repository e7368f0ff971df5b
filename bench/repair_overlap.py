"""fix=True: repair's throughput inside a batch, and how much of it hides behind the uploads.

A batch of refused videos (1080p at 60 fps, 720p at 120 fps: `_workloads.repair_videos`) and
many small pictures goes to `mediakit emulator` in another process (rate limits off, processing
shortened to 1 s), three ways, in the same run:

- repair alone: `mk.repair(videos)` into a fresh folder (default workers), T_repair;
- upload alone: the pictures and the repaired copies, `fix=False`, T_upload;
- together: the pictures and the original videos with `fix=True` (a fresh `repair_dir`, so
  nothing is reused), T_fix: preflight flags the videos, workers repair them while the
  pictures upload, and each copy uploads when ready.

Hidden = T_repair + T_upload - T_fix: the repair time that overlapped uploads. Its share of
the most that could hide, min(T_repair, T_upload), is the overlap (1: perfect). Repair
throughput is seconds of video repaired per second of T_repair.

Usage: python bench/repair_overlap.py [--quick] [--json PATH] [--seconds 10] [--pictures 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _workloads as w


async def upload(files: list[Path], url: str, **options: Any) -> tuple[float, Any]:
    import mediakit as mk

    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        result = await mk.upload_files_async(
            files,
            base_url=url,
            concurrency=4,
            progress="none",
            journal=Path(tmp) / "journal.sqlite",
            **options,
        )
        return time.perf_counter() - started, result


def main() -> None:
    import mediakit as mk
    from mediakit._preflight import check_file

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    w.add_common_args(parser)
    parser.add_argument("--seconds", type=float, default=10.0, help="seconds per video")
    parser.add_argument("--pictures", type=int, default=1000)
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.pictures = 1.0, 80
    videos = w.files_in(w.repair_videos(args.seconds))
    pictures = w.files_in(w.small_pictures(1000 if args.pictures <= 980 else 10_000))
    pictures = pictures[20 : 20 + args.pictures]
    video_s = sum(check_file(v).info.duration_s or 0 for v in videos)  # type: ignore[union-attr]
    w.progress(f"repair overlap: {len(videos)} videos ({video_s:.0f} s), {len(pictures)} pictures")

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "repaired"
        started = time.perf_counter()
        frame = mk.repair(videos, out=out)
        t_repair = time.perf_counter() - started
        assert set(frame["state"]) == {"repaired"}, frame[["path", "state"]]
        copies = [Path(p) for p in frame["repaired_path"]]
        with w.emulator(processing_seconds=1.0) as (url, _pid):
            asyncio.run(upload(pictures[:5], url))  # warm-up: imports, connections
            t_upload, plain = asyncio.run(upload(pictures + copies, url))
        with w.emulator(processing_seconds=1.0) as (url, _pid):
            t_fix, fixed = asyncio.run(
                upload(pictures + videos, url, fix=True, repair_dir=Path(tmp) / "fix")
            )
    want = {"succeeded": len(pictures) + len(videos)}
    assert plain.counts == want, plain.counts
    assert fixed.counts == want, fixed.counts
    hidden = t_repair + t_upload - t_fix
    overlap = hidden / min(t_repair, t_upload)
    print(
        f"{len(videos)} refused videos ({video_s:.0f} s of video), {len(pictures)} pictures: "
        f"repair alone {t_repair:.1f} s ({video_s / t_repair:.2f} s of video per s), upload "
        f"alone {t_upload:.1f} s, fix=True {t_fix:.1f} s; hidden {hidden:.1f} s = "
        f"{100 * overlap:.0f} % of the most that could hide"
    )
    w.write_json(
        args.json,
        "repair_overlap",
        "Repair beside the uploads (fix=True)",
        {
            "videos": f"{len(videos)} refused (1080p60, 720p120), {video_s:.0f} s of video",
            "pictures": len(pictures),
            "repair workers": "default",
            "concurrency": 4,
            "emulator": "another process, processing 1 s, rate limits off",
        },
        [
            w.figure("repair alone (mk.repair)", round(t_repair, 2), "s"),
            w.figure(
                "repair throughput", round(video_s / t_repair, 2), "s of video per s", ratio=True
            ),
            w.figure("upload alone (pictures + the repaired copies)", round(t_upload, 2), "s"),
            w.figure("fix=True batch (repair and upload together)", round(t_fix, 2), "s"),
            w.figure("repair time hidden behind uploads", round(hidden, 2), "s"),
            w.figure(
                "overlap: hidden / min(repair, upload)", round(100 * overlap), "%", ratio=True
            ),
        ],
    )


if __name__ == "__main__":
    main()
