"""Upload throughput of large videos: mediakit against raw HTTP POSTs of the same bytes.

The workload is 1 GiB of real H.264 MP4 videos (4 × 256 MiB, `_workloads.big_videos`), sent
over a socket on 127.0.0.1 with no added latency, rate limits off, in the same run:

- mediakit: `upload_files_async(videos, concurrency=C, segment_concurrency=S)` (explicit, so a
  changed default does not change the bench) with 4 MiB chunks to `mediakit emulator` in
  another process (auth, multipart parsing, spooling to disk, SQLite commits, FINALIZE
  reading the video), processing shortened to 0.2 s (processing is X's time, not transfer);
- raw: an httpx loop with C × S POSTs in flight, each a 4 MiB slice of the same files read
  from disk and sent as the request body to a bare starlette endpoint that reads the body
  and answers (bench/_workloads.py `plain_server`): the most a client and server in Python
  move over this socket.

Throughput is bytes over the time from the first request to the last FINALIZE answer
(mediakit) or the last POST answer (raw); mediakit's whole-call time (preflight, journal, the
processing wait) is given too. Rounds alternate, so both see the same machine; the ratio is
the median of the rounds' ratios (aim ≥ 0.8).

Usage: python bench/throughput.py [--quick] [--json PATH] [--videos 4] [--mib 256] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _workloads as w

CHUNK = 4 * w.MiB


async def mediakit_run(files: list[Path], url: str, args: argparse.Namespace) -> dict[str, float]:
    import mediakit as mk

    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        result = await mk.upload_files_async(
            files,
            base_url=url,
            concurrency=args.concurrency,
            segment_concurrency=args.segment_concurrency,
            chunk_size=CHUNK,
            progress="none",
            journal=Path(tmp) / "journal.sqlite",
        )
        wall = time.perf_counter() - started
    assert result.counts == {"succeeded": len(files)}, result.counts
    first = min(r.started_at for r in result.records if r.started_at is not None)
    last = max(r.uploaded_at for r in result.records if r.uploaded_at is not None)
    return {"upload_s": last - first, "wall_s": wall}


async def raw_run(files: list[Path], url: str, in_flight: int) -> float:
    jobs = [(path, offset) for path in files for offset in range(0, path.stat().st_size, CHUNK)]
    queue: asyncio.Queue[tuple[Path, int]] = asyncio.Queue()
    for job in jobs:
        queue.put_nowait(job)

    async with httpx.AsyncClient(base_url=url, timeout=120) as client:

        async def worker() -> None:
            while not queue.empty():
                path, offset = queue.get_nowait()
                with path.open("rb") as f:  # read as an uploader would, slice by slice
                    f.seek(offset)
                    body = f.read(CHUNK)
                answer = await client.post("/upload", content=body)
                answer.raise_for_status()

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(in_flight)))
        return time.perf_counter() - started


async def raw_emulator_run(files: list[Path], url: str, args: argparse.Namespace) -> float:
    """The same files through the emulator's own protocol, by a minimal httpx loop: INIT,
    APPENDs (S in flight per file, C files at once), FINALIZE; no preflight, no journal."""
    from mediakit.emulator import DEMO

    headers = {"authorization": f"Bearer {DEMO.user_token}"}
    files_at_once = asyncio.Semaphore(args.concurrency)
    sizes = {path: path.stat().st_size for path in files}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=120) as client:

        async def one(path: Path) -> None:
            async with files_at_once:
                size = sizes[path]
                init = await client.post(
                    "/2/media/upload/initialize",
                    json={
                        "total_bytes": size,
                        "media_type": "video/mp4",
                        "media_category": "tweet_video",
                    },
                )
                init.raise_for_status()
                media_id = init.json()["data"]["id"]
                segments = list(range(-(-size // CHUNK)))

                async def appender() -> None:
                    while segments:
                        index = segments.pop(0)
                        with path.open("rb") as f:
                            f.seek(index * CHUNK)
                            body = f.read(CHUNK)
                        answer = await client.post(
                            f"/2/media/upload/{media_id}/append",
                            data={"segment_index": str(index)},
                            files={"media": ("blob", body, "application/octet-stream")},
                        )
                        answer.raise_for_status()

                await asyncio.gather(*(appender() for _ in range(args.segment_concurrency)))
                done = await client.post(f"/2/media/upload/{media_id}/finalize")
                done.raise_for_status()

        started = time.perf_counter()
        await asyncio.gather(*(one(path) for path in files))
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    w.add_common_args(parser)
    parser.add_argument("--videos", type=int, default=4)
    parser.add_argument("--mib", type=int, default=256, help="MiB per video")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--segment-concurrency", type=int, default=3)
    args = parser.parse_args()
    if args.quick:
        args.videos, args.mib, args.rounds = 2, 32, 1
    files = w.files_in(w.big_videos(args.videos, args.mib))
    total = sum(p.stat().st_size for p in files)
    in_flight = args.concurrency * args.segment_concurrency
    w.progress(f"throughput: {len(files)} videos, {total / w.MiB:.0f} MiB, {args.rounds} rounds")
    ours: list[dict[str, float]] = []
    raws: list[float] = []
    raw_emus: list[float] = []
    with w.plain_server() as plain_url:
        # Warm both paths (imports, connections) on the smallest slice of work.
        asyncio.run(raw_run(files[:1], plain_url, in_flight))
        for round_ in range(args.rounds):
            with w.emulator(processing_seconds=0.2) as (url, _pid):
                if round_ == 0:
                    asyncio.run(mediakit_run(files[:1], url, args))
                ours.append(asyncio.run(mediakit_run(files, url, args)))
            with w.emulator(processing_seconds=0.2) as (url, _pid):
                raw_emus.append(asyncio.run(raw_emulator_run(files, url, args)))
            raws.append(asyncio.run(raw_run(files, plain_url, in_flight)))
            w.progress(
                f"  round {round_ + 1}: mediakit {total / w.MiB / ours[-1]['upload_s']:.0f} MiB/s,"
                f" raw {total / w.MiB / raws[-1]:.0f} MiB/s"
            )
    ratios = [raw / mine["upload_s"] for mine, raw in zip(ours, raws, strict=True)]
    ratio = statistics.median(ratios)
    mk_rate = total / w.MiB / statistics.median(r["upload_s"] for r in ours)
    raw_rate = total / w.MiB / statistics.median(raws)
    raw_emu_rate = total / w.MiB / statistics.median(raw_emus)
    client_ratio = statistics.median(
        raw / mine["upload_s"] for mine, raw in zip(ours, raw_emus, strict=True)
    )
    wall_rate = total / w.MiB / statistics.median(r["wall_s"] for r in ours)
    print(f"{len(files)} videos, {total / w.MiB:.0f} MiB, {args.rounds} rounds")
    print(f"  mediakit → emulator: {mk_rate:7.1f} MiB/s (whole call {wall_rate:.1f} MiB/s)")
    print(f"  raw POSTs → bare endpoint: {raw_rate:7.1f} MiB/s")
    print(f"  raw INIT/APPEND/FINALIZE → emulator: {raw_emu_rate:7.1f} MiB/s")
    print(f"  ratio {ratio:.2f} (aim ≥ 0.8), rounds {[round(r, 2) for r in ratios]}")
    w.write_json(
        args.json,
        "throughput",
        "Throughput: large videos over a socket",
        {
            "videos": len(files),
            "MiB": round(total / w.MiB),
            "chunk": "4 MiB",
            "concurrency": args.concurrency,
            "segment_concurrency": args.segment_concurrency,
            "raw POSTs in flight": in_flight,
            "rounds": args.rounds,
            "latency": "none (127.0.0.1)",
            "rate limits": "off",
            "emulator processing": "0.2 s",
        },
        [
            w.figure("mediakit → emulator, INIT to last FINALIZE", round(mk_rate, 1), "MiB/s"),
            w.figure(
                "mediakit, whole call (preflight, journal, processing wait)",
                round(wall_rate, 1),
                "MiB/s",
            ),
            w.figure("raw httpx POSTs → bare body-reading endpoint", round(raw_rate, 1), "MiB/s"),
            w.figure(
                "raw httpx INIT/APPEND/FINALIZE → emulator (same server as mediakit)",
                round(raw_emu_rate, 1),
                "MiB/s",
            ),
            w.figure(
                "mediakit / raw loop, both to the emulator (the client's share)",
                round(client_ratio, 2),
                "×",
                ratio=True,
            ),
            w.figure(
                "mediakit / raw",
                round(ratio, 2),
                "×",
                aim="≥ 0.8",
                met=ratio >= 0.8,
                ratio=True,
                note=f"rounds {[round(r, 2) for r in ratios]}",
            ),
        ],
    )


if __name__ == "__main__":
    main()
