"""Workloads and helpers the benches share: seeded real media, made once and cached.

Every workload is a folder under the cache (`MEDIAKIT_BENCH_CACHE`, default
~/.cache/mediakit-bench), named by what it holds and its parameters, and written through a
temporary folder renamed into place: a folder that exists is complete, so a rerun (or the next
bench) reuses it at once. The media is real: JPEG and PNG pictures Pillow encodes, and H.264
MP4 videos PyAV encodes, which the emulator's FINALIZE and processing accept as they are.

Also here: the machine's description, a socket emulator in another process (optionally with
`mk.Limits` and rate limits set from Python, which the `mediakit emulator` command cannot), a
bare body-reading server, and the JSON every bench writes for bench/run.py.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MiB = 2**20
FPS = 10  # big videos: 2 GiB is 90 s of 720p at this rate, under X's 140 s


# ---------------------------------------------------------------------------------------------
# Where workloads live


def cache_root() -> Path:
    root = os.environ.get("MEDIAKIT_BENCH_CACHE")
    return Path(root) if root else Path.home() / ".cache" / "mediakit-bench"


def cached_folder(name: str, make: Callable[[Path], None]) -> Path:
    """`cache/name`, made by `make(temporary folder)` the first time only."""
    folder = cache_root() / name
    if folder.is_dir():
        return folder
    temp = folder.with_name(f".{name}.{os.getpid()}.tmp")
    shutil.rmtree(temp, ignore_errors=True)
    temp.mkdir(parents=True)
    progress(f"making workload {name} (once, cached in {cache_root()})")
    make(temp)
    try:
        temp.rename(folder)
    except OSError:  # another process made it meanwhile
        shutil.rmtree(temp, ignore_errors=True)
    return folder


def files_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))


def progress(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# Media


def small_pictures(count: int, seed: int = 1) -> Path:
    """`count` distinct small real pictures (JPEG and PNG, 2-30 KB): each its own pixels."""

    def make(folder: Path) -> None:
        import numpy as np
        from PIL import Image

        rng = np.random.default_rng(seed)
        for i in range(count):
            width, height = int(rng.integers(64, 200)), int(rng.integers(48, 150))
            # A gradient with grain: compresses as a photo does, and differs in every file.
            y, x = np.mgrid[0:height, 0:width]
            base = np.stack([x * 255 / width, y * 255 / height, (x + y) % 256], -1)
            grain = rng.normal(0, 12, (height, width, 3))
            pixels = np.clip(base + grain, 0, 255).astype(np.uint8)
            picture = Image.fromarray(pixels)
            if i % 4 == 3:
                picture.save(folder / f"pic{i:05d}.png", optimize=False)
            else:
                picture.save(folder / f"pic{i:05d}.jpg", quality=85)

    return cached_folder(f"pictures-{count}-s{seed}", make)


def _noise_packets(width: int, height: int, frames: int, seed: int) -> list[bytes]:
    """`frames` H.264 intra frames of grain at a quality so high they barely compress."""
    import av
    import numpy as np

    codec = av.CodecContext.create("libx264", "w")
    codec.width, codec.height, codec.pix_fmt = width, height, "yuv420p"
    codec.time_base = Fraction(1, FPS)
    # Every frame an IDR (so any order of them decodes), near lossless (so they are big), High
    # profile (what X takes; qp 0 would switch x264 to High 4:4:4, which X refuses).
    codec.options = {"preset": "ultrafast", "qp": "1", "g": "1", "profile": "high"}
    gen = np.random.default_rng(seed)
    packets: list[bytes] = []
    for i in range(frames):
        luma = gen.integers(0, 256, (height, width), dtype=np.uint8)
        chroma = gen.integers(0, 256, (height // 2, width), dtype=np.uint8)
        frame = av.VideoFrame.from_ndarray(np.concatenate([luma, chroma]), format="yuv420p")
        frame.pts = i
        packets += [bytes(p) for p in codec.encode(frame)]
    packets += [bytes(p) for p in codec.encode(None)]
    return packets


def big_video(path: Path, size: int, seed: int = 1, width: int = 1280, height: int = 720) -> Path:
    """A real H.264 MP4 (10 fps, no audio) of about `size` bytes, made in seconds, not minutes.

    A few near-lossless intra frames of grain are encoded once; the file is those frames muxed
    again and again (stream copy, no encoding): a valid, playable video that X's limits judge
    as any other (1280×720, High profile, yuv420p), whose bytes do not compress.
    """
    import av

    sample = _noise_packets(width, height, 8, seed)
    per_frame = sum(len(p) for p in sample) / len(sample)
    frames = max(len(sample), int(size / per_frame))
    with av.open(str(path), "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        # The stream's parameters (SPS/PPS) come from an encoder opened the same way.
        template = av.CodecContext.create("libx264", "w")
        template.width, template.height, template.pix_fmt = width, height, "yuv420p"
        template.time_base = Fraction(1, FPS)
        template.options = {"preset": "ultrafast", "qp": "1", "g": "1", "profile": "high"}
        template.flags |= av.codec.context.Flags.global_header  # type: ignore[attr-defined]
        template.open()
        stream.codec_context.extradata = template.extradata
        stream.time_base = Fraction(1, FPS)
        for i in range(frames):
            packet = av.Packet(sample[i % len(sample)])
            packet.stream = stream
            packet.pts = packet.dts = i
            packet.time_base = Fraction(1, FPS)
            packet.is_keyframe = True
            out.mux(packet)
    return path


def big_videos(count: int, mib: int, seed: int = 1) -> Path:
    """`count` real MP4 videos of about `mib` MiB each (see `big_video`), each distinct."""

    def make(folder: Path) -> None:
        for i in range(count):
            big_video(folder / f"video{i:02d}.mp4", mib * MiB, seed=seed + i)

    return cached_folder(f"videos-{count}x{mib}MiB-s{seed}", make)


def repair_videos(seconds: float, count: int = 2) -> Path:
    """Short videos X refuses (1080p at 60 fps, 720p at 120 fps) that mk.repair fixes."""

    def make(folder: Path) -> None:
        sys.path.insert(0, str(ROOT))
        from tests import mediafactory as mf

        specs = [(1920, 1080, 60), (1280, 720, 120)]
        for i in range(count):
            width, height, fps = specs[i % len(specs)]
            mf.make_video(folder / f"refused{i}_{height}p{fps}.mp4", seconds=seconds, width=width,
                          height=height, fps=fps, audio="aac", channels=2)  # fmt: skip

    return cached_folder(f"repair-{count}x{seconds:g}s", make)


# ---------------------------------------------------------------------------------------------
# Servers in other processes


def start_server(
    cmd: list[str], env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[str], str]:
    """Run `cmd` (a server that prints "listening on URL" first) with this checkout's mediakit
    importable; returns the process and the URL. Its later output is drained so it never
    blocks on a full pipe."""
    env = env or {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=ROOT
    )
    assert proc.stdout is not None
    seen = []
    for _ in range(5):
        line = proc.stdout.readline()
        seen.append(line)
        match = re.search(r"listening on (\S+)", line)
        if match:
            break
    else:
        proc.kill()
        raise SystemExit(f"the server did not start: {''.join(seen)}{proc.stdout.read()}")
    stdout = proc.stdout
    threading.Thread(target=lambda: [None for _ in stdout], daemon=True).start()
    return proc, match.group(1)


def stop_server(proc: subprocess.Popen[str]) -> None:
    """SIGTERM (the emulator closes its state on it), SIGKILL if it lingers."""
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


SERVE = """
import json, sys
import mediakit as mk
from mediakit.emulator import serve
from mediakit.emulator._ratelimit import RateLimits
settings = json.loads(sys.argv[1])
limits = settings.pop("limits", None)
if limits is not None:
    settings["limits"] = mk.Limits(**limits)
rate = settings.pop("rate_limits", False)
if isinstance(rate, dict):
    settings["rate_limits"] = RateLimits(**rate)
elif rate is False:
    settings["rate_limits"] = None
emulator = mk.Emulator(**settings)
try:
    serve(emulator, port=0)
finally:
    emulator.close()
"""


@contextmanager
def emulator(**settings: Any) -> Iterator[tuple[str, int]]:
    """A socket emulator in another process, built by `mk.Emulator(**settings)`; yields
    (base URL, pid). `limits` is a dict of `mk.Limits` fields; `rate_limits` False (the
    default: off), True (X's budgets) or a dict of `RateLimits` fields."""
    proc, url = start_server([sys.executable, "-c", SERVE, json.dumps(settings)])
    try:
        yield url, proc.pid
    finally:
        stop_server(proc)


@contextmanager
def emulator_cli(*args: str) -> Iterator[str]:
    """`mediakit emulator --port 0 ARGS` in another process, as users start it (TLS, a state
    file and the rest from its options); yields its base URL."""
    cmd = [sys.executable, "-m", "mediakit", "emulator", "--port", "0", *args]
    proc, url = start_server(cmd)
    try:
        yield url
    finally:
        stop_server(proc)


PLAIN = """
import sys, uvicorn
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

async def sink(request):
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
    return JSONResponse({"data": {"received": size}})

app = Starlette(routes=[Route("/{path:path}", sink, methods=["POST"])])
print("listening on http://127.0.0.1:%s" % sys.argv[1], flush=True)
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
"""


@contextmanager
def plain_server() -> Iterator[str]:
    """A bare uvicorn + starlette endpoint in another process that reads every body (any
    POST path) and answers a small JSON: the cheapest server an upload could talk to."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc, url = start_server([sys.executable, "-c", PLAIN, str(port)])
    try:
        yield url
    finally:
        proc.kill()
        proc.wait()


# ---------------------------------------------------------------------------------------------
# Measuring


def status_kib(field: str, pid: int | str = "self") -> int:
    found = re.search(rf"^{field}:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text(), re.M)
    return int(found.group(1)) if found else 0


def reset_high_water_mark() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    model = "unknown CPU"
    memory = None
    try:
        found = re.search(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.M)
        if found:
            model = found.group(1).strip()
        total = re.search(r"^MemTotal:\s+(\d+) kB", Path("/proc/meminfo").read_text(), re.M)
        if total:
            memory = round(int(total.group(1)) / 2**20, 1)
    except OSError:
        pass
    return {
        "cpu": model,
        "cores": len(os.sched_getaffinity(0)),
        "memory_gib": memory,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


# ---------------------------------------------------------------------------------------------
# The JSON each bench writes


def add_common_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true", help="a scaled-down smoke run")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON to this file")


def figure(
    name: str,
    value: float | int | str | None,
    unit: str = "",
    *,
    aim: str | None = None,
    met: bool | None = None,
    ratio: bool = False,
    note: str | None = None,
) -> dict[str, Any]:
    """One row of a bench's table in RESULTS.md. `ratio` marks the side-by-side figures."""
    row: dict[str, Any] = {"name": name, "value": value, "unit": unit, "ratio": ratio}
    if aim is not None:
        row["aim"] = aim
        row["met"] = met
    if note:
        row["note"] = note
    return row


def write_json(
    path: Path | None,
    bench: str,
    title: str,
    settings: dict[str, Any],
    figures: list[dict[str, Any]],
    notes: list[str] | None = None,
    details: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The bench's result as bench/run.py reads it; written to `path` when given. `details`
    (raw measurements, for whoever reads the JSON) goes under its own key, not in the table."""
    data = {
        "bench": bench,
        "title": title,
        "settings": settings,
        "figures": figures,
        "notes": notes or [],
        "machine": machine(),
    }
    if details is not None:
        data["details"] = details
    if path is not None:
        path.write_text(json.dumps(data, indent=2, default=str))
    return data


def seeded(seed: int) -> random.Random:
    return random.Random(seed)
