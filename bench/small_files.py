"""Many small files: mediakit's files per second against a minimal httpx loop, and client CPU.

5,000 distinct small real pictures (JPEG and PNG, 2-30 KB, `_workloads.small_pictures`) go
to `mediakit emulator` in another process over a socket (no added latency, rate limits off),
once by each client, alternately, each in a fresh child process on a fresh emulator:

- mediakit: `upload_files_async(files, concurrency=C)` (explicit: a changed default does not
  change the bench), a journal of its own, `progress="none"`; it runs preflight, keeps every
  event, journals;
- raw: C coroutines sending INIT + APPEND + FINALIZE triples with one httpx.AsyncClient,
  reading each file whole; nothing else (no checks, no retries, no records).

Printed: files per second of each and their ratio (aim ≥ 0.7), and the client process's CPU
time per file (user + system, `time.process_time`; the emulator's is its own process's).

mediakit signs with the emulator's OAuth 1.0a keys (its default there) unless `--user-token`:
then it sends the OAuth 2.0 user token the raw loop sends, so both pay for the same auth.
Usage: python bench/small_files.py [--quick] [--json PATH] [--files 5000] [--concurrency 4]
       [--user-token]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _workloads as w


async def mediakit_run(
    files: list[Path], url: str, concurrency: int, user_token: bool = False
) -> None:
    import mediakit as mk
    from mediakit.emulator import DEMO

    token = mk.Credentials.user_token(DEMO.user_token) if user_token else None
    with tempfile.TemporaryDirectory() as tmp:
        result = await mk.upload_files_async(
            files,
            base_url=url,
            credentials=token,
            concurrency=concurrency,
            progress="none",
            journal=Path(tmp) / "journal.sqlite",
        )
    assert result.counts == {"succeeded": len(files)}, result.counts


async def raw_run(files: list[Path], url: str, concurrency: int, user_token: bool = True) -> None:
    import httpx

    from mediakit.emulator import DEMO

    headers = {"authorization": f"Bearer {DEMO.user_token}"}
    todo = list(reversed(files))
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60) as client:

        async def worker() -> None:
            while todo:
                path = todo.pop()
                body = path.read_bytes()
                kind = "image/png" if path.suffix == ".png" else "image/jpeg"
                init = await client.post(
                    "/2/media/upload/initialize",
                    json={
                        "total_bytes": len(body),
                        "media_type": kind,
                        "media_category": "tweet_image",
                    },
                )
                init.raise_for_status()
                media_id = init.json()["data"]["id"]
                append = await client.post(
                    f"/2/media/upload/{media_id}/append",
                    data={"segment_index": "0"},
                    files={"media": ("blob", body, "application/octet-stream")},
                )
                append.raise_for_status()
                done = await client.post(f"/2/media/upload/{media_id}/finalize")
                done.raise_for_status()

        await asyncio.gather(*(worker() for _ in range(concurrency)))


def child(args: argparse.Namespace) -> None:
    files = w.files_in(Path(args.folder))[: args.files]
    run = mediakit_run if args.child == "mediakit" else raw_run
    token = args.user_token
    asyncio.run(run(files[:20], args.url, args.concurrency, token))  # warm-up: imports, connections
    files = files[20:]
    cpu, started = time.process_time(), time.perf_counter()
    asyncio.run(run(files, args.url, args.concurrency, token))
    out = {
        "files": len(files),
        "wall_s": time.perf_counter() - started,
        "cpu_s": time.process_time() - cpu,
    }
    print(json.dumps(out), flush=True)


def measure(which: str, folder: Path, args: argparse.Namespace) -> dict[str, Any]:
    with w.emulator() as (url, _pid):
        cmd = [sys.executable, __file__, "--child", which, "--url", url, "--folder", str(folder),
               "--files", str(args.files), "--concurrency", str(args.concurrency),
               *(["--user-token"] if args.user_token else [])]  # fmt: skip
        done = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=w.ROOT)
    if done.returncode != 0:
        raise SystemExit(f"{which} child failed:\n{done.stdout}{done.stderr}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    w.add_common_args(parser)
    parser.add_argument("--files", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument(
        "--user-token", action="store_true", help="mediakit sends the raw loop's OAuth 2.0 token"
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    if args.quick:
        args.files = 300
    folder = w.small_pictures(max(args.files + 20, 1000) if args.quick else 10_000)
    args.files += 20  # the warm-up's
    size = sum(p.stat().st_size for p in w.files_in(folder)[: args.files])
    w.progress(f"small files: {args.files - 20} pictures, concurrency {args.concurrency}")
    ours = measure("mediakit", folder, args)
    raw = measure("raw", folder, args)
    files = ours["files"]
    ours_rate, raw_rate = files / ours["wall_s"], files / raw["wall_s"]
    ratio = ours_rate / raw_rate
    ours_cpu, raw_cpu = 1000 * ours["cpu_s"] / files, 1000 * raw["cpu_s"] / files
    print(f"{files} pictures ({size / files / 1024:.1f} KiB average), concurrency "
          f"{args.concurrency}")  # fmt: skip
    print(f"  mediakit: {ours_rate:7.1f} files/s, client CPU {ours_cpu:.2f} ms per file")
    print(f"  raw loop: {raw_rate:7.1f} files/s, client CPU {raw_cpu:.2f} ms per file")
    print(f"  ratio {ratio:.2f} (aim ≥ 0.7)")
    w.write_json(
        args.json,
        "small_files",
        "Many small files",
        {
            "files": files,
            "average size": f"{size / files / 1024:.1f} KiB",
            "concurrency": args.concurrency,
            "server": "mediakit emulator, another process, 127.0.0.1, no added latency",
            "rate limits": "off",
            "journal": "on (a file of its own)",
            "auth": "mediakit and raw: OAuth 2.0 user token"
            if args.user_token
            else "mediakit: OAuth 1.0a (its emulator default); raw: OAuth 2.0 user token",
        },
        [
            w.figure("mediakit", round(ours_rate, 1), "files/s"),
            w.figure("raw INIT + APPEND + FINALIZE loop (httpx)", round(raw_rate, 1), "files/s"),
            w.figure(
                "mediakit / raw, files per second",
                round(ratio, 2),
                "×",
                aim="≥ 0.7",
                met=ratio >= 0.7,
                ratio=True,
            ),
            w.figure("client CPU per file, mediakit", round(ours_cpu, 2), "ms"),
            w.figure("client CPU per file, raw loop", round(raw_cpu, 2), "ms"),
            w.figure(
                "client CPU per file, mediakit / raw", round(ours_cpu / raw_cpu, 2), "×", ratio=True
            ),
        ],
        ["Each run in a fresh child process against a fresh emulator, after a 20-file warm-up."],
    )


if __name__ == "__main__":
    main()
