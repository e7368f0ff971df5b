"""`mediakit demo`: sample media, uploaded to the built-in emulator, in one command.

What a newcomer runs first (the README's Quick start). It makes a sample folder, uploads it to
an emulator with a fresh state (so it never "skips" files uploaded by an earlier demo), shows
the text dashboard, prints the summary, what was refused and why, the latency table, and where
everything is, then what to try next.
"""

from __future__ import annotations

import argparse
import importlib.util
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from ._cli_common import (
    EXIT_FAILED,
    EXIT_OK,
    Formatter,
    exit_code,
    failure_lines,
    plural,
    run_job,
    write_frame,
)
from ._cli_upload import positive_int

if TYPE_CHECKING:
    import pandas as pd

    import mediakit as mk

__all__ = ["add_parser", "run"]

EXAMPLES = """\
examples:
  mediakit demo                        # 20 files in a new temporary folder
  mediakit demo -n 40 --folder demo/   # 40 files, kept in demo/

Nothing leaves the machine: the upload goes to the emulator built into mediakit, which
answers as X's media API does (chunked upload, processing of videos and GIFs, refusals).

exit codes:
  0    the demo ran as intended (its two bad files are meant to be refused)
  1    something did not go as the demo expects
  130  cancelled (Ctrl-C)"""

LATENCY_COLUMNS = {
    "count": "files",
    "upload_median_s": "upload median s",
    "processing_median_s": "processing median s",
    "processing_p90_s": "processing p90 s",
    "total_max_s": "total max s",
}


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    cmd = sub.add_parser(
        "demo",
        help="make sample media and upload it to the built-in emulator (start here)",
        description="Make a folder of sample media (photos, animated GIFs, short videos and "
        "two bad files) and upload it to the built-in emulator of X's media API.",
        epilog=EXAMPLES,
        formatter_class=Formatter,
    )
    cmd.add_argument(
        "--folder",
        type=Path,
        metavar="DIR",
        help="where to put the samples, journal and results (default: a new temporary folder)",
    )
    cmd.add_argument(
        "-n", type=positive_int, default=20, metavar="N", help="how many files (default 20)"
    )
    cmd.add_argument("--seed", type=int, default=1, help="the same seed makes the same files")
    cmd.add_argument(
        "--concurrency",
        type=positive_int,
        default=None,
        metavar="N",
        help="the most files at once (default: adaptive)",
    )
    cmd.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import mediakit as mk

    home = (args.folder or Path(tempfile.mkdtemp(prefix="mediakit-demo-"))).absolute()
    home.mkdir(parents=True, exist_ok=True)
    print("mediakit demo: sample media → the built-in X media API emulator (nothing leaves")
    print(f"this machine). Everything goes to {home}\n")

    started = time.monotonic()
    samples = mk.samples.make_folder(home / "samples", n=max(args.n, 2), seed=args.seed)
    print(f"Made {_describe(samples)} in {time.monotonic() - started:.1f} s: {samples.path}")
    for note in samples.notes:
        print(f"  note: {note}")
    for bad in samples.bad:
        print(f"  {bad.path.name} is bad on purpose: {bad.problem}")
    print()

    journal = home / "journal.sqlite"
    # A fresh emulator state each run, so a second demo uploads again instead of skipping.
    emulator = mk.Emulator()
    try:
        result, interrupted = run_job(
            lambda: mk.upload_folder(
                samples,
                wait=False,
                emulator=emulator,
                journal=journal,
                concurrency=args.concurrency,
                progress="text",
            )
        )
    finally:
        emulator.close()
    for line in failure_lines(result, samples.path):
        print(line)
    results = _save(result.items, home)
    if interrupted:
        print(f"\nCancelled. What was done is in {results} and {journal}.")
        return exit_code(result.counts, interrupted=True)

    print()
    print("Latency by media category and size (seconds; processing is X's, here the emulator's):")
    print(_latency_table(result.latency()))
    print()
    print(f"Results, one row per file: {results}")
    reader = "read_parquet" if results.suffix == ".parquet" else "read_csv"
    print(f"  read it back with mk.{reader}({str(results)!r})")
    print(f"Journal of the batch:      {journal}")
    print(f"Sample folder:             {samples.path}")
    print(f"\nDone in {time.monotonic() - started:.1f} s.")
    print(_next_steps(samples.path, journal))
    return _demo_code(result, samples)


def _describe(samples: mk.samples.SampleFolder) -> str:
    kinds = [("photo", "photo"), ("gif", "animated GIF"), ("video", "video")]
    parts = [
        plural(sum(1 for f in samples.good if f.kind == kind), word)
        for kind, word in kinds
        if any(f.kind == kind for f in samples.good)
    ]
    if samples.bad:
        parts.append(f"{len(samples.bad)} bad files")
    size = f"{samples.bytes / 2**20:.1f} MiB"
    return f"{len(samples.files)} sample files ({', '.join(parts)}; {size})"


def _save(items: pd.DataFrame, home: Path) -> Path:
    """Parquet when pyarrow is there (types kept exactly), CSV otherwise."""
    suffix = ".parquet" if importlib.util.find_spec("pyarrow") is not None else ".csv"
    return write_frame(items, home / f"results{suffix}")


def _latency_table(latency: pd.DataFrame) -> str:
    if latency.empty:
        return "  (no file succeeded)"
    table = latency[[c for c in LATENCY_COLUMNS if c in latency.columns]]
    table = table.rename(columns=LATENCY_COLUMNS).round(2)
    return "\n".join("  " + line for line in table.to_string(na_rep="-").splitlines())


def _next_steps(folder: Path, journal: Path) -> str:
    import mediakit

    checkout = Path(mediakit.__file__).parent.parent / "notebooks"
    # From a clone the notebooks are right there; a pip-installed wheel does not carry them.
    notebooks = checkout if checkout.is_dir() else Path("notebooks")
    source = "" if checkout.is_dir() else " (in mediakit's repository, or on Binder)"
    return "\n".join(
        [
            "",
            "Try next:",
            f"  jupyter lab {notebooks / '01-quickstart.ipynb'}",
            "      the same in a notebook: the live dashboard, the DataFrames, latency plots"
            + source,
            f"  mediakit upload {folder}",
            "      the same folder from the terminal (run it twice: the second run skips)",
            f"  mediakit journal {journal}",
            "      this batch, read back from its journal",
            f"  jupyter lab {notebooks / '04-real-account.ipynb'}",
            "      your own X account: credentials step by step, plan, upload",
            "  mediakit --help",
        ]
    )


def _demo_code(result: mk.UploadResult, samples: mk.samples.SampleFolder) -> int:
    """0 when every good file was uploaded and every bad one refused, as the demo intends."""
    items = result.items
    states = dict(zip(items["path"].astype(str), items["state"].astype(str), strict=True))
    expected = {str(f.path.absolute()): f.expected_state for f in samples.files}
    return EXIT_OK if states == expected else EXIT_FAILED
