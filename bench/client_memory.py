"""Peak memory of the client uploading one large file, against (segments in flight + 2) × chunk.

One large file (default 200 MiB: a real MP4 header, then random bytes, so nothing compresses
or dedupes) goes through `MediaClient(segment_concurrency=N).send_file(...)` to `mediakit
emulator` in another process (the emulator's memory is not what is measured here). Each
measurement runs in a fresh child process, after a one-segment warm-up upload that loads every
code path, so the figures belong to this upload alone:

- Python allocations: `tracemalloc` peak above its level at the start of the upload (a run of
  its own, since tracing slows the client down);
- resident memory: the high-water mark VmHWM of /proc/self/status, reset after the warm-up
  (`clear_refs` 5), above VmRSS at the start of the upload.

Printed for segment_concurrency 1, 3 and 6: both peaks in MiB and in chunks, next to the
expected (segment_concurrency + 2) × chunk. FINALIZE may refuse random bytes behind the header
(`400`, media type unrecognized); that answer is expected and ignored, as is processing.

A second table (diagnostic, `--no-collected` skips it) runs the same uploads with
`gc.collect()` after every APPEND. Each APPEND leaves its httpx request and response in a
reference cycle (Response <-> BoundAsyncStream, httpcore's pool request and stream), and the
request's multipart stream holds the chunk, so chunks stay alive until the cyclic garbage
collector runs: the gap between the two tables is what that costs.
Usage: python bench/client_memory.py [--mib 200] [--chunk-mib 4] [--segments 1,3,6]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BLOCK = 8 * 2**20


def machine() -> str:
    model = "unknown CPU"
    found = re.search(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.M)
    if found:
        model = found.group(1).strip()
    return f"{len(os.sched_getaffinity(0))} cores, {model}, Python {sys.version.split()[0]}"


def status_kib(field: str) -> int:
    found = re.search(rf"^{field}:\s+(\d+) kB", Path("/proc/self/status").read_text(), re.M)
    return int(found.group(1)) if found else 0


def reset_high_water_mark() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def make_file(path: Path, size: int) -> Path:
    """`size` bytes: a small real MP4, then random 8 MiB blocks (one block, written again)."""
    sys.path.insert(0, str(ROOT))
    from tests import mediafactory as mf

    mf.make_big_file(path, size, header="mp4")
    header = len(mf.make_mp4(path.with_suffix(".head.mp4")).read_bytes())
    block = os.urandom(BLOCK)
    with path.open("r+b") as f:
        f.seek(header)
        left = size - header
        while left > 0:
            left -= f.write(block[: min(left, BLOCK)])
    return path


def start_emulator(state: Path) -> tuple[subprocess.Popen[str], str]:
    cmd = [sys.executable, "-m", "mediakit", "emulator", "--port", "0", "--rate-limits", "off"]
    proc = subprocess.Popen(
        [*cmd, "--state", str(state)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    match = re.search(r"listening on (\S+)", line)
    if not match:
        proc.kill()
        raise SystemExit(f"the emulator did not start: {line}{proc.stdout.read()}")
    stdout = proc.stdout
    threading.Thread(target=lambda: [None for _ in stdout], daemon=True).start()
    return proc, match.group(1)


# ---------------------------------------------------------------------------------------------
# The child: one upload, one measurement


def collect_after_append() -> None:
    """Diagnostic: free whatever reference cycles each APPEND left behind, at once."""
    import gc

    from mediakit._client import MediaClient

    append = MediaClient.append

    async def append_then_collect(self: MediaClient, *args: Any, **kwargs: Any) -> None:
        await append(self, *args, **kwargs)
        gc.collect()

    MediaClient.append = append_then_collect  # type: ignore[method-assign]


async def send(url: str, path: Path, segments: int, chunk: int) -> str:
    import mediakit
    from mediakit._media import inspect_file

    async with mediakit.MediaClient(
        base_url=url, segment_concurrency=segments, chunk_size=chunk
    ) as client:
        check = inspect_file(path, chunk_size=chunk)
        try:
            state = await client.send_file(check)
        except mediakit.APIError as exc:
            if exc.status_code == 400 and "FINALIZE" in str(exc):
                return f"FINALIZE refused: {exc.message}"
            raise
        return f"FINALIZE {state.state or 'ok'}"


def child(args: argparse.Namespace) -> None:
    import mediakit  # noqa: F401  (imported before any measurement)

    if args.collect:
        collect_after_append()
    chunk = args.chunk_mib * 2**20
    asyncio.run(send(args.url, Path(args.warm_up), args.segments, chunk))
    path = Path(args.path)
    out: dict[str, Any] = {}
    if args.measure == "tracemalloc":
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        started = time.perf_counter()
        out["answer"] = asyncio.run(send(args.url, path, args.segments, chunk))
        out["seconds"] = time.perf_counter() - started
        out["above_mib"] = (tracemalloc.get_traced_memory()[1] - base) / 2**20
        tracemalloc.stop()
    else:
        out["reset"] = reset_high_water_mark()
        base = status_kib("VmRSS")
        out["base_mib"] = base / 1024
        started = time.perf_counter()
        out["answer"] = asyncio.run(send(args.url, path, args.segments, chunk))
        out["seconds"] = time.perf_counter() - started
        out["above_mib"] = (status_kib("VmHWM") - base) / 1024
    print(json.dumps(out), flush=True)


def measure(
    args: argparse.Namespace,
    url: str,
    path: Path,
    warm: Path,
    segments: int,
    how: str,
    collect: bool = False,
) -> dict[str, Any]:
    cmd = [
        sys.executable,
        __file__,
        "--child",
        "--url",
        url,
        "--path",
        str(path),
        "--warm-up",
        str(warm),
        "--segments",
        str(segments),
        "--chunk-mib",
        str(args.chunk_mib),
        "--measure",
        how,
        *(["--collect"] if collect else []),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(f"child failed:\n{done.stdout}{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=200, help="size of the file, MiB")
    parser.add_argument("--chunk-mib", type=int, default=4)
    parser.add_argument("--segments", default="1,3,6", help="segment_concurrency values")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--path", help=argparse.SUPPRESS)
    parser.add_argument("--warm-up", help=argparse.SUPPRESS)
    parser.add_argument("--measure", default="rss", help=argparse.SUPPRESS)
    parser.add_argument("--collect", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--no-collected",
        dest="collected",
        action="store_false",
        help="skip the diagnostic runs with gc.collect() after every APPEND",
    )
    args = parser.parse_args()
    if args.child:
        args.segments = int(args.segments)
        child(args)
        return

    chunk_mib = args.chunk_mib
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        started = time.perf_counter()
        big = make_file(folder / "big.mp4", args.mib * 2**20)
        warm = make_file(folder / "warm.mp4", 256 * 1024)  # one segment: paths, not buffers
        print(
            f"file: {args.mib} MiB (MP4 header + random bytes), made in "
            f"{time.perf_counter() - started:.1f} s; chunk {chunk_mib} MiB = "
            f"{-(-args.mib // chunk_mib)} segments; emulator in another process"
        )
        proc, url = start_emulator(folder / "state.sqlite")
        try:
            tables = [("as mediakit runs", False)]
            if args.collected:
                tables.append(("diagnostic: gc.collect() after every APPEND", True))
            for title, collect in tables:
                print(f"{title}:")
                print(
                    f"{'segment_concurrency':>19} {'expected':>16} {'tracemalloc peak':>22} "
                    f"{'RSS peak (VmHWM)':>22} {'upload':>12}"
                )
                for segments in [int(s) for s in args.segments.split(",")]:
                    traced = measure(args, url, big, warm, segments, "tracemalloc", collect)
                    rss = measure(args, url, big, warm, segments, "rss", collect)
                    expected = (segments + 2) * chunk_mib
                    rate = args.mib / rss["seconds"]
                    print(
                        f"{segments:>19} {expected:>6} MiB = {segments + 2:>2} ch "
                        f"{traced['above_mib']:>8.1f} MiB = "
                        f"{traced['above_mib'] / chunk_mib:>4.1f} ch "
                        f"{rss['above_mib']:>8.1f} MiB = {rss['above_mib'] / chunk_mib:>4.1f} ch "
                        f"{rate:>6.0f} MiB/s"
                    )
            print(
                f"(RSS above {rss['base_mib']:.0f} MiB resident at the start; high-water mark "
                f"reset: {rss['reset']}; FINALIZE answer: {rss['answer']})"
            )
        finally:
            proc.kill()
            proc.wait()


if __name__ == "__main__":
    main()
