"""A background job (`wait=False`) while other cells block the kernel, in a real ipykernel.

The same batch (photos with several APPENDs each, the in-process emulator with 50-100 ms of
latency per request) runs in a real kernel, cell by cell as a user would, two ways in
alternate rounds:

- alone: one cell starts the job, the next one waits for it (`job.wait()`);
- with sleeps: one cell starts the job, then two cells of `time.sleep(4)`, then `job.wait()`.

Its wall time is from the call that starts it to the batch's `finished_at`. A job that keeps
uploading while cells block takes as long either way (the sleeps end after the batch when it
is shorter than 8 s); a job that only runs between cells is stalled for the sleeps' length.
Prints both medians, their ratio (aim ≤ 1.2: the sleeps cost the job nothing), and what the
job had done when the second sleep began.

Usage: python bench/background_job.py [--quick] [--json PATH] [--files 100] [--rounds 3]
[--sleep 4]. `--quick` is the CI smoke run (20 photos, 1 round, sleeps of 2 s); `--json` writes
the figures in the shape bench/run.py renders.
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
sys.path.insert(0, str(Path(__file__).resolve().parent))

import _workloads as w

from tests.kernelrun import Kernel

RATIO_AIM = 1.2  # the job's wall time with the sleeps over alone: blocked cells cost it nothing

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


def done_of(counts: dict[str, object]) -> int:
    return sum(int(str(n)) for state, n in counts.items() if state in ("succeeded", "failed"))


def figures_of(
    walls: dict[str, list[float]], during: list[dict[str, object]], files: int, sleep: float
) -> list[dict[str, object]]:
    """Both medians, their ratio against its aim, and how far the job got during the sleeps."""
    alone, slept = (statistics.median(walls[k]) for k in ("alone", "with sleeps"))
    ratio = round(slept / alone, 2)
    done = statistics.median(done_of(c) for c in during)
    return [
        w.figure("alone: start, then job.wait()", round(alone, 2), "s", note="median"),
        w.figure(
            f"with two time.sleep({sleep:g}) cells before job.wait()",
            round(slept, 2),
            "s",
            note="median",
        ),
        w.figure(
            "with sleeps / alone",
            ratio,
            "×",
            ratio=True,
            aim=f"≤ {RATIO_AIM:g}",
            met=ratio <= RATIO_AIM,
            note=f"a job stalled by blocked cells would take about {2 * sleep:g} s more",
        ),
        w.figure("files done when the second sleep began", done, f"of {files}", note="median"),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    w.add_common_args(parser)
    parser.add_argument("--files", type=int, help="photos in the batch (100; --quick 20)")
    parser.add_argument("--rounds", type=int, help="rounds of both ways (3; --quick 1)")
    parser.add_argument("--sleep", type=float, help="seconds each sleeping cell sleeps (4; 2)")
    args = parser.parse_args()
    files = args.files or (20 if args.quick else 100)
    rounds = args.rounds or (1 if args.quick else 3)
    sleep = args.sleep or (2.0 if args.quick else 4.0)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "media"
        folder.mkdir()
        make_folder(folder, files)
        walls: dict[str, list[float]] = {"alone": [], "with sleeps": []}
        during: list[dict[str, object]] = []
        requests = 0
        with Kernel(Path(tmp), env={"MEDIAKIT_PROGRESS": "widgets"}) as kernel:
            kernel.run(SETUP.format(folder=str(folder)))
            for _ in range(rounds):
                kernel.run("start()")
                out = last_json(kernel.run("finish()").stdout)
                walls["alone"].append(float(str(out["wall"])))
                kernel.run("start()")
                kernel.run(f"time.sleep({sleep})")
                second = kernel.run(f"print(json.dumps(counts())); time.sleep({sleep})")
                during.append(last_json(second.stdout))
                out = last_json(kernel.run("finish()").stdout)
                walls["with sleeps"].append(float(str(out["wall"])))
                requests = int(str(out["requests"]))
    alone, slept = (statistics.median(walls[k]) for k in ("alone", "with sleeps"))
    print(f"{files} photos, {requests} requests, {rounds} rounds, {os.cpu_count()} cores")
    for name, values in walls.items():
        shown = ", ".join(f"{v:.2f}" for v in values)
        print(f"  {name:12} median {statistics.median(values):6.2f} s   ({shown})")
    print(f"  ratio with sleeps / alone: {slept / alone:.2f}")
    print(f"  when the second sleep began: {during}")
    if args.json is not None:
        figures = figures_of(walls, during, files, sleep)
        settings = {
            "files": f"{files} photos of about 200 KB, 64 KiB chunks",
            "requests": requests,
            "rounds": rounds,
            "sleep": f"2 cells of {sleep:g} s",
            "emulator": "in-process, 50-100 ms latency per request",
            "kernel": "a real ipykernel, progress='widgets'",
        }
        notes = ["Quick run: one round of a small batch; the ratio shows the script works, "
                 "not the job's behaviour."] if args.quick else []  # fmt: skip
        w.write_json(args.json, "background_job", "A background job while other cells block",
                     settings, figures, notes,
                     details={"walls_s": walls, "when_the_second_sleep_began": during})  # fmt: skip
    return 0


if __name__ == "__main__":
    started = time.monotonic()
    code = main()
    print(f"  (bench took {time.monotonic() - started:.0f} s)")
    raise SystemExit(code)
