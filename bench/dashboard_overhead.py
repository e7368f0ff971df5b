"""What the widget dashboard costs a batch, measured in a real Jupyter kernel.

nbclient runs a notebook in an ipykernel: the same batch (many small files with several
APPENDs each, against the in-process emulator with rate limits off: the most changes per
second a batch makes, so the worst case for a progress view) runs with `progress="widgets"`
and with `progress="none"`, alternately, each in a cell of its own as a user would. Widget
messages travel to nbclient over the kernel's real channels. Prints the median time of each
and the overhead (aim: at most 5 %).

Usage: python bench/dashboard_overhead.py [--quick] [--json PATH] [--files 300] [--repeat 10]
[--check] (`--check` exits 1 when the overhead is over 5 %; `--quick`: 30 files, 2 runs each.)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

import nbformat
from nbclient import NotebookClient

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _workloads as w

SETUP = """
import json, time
import mediakit as mk
FOLDER = {folder!r}
times = {{"widgets": [], "none": [], "requests": 0}}

def run(mode):
    emu = mk.Emulator(rate_limits=False)
    try:
        started = time.perf_counter()
        result = mk.upload_folder(
            FOLDER, emulator=emu, progress=mode, journal=False, chunk_size=16 * 1024
        )
        times[mode].append(time.perf_counter() - started)
    finally:
        emu.close()
    assert result.ok, result.summary()
    times["requests"] = len(result.events)
"""


def make_folder(folder: Path, files: int) -> None:
    from PIL import Image

    for i in range(files):
        # About 70 KB of noise: five 16 KiB APPENDs per file.
        noise = Image.effect_noise((320, 240), 60).convert("RGB")
        noise.save(folder / f"img_{i:04}.jpg", quality=95)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--check", action="store_true", help="exit 1 when over 5 %%")
    w.add_common_args(parser)
    args = parser.parse_args()
    if args.quick:
        args.files, args.repeat = 30, 2

    with tempfile.TemporaryDirectory(prefix="mediakit-bench-") as tmp:
        folder = Path(tmp) / "media"
        folder.mkdir()
        make_folder(folder, args.files)
        cells = [nbformat.v4.new_code_cell(SETUP.format(folder=str(folder)))]
        cells.append(nbformat.v4.new_code_cell('run("none")'))  # warm-up: imports, caches
        for i in range(args.repeat):
            order = ("widgets", "none") if i % 2 == 0 else ("none", "widgets")
            cells += [nbformat.v4.new_code_cell(f"run({mode!r})") for mode in order]
        cells.append(
            nbformat.v4.new_code_cell("times['none'] = times['none'][1:]\nprint(json.dumps(times))")
        )
        notebook = nbformat.v4.new_notebook(cells=cells)
        os.environ["XDG_CACHE_HOME"] = str(Path(tmp) / "cache")
        os.environ.pop("MEDIAKIT_PROGRESS", None)
        NotebookClient(notebook, timeout=1800, kernel_name="python3").execute()
        outputs = notebook.cells[-1].outputs
        times = json.loads(outputs[0]["text"])

    widgets, none = statistics.median(times["widgets"]), statistics.median(times["none"])
    # Runs side by side form pairs: their ratios cancel the machine's drift.
    overhead = (
        statistics.median(w / n for w, n in zip(times["widgets"], times["none"], strict=True)) - 1
    )
    print(
        f"{args.files} files ({times['requests']:,} requests), {args.repeat} runs each,"
        " in an ipykernel driven by nbclient"
    )
    print(
        f"  progress='none':    median {none:.3f} s  {sorted(round(t, 3) for t in times['none'])}"
    )
    print(
        f"  progress='widgets': median {widgets:.3f} s  "
        f"{sorted(round(t, 3) for t in times['widgets'])}"
    )
    print(f"  overhead (median of paired runs): {100 * overhead:+.1f} % (aim: at most 5 %)")
    w.write_json(
        args.json,
        "dashboard_overhead",
        "Dashboard overhead in a real kernel",
        {
            "files": args.files,
            "requests per batch": times["requests"],
            "runs each": args.repeat,
            "emulator": "in-process, rate limits off",
            "kernel": "ipykernel driven by nbclient",
        },
        [
            w.figure("progress='none', median", round(none, 3), "s"),
            w.figure("progress='widgets', median", round(widgets, 3), "s"),
            w.figure(
                "overhead, median of paired runs",
                round(100 * overhead, 1),
                "%",
                aim="≤ 5 %",
                met=overhead <= 0.05,
                ratio=True,
            ),
        ],
    )
    return 1 if args.check and overhead > 0.05 else 0


if __name__ == "__main__":
    sys.exit(main())
