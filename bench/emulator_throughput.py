"""APPEND throughput of the socket emulator against a bare endpoint, and its peak memory.

Both servers run as separate processes on 127.0.0.1 and receive the same multipart APPENDs
from one httpx client in the same run:

- `plain`: a starlette endpoint that only reads the body;
- `emulator`: `mediakit emulator` (auth, multipart parsing, spooling to disk, SQLite commit).

Then a 512 MiB video upload goes to the emulator while its peak RSS (VmHWM) is read from
/proc. Prints throughputs, their ratio (aim >= 0.5) and peak memory above idle (aim: a few
chunks). Usage: python bench/emulator_throughput.py [--mib 256] [--chunk-mib 4] [--parallel 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from mediakit.emulator import DEMO

PLAIN_SERVER = """
import sys, uvicorn
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

async def append(request):
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
    return JSONResponse({"data": {"received": size}})

app = Starlette(routes=[Route("/2/media/upload/{media_id}/append", append, methods=["POST"])])
print("listening on http://127.0.0.1:%s" % sys.argv[1], flush=True)
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
"""


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(args: list[str]) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    match = re.search(r"listening on (\S+)", line)
    if not match:
        proc.kill()
        raise SystemExit(f"server did not start: {line}{proc.stdout.read()}")
    return proc, match.group(1)


def start_emulator(state: Path) -> tuple[subprocess.Popen[str], str]:
    cmd = ["-m", "mediakit", "emulator", "--port", "0", "--rate-limits", "off"]
    return start([sys.executable, *cmd, "--state", str(state)])


def rss_kib(pid: int, field: str) -> int:
    text = Path(f"/proc/{pid}/status").read_text()
    match = re.search(rf"^{field}:\s+(\d+) kB", text, re.M)
    return int(match.group(1)) if match else 0


async def push(url: str, total: int, chunk: bytes, parallel: int, *, real: bool) -> float:
    headers = {"authorization": f"Bearer {DEMO.user_token}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=120) as client:
        media_id = "1234567890123456789"
        if real:
            init = await client.post(
                "/2/media/upload/initialize",
                json={
                    "total_bytes": total,
                    "media_type": "video/mp4",
                    "media_category": "tweet_video",
                },
            )
            init.raise_for_status()
            media_id = init.json()["data"]["id"]
        segments = total // len(chunk)
        queue: asyncio.Queue[int] = asyncio.Queue()
        for index in range(segments):
            queue.put_nowait(index)

        async def worker() -> None:
            while not queue.empty():
                index = queue.get_nowait()
                answer = await client.post(
                    f"/2/media/upload/{media_id}/append",
                    data={"segment_index": str(index)},
                    files={"media": ("blob", chunk, "application/octet-stream")},
                )
                answer.raise_for_status()

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(parallel)))
        elapsed = time.perf_counter() - started
        if real:
            await client.post(f"/2/media/upload/{media_id}/finalize")
        return total / elapsed / 2**20


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mib", type=int, default=256, help="MiB per throughput run")
    parser.add_argument("--chunk-mib", type=int, default=4)
    parser.add_argument("--parallel", type=int, default=3)
    parser.add_argument("--memory-mib", type=int, default=512)
    args = parser.parse_args()
    chunk = os.urandom(args.chunk_mib * 2**20)
    total = args.mib * 2**20
    with tempfile.TemporaryDirectory() as tmp:
        plain, plain_url = start([sys.executable, "-c", PLAIN_SERVER, str(free_port())])
        emulator, emu_url = start_emulator(Path(tmp) / "bench.sqlite")
        try:
            assert emulator.stdout is not None
            for _ in range(20):  # the rest of the banner
                if "Ctrl-C" in emulator.stdout.readline():
                    break
            # Warm up both, then alternate so neither gets a quieter machine.
            asyncio.run(push(plain_url, 4 * len(chunk), chunk, args.parallel, real=False))
            asyncio.run(push(emu_url, 4 * len(chunk), chunk, args.parallel, real=True))
            plain_rates, emu_rates = [], []
            for _ in range(2):
                plain_rates.append(
                    asyncio.run(push(plain_url, total, chunk, args.parallel, real=False))
                )
                emu_rates.append(asyncio.run(push(emu_url, total, chunk, args.parallel, real=True)))
            plain_best, emu_best = max(plain_rates), max(emu_rates)
            print(
                f"APPEND throughput, {args.chunk_mib} MiB chunks, {args.parallel} in flight, "
                f"{args.mib} MiB per run (best of 2):"
            )
            print(f"  plain endpoint (reads the body): {plain_best:8.1f} MiB/s")
            print(f"  mediakit emulator:               {emu_best:8.1f} MiB/s")
            print(f"  ratio emulator/plain:            {emu_best / plain_best:8.2f}  (aim >= 0.5)")

        finally:
            for proc in (plain, emulator):
                proc.kill()
                proc.wait()
        # Memory on a fresh process, so the high-water mark belongs to this upload alone.
        emulator, emu_url = start_emulator(Path(tmp) / "memory.sqlite")
        try:
            asyncio.run(push(emu_url, len(chunk), chunk, 1, real=True))  # warm up every path
            idle = rss_kib(emulator.pid, "VmHWM")
            memory_total = args.memory_mib * 2**20
            asyncio.run(push(emu_url, memory_total, chunk, args.parallel, real=True))
            peak = rss_kib(emulator.pid, "VmHWM")
            above = (peak - idle) / 1024
            print(f"Emulator memory, {args.memory_mib} MiB upload, {args.parallel} in flight:")
            print(
                f"  peak RSS after warm-up {idle / 1024:.1f} MiB, "
                f"during upload {peak / 1024:.1f} MiB, "
                f"above: {above:.1f} MiB = {above / args.chunk_mib:.1f} chunks"
            )
        finally:
            emulator.kill()
            emulator.wait()


if __name__ == "__main__":
    main()
