"""A background job (`wait=False`) while other cells block the kernel, in a real ipykernel.

The same batch (photos with several APPENDs each, the in-process emulator with 50-100 ms of
latency per request) runs in a real kernel, cell by cell as a user would, two ways in
alternate rounds:

- alone: one cell starts the job, the next one waits for it (`job.wait()`);
- with sleeps: one cell starts the job, then two cells of `time.sleep(4)`, then `job.wait()`.

Its wall time is from the call that starts it to the batch's `finished_at`. A job that keeps
uploading while cells block takes as long either way (the sleeps end after the batch when it
is shorter than 8 s); a job that only runs between cells is stalled for the sleeps' length.
Prints both medians, their ratio, and what the job had done when the second sleep began.

Usage: python bench/background_job.py [--files 100] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.kernelrun import Kernel

SETUP = """
import json, time
import mediakit as mk
FOLDER = {folder!r}

def start():
    global job, emu, t0
    emu = mk.Emulator(latency=(0.05, 0.1), seed=1)
    t0 = time.time()
    job = mk.upload_folder(FOLDER, emulator=emu, journal=False, chunk_size=64 * 1024,
                           progress="widgets", wait=False)

def counts():
    return dict(job.result.counts)

def finish():
    result = job.wait()
    emu.close()
    assert result.ok, result.summary()
    print(json.dumps({{"wall": result.finished_at - t0, "requests": len(result.events)}}))
"""


def make_folder(folder: Path, files: int) -> None:
    from PIL import Image

    for i in range(files):
        # About 200 KB of noise: four 64 KiB APPENDs per photo.
        Image.effect_noise((480, 360), 50 + i % 20).convert("RGB").save(
            folder / f"photo_{i:03}.jpg", quality=95
        )


def last_json(text: str) -> dict[str, object]:
    found: dict[str, object] = json.loads(text.strip().splitlines()[-1])
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "media"
        folder.mkdir()
        make_folder(folder, args.files)
        walls: dict[str, list[float]] = {"alone": [], "with sleeps": []}
        during: list[dict[str, object]] = []
        requests = 0
        with Kernel(Path(tmp), env={"MEDIAKIT_PROGRESS": "widgets"}) as kernel:
            kernel.run(SETUP.format(folder=str(folder)))
            for _ in range(args.rounds):
                kernel.run("start()")
                out = last_json(kernel.run("finish()").stdout)
                walls["alone"].append(float(str(out["wall"])))
                kernel.run("start()")
                kernel.run("time.sleep(4)")
                second = kernel.run("print(json.dumps(counts())); time.sleep(4)")
                during.append(last_json(second.stdout))
                out = last_json(kernel.run("finish()").stdout)
                walls["with sleeps"].append(float(str(out["wall"])))
                requests = int(str(out["requests"]))
    alone, slept = (statistics.median(walls[k]) for k in ("alone", "with sleeps"))
    print(f"{args.files} photos, {requests} requests, {args.rounds} rounds, {os.cpu_count()} cores")
    for name, values in walls.items():
        shown = ", ".join(f"{v:.2f}" for v in values)
        print(f"  {name:12} median {statistics.median(values):6.2f} s   ({shown})")
    print(f"  ratio with sleeps / alone: {slept / alone:.2f}")
    print(f"  when the second sleep began: {during}")
    return 0


if __name__ == "__main__":
    started = time.monotonic()
    code = main()
    print(f"  (bench took {time.monotonic() - started:.0f} s)")
    raise SystemExit(code)
