"""mediakit against tweepy and xdk, one file at a time, on the same emulator (issue #16).

Two batches, each uploaded by three clients, every run against a fresh `mediakit emulator` in
another process, served over TLS (tweepy only speaks https), with 100-150 ms of added latency
per request, X's rate limits on and processing of 2-6 s for videos and GIFs:

- photos: 200 JPEG photos of 0.3-2 MB (random pixels, so the bytes are real), the most common
  campaign: upload-bound;
- mixed: 50 files as bench/batch.py makes them (30 pictures, 10 GIFs, 10 MP4 videos):
  processing-bound.

Clients, each as its users write it:

- mediakit: `upload_files_async(files, base_url=..., verify=CA)`, defaults (adaptive
  concurrency, 4 MiB chunks, 3 APPENDs in flight per file);
- tweepy 4.17: `API.media_upload(path, chunked=True, media_category=...)` per file (INIT,
  1 MiB APPENDs, FINALIZE, then it sleeps `check_after_secs` until processed), one at a time;
- xdk: `initialize_upload`, `append_upload` (base64 JSON, 1 MiB chunks), `finalize_upload`,
  `get_upload_status` every `check_after_secs`, per file, one at a time.

For mediakit the bound is bench/batch.py's ideal (from the emulator's own records of the run:
median round trips per command, the recorded processing times, an ideal poller), computed for
the most files mediakit had in flight at once. Beside the times: the 429 answers the emulator
gave each client, and each client process's peak RSS above its RSS before the batch.

The figures (`--json PATH`, the shape bench/run.py renders): each client's wall time per batch,
tweepy's and xdk's over mediakit's (aim ≥ 5×), mediakit's over its bound (aim ≤ 1.25×), and
every client's 429s and peak RSS.

Usage: python bench/peers.py [--quick] [--json PATH] [--photos 200] [--mixed 50] [--seed 1]
`--quick` is the CI smoke run (6 photos, 4 mixed files, processing 0.5-1 s, 20-40 ms of
latency): it shows the script works; its ratios compare nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import random
import re
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

import _workloads as w  # noqa: E402
import batch as batch_bench  # noqa: E402  (bench/batch.py: the files and the ideal)

CLIENTS = ("mediakit", "tweepy", "xdk")
PEER_CHUNK = 1024 * 1024
# --quick: a CI smoke run (tweepy and xdk upload one file at a time, so every file costs them
# its round trips and processing in full).
QUICK_PHOTOS, QUICK_MIXED, QUICK_PROCESSING, QUICK_LATENCY = 6, 4, "0.5,1", "20ms-40ms"
CATEGORY = {"image": "tweet_image", "gif": "tweet_gif", "video": "tweet_video"}


# ---------------------------------------------------------------------------------------------
# Files, TLS, the emulator


def make_photos(folder: Path, count: int, seed: int) -> list[Path]:
    """JPEG photos of 0.3-2 MB: random pixels at about 0.77 bytes per pixel (quality 85)."""
    rng = random.Random(seed)
    paths = []
    for i in range(count):
        target = rng.uniform(0.3e6, 2.0e6)
        width = int((target / 0.77 * 4 / 3) ** 0.5)
        paths.append(
            batch_bench.noisy_picture(folder / f"photo{i:03d}.jpg", width, width * 3 // 4, rng)
        )
    return paths


def make_tls(folder: Path) -> dict[str, str]:
    import trustme

    ca = trustme.CA()
    issued = ca.issue_cert("127.0.0.1", "localhost")
    paths = {name: str(folder / f"{name}.pem") for name in ("ca", "cert", "key")}
    ca.cert_pem.write_to_path(paths["ca"])
    issued.cert_chain_pems[0].write_to_path(paths["cert"])
    issued.private_key_pem.write_to_path(paths["key"])
    return paths


@contextmanager
def emulator(state: Path, tls: dict[str, str], args: argparse.Namespace) -> Iterator[str]:
    """`mediakit emulator` over TLS in another process (bench/_workloads.py starts it)."""
    with w.emulator_cli(
        "--latency", args.latency, "--processing-seconds", args.processing,
        "--seed", str(args.seed), "--rate-limits", "on", "--state", str(state),
        "--ssl-certfile", tls["cert"], "--ssl-keyfile", tls["key"],
    ) as url:  # fmt: skip
        yield url


def get(url: str, ca: str) -> Any:
    return httpx.get(url, timeout=120, verify=ca).json()


# ---------------------------------------------------------------------------------------------
# One client's run, in a process of its own (its peak RSS is its own)


def kind_of(path: Path) -> str:
    suffix = path.suffix.lower()
    return "video" if suffix == ".mp4" else "gif" if suffix == ".gif" else "image"


def run_mediakit(files: list[Path], url: str, ca: str, journal: Path) -> dict[str, Any]:
    import mediakit

    started = time.perf_counter()
    result = asyncio.run(
        mediakit.upload_files_async(
            files, base_url=url, verify=ca, progress="none", journal=journal
        )
    )
    wall = time.perf_counter() - started
    frame = result.concurrency
    return {
        "wall_s": wall,
        "ok": result.counts.get("succeeded", 0),
        "summary": result.summary(),
        "concurrency_peak_limit": int(frame["limit"].max()) if len(frame) else None,
        "concurrency_changes": [
            [round(float(r.elapsed_s), 3), int(r.limit), str(r.reason)] for r in frame.itertuples()
        ],
        "records": [
            {
                "path": r.path,
                "media_id": r.media_id,
                "media_category": r.media_category,
                "bytes": r.bytes,
                "segments": r.segments,
                "started_at": r.started_at,
                "uploaded_at": r.uploaded_at,
            }
            for r in result.records
        ],
    }


def run_tweepy(files: list[Path], url: str, ca: str) -> dict[str, Any]:
    import warnings

    import tweepy

    from mediakit.emulator import DEMO

    warnings.filterwarnings("ignore", category=DeprecationWarning)  # tweepy imports imghdr
    os.environ["REQUESTS_CA_BUNDLE"] = ca
    auth = tweepy.OAuth1UserHandler(
        DEMO.consumer_key, DEMO.consumer_secret, DEMO.access_token, DEMO.access_token_secret
    )
    api = tweepy.API(auth, upload_host=url.removeprefix("https://"))
    ok = 0
    started = time.perf_counter()
    for path in files:
        media = api.media_upload(str(path), chunked=True, media_category=CATEGORY[kind_of(path)])
        info = getattr(media, "processing_info", None) or {}
        ok += info.get("state", "succeeded") == "succeeded"
    return {"wall_s": time.perf_counter() - started, "ok": ok}


def run_xdk(files: list[Path], url: str, ca: str) -> dict[str, Any]:
    from xdk import Client
    from xdk.media.models import AppendUploadRequest, InitializeUploadRequest

    from mediakit._detect import sniff
    from mediakit.emulator import DEMO

    os.environ["REQUESTS_CA_BUNDLE"] = ca
    client = Client(base_url=url, access_token=DEMO.user_token)
    ok = 0
    started = time.perf_counter()
    for path in files:
        data = path.read_bytes()
        init = client.media.initialize_upload(
            InitializeUploadRequest(
                total_bytes=len(data),
                media_type=sniff(data[:4096]) or "image/jpeg",
                media_category=CATEGORY[kind_of(path)],
            )
        )
        media_id = init.data.id
        for index, offset in enumerate(range(0, len(data), PEER_CHUNK)):
            piece = base64.b64encode(data[offset : offset + PEER_CHUNK]).decode()
            client.media.append_upload(
                media_id, AppendUploadRequest(media=piece, segment_index=index)
            )
        done = client.media.finalize_upload(media_id)
        info = done.data.processing_info
        while info is not None and info.state in ("pending", "in_progress"):
            time.sleep(max(1, info.check_after_secs or 1))
            info = client.media.get_upload_status(media_id, command="STATUS").data.processing_info
        ok += info is None or info.state == "succeeded"
    return {"wall_s": time.perf_counter() - started, "ok": ok}


def worker(spec_path: Path) -> None:
    spec = json.loads(spec_path.read_text())
    files = [Path(p) for p in spec["files"]]
    # A one-picture warm-up batch first, for every client: imports, the TLS context and the
    # first connection are not the batch's time or memory.
    warm = spec_path.parent / "warm-up.jpg"
    batch_bench.noisy_picture(warm, 64, 48, random.Random(0))
    if spec["client"] == "mediakit":
        run_mediakit([warm], spec["url"], spec["ca"], spec_path.parent / "warm.sqlite")
    elif spec["client"] == "tweepy":
        run_tweepy([warm], spec["url"], spec["ca"])
    else:
        run_xdk([warm], spec["url"], spec["ca"])
    before = w.status_kib("VmRSS")
    if spec["client"] == "mediakit":
        out = run_mediakit(files, spec["url"], spec["ca"], Path(spec["journal"]))
    elif spec["client"] == "tweepy":
        out = run_tweepy(files, spec["url"], spec["ca"])
    else:
        out = run_xdk(files, spec["url"], spec["ca"])
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    out["rss_before_mib"] = before / 1024
    out["rss_peak_above_start_mib"] = max(0, peak - before) / 1024
    Path(spec["out"]).write_text(json.dumps(out))


# ---------------------------------------------------------------------------------------------
# The bound, from the emulator's records of mediakit's run


def peak_in_flight(records: list[dict[str, Any]]) -> int:
    steps = []
    for r in records:
        if r["started_at"] and r["uploaded_at"]:
            steps += [(r["started_at"], 1), (r["uploaded_at"], -1)]
    peak = running = 0
    for _, step in sorted(steps):
        running += step
        peak = max(peak, running)
    return max(1, peak)


def bound(out: dict[str, Any], media: dict[str, Any], requests: list[Any], latency: float) -> Any:
    from types import SimpleNamespace

    records = [SimpleNamespace(**r) for r in out["records"]]
    concurrency = peak_in_flight(out["records"])
    run = batch_bench.Run(
        "mediakit", concurrency, 3, out["wall_s"], SimpleNamespace(records=records), media, requests
    )
    model = batch_bench.model_from(run)
    model.latency_s = latency
    planned = batch_bench.ideal(run, model)
    return max(item.end_s for item in planned), concurrency


# ---------------------------------------------------------------------------------------------


def one_run(
    client: str, files: list[Path], tmp: Path, tls: dict[str, str], args: argparse.Namespace
) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(dir=tmp))
    with emulator(folder / "state.sqlite", tls, args) as url:
        spec = {
            "client": client,
            "files": [str(p) for p in files],
            "url": url,
            "ca": tls["ca"],
            "journal": str(folder / "journal.sqlite"),
            "out": str(folder / "out.json"),
        }
        (folder / "spec.json").write_text(json.dumps(spec))
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        subprocess.run(
            [sys.executable, __file__, "--worker", str(folder / "spec.json")], check=True, env=env
        )
        out: dict[str, Any] = json.loads((folder / "out.json").read_text())
        requests = get(f"{url}/_emulator/requests", tls["ca"])
        out["http_429"] = sum(1 for r in requests if r.get("status") == 429)
        if client == "mediakit":
            ours = {r["media_id"] for r in out["records"]}
            media = {m["media_id"]: m for m in get(f"{url}/_emulator/media", tls["ca"])}
            media = {k: v for k, v in media.items() if k in ours}
            mine = [r for r in requests if r.get("media_id") in ours]
            out["requests"] = len(mine)
            low = float(re.findall(r"[\d.]+", args.latency)[0]) / 1000
            out["bound_s"], out["bound_concurrency"] = bound(out, media, mine, low)
        out.setdefault("requests", len(requests) - 3)  # less the warm-up's INIT, APPEND, FINALIZE
        return out


# ---------------------------------------------------------------------------------------------
# The figures bench/run.py renders

# Aims as bench/batch.py sets them for the same kinds of comparison: one file at a time at
# least 5× slower (its C / A), mediakit within 1.25× of its ideal schedule (its A / ideal).
PEER_AIM = 5.0
BOUND_AIM = 1.25


def figures_of(batches: dict[str, Any]) -> list[dict[str, Any]]:
    """Per batch: each client's wall time, each peer's over mediakit's, mediakit's over its
    bound, and the 429s and peak RSS of every client."""
    rows: list[dict[str, Any]] = []
    for label, entry in batches.items():
        runs = entry["runs"]
        for client, out in runs.items():
            rows.append(w.figure(f"{label}: {client}", round(out["wall_s"], 2), "s",
                                 note=f"{out['ok']}/{entry['files']} ok"))  # fmt: skip
        if "mediakit" not in runs:
            continue
        for peer in ("tweepy", "xdk"):
            if f"{peer}_over_mediakit" in entry:
                ratio = round(entry[f"{peer}_over_mediakit"], 2)
                rows.append(w.figure(f"{label}: {peer} / mediakit", ratio, "×", ratio=True,
                                     aim=f"≥ {PEER_AIM:g}", met=ratio >= PEER_AIM))  # fmt: skip
        mk_run = runs["mediakit"]
        ratio = round(entry["mediakit_over_bound"], 2)
        rows.append(w.figure(
            f"{label}: mediakit / its bound", ratio, "×", ratio=True,
            aim=f"≤ {BOUND_AIM:g}", met=ratio <= BOUND_AIM,
            note=f"bound {mk_run['bound_s']:.2f} s at {mk_run['bound_concurrency']} files at "
                 "once, the client's CPU cost counted as zero",
        ))  # fmt: skip
        clients = list(runs)
        rows.append(w.figure(
            f"{label}: 429 answers ({' / '.join(clients)})",
            " / ".join(str(runs[c]["http_429"]) for c in clients),
        ))  # fmt: skip
        rows.append(w.figure(
            f"{label}: peak RSS above start ({' / '.join(clients)})",
            " / ".join(f"{runs[c]['rss_peak_above_start_mib']:.0f}" for c in clients), "MiB",
        ))  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    w.add_common_args(parser)
    parser.add_argument("--photos", type=int, help="photos in the upload-bound batch (200)")
    parser.add_argument("--mixed", type=int, help="files in the mixed batch (50)")
    parser.add_argument("--latency", help="added latency per request (100ms-150ms)")
    parser.add_argument("--processing", help="processing seconds, LOW,HIGH (2,6)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--clients", default=",".join(CLIENTS), help="which clients to run")
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker is not None:
        worker(args.worker)
        return
    args.photos = args.photos if args.photos is not None else (QUICK_PHOTOS if args.quick else 200)
    args.mixed = args.mixed if args.mixed is not None else (QUICK_MIXED if args.quick else 50)
    args.processing = args.processing or (QUICK_PROCESSING if args.quick else "2,6")
    args.latency = args.latency or (QUICK_LATENCY if args.quick else "100ms-150ms")
    clients = [c for c in args.clients.split(",") if c]

    settings = {
        "photos": f"{args.photos} JPEG photos of 0.3-2 MB (upload-bound)",
        "mixed": f"{args.mixed} files: 60 % pictures, 20 % GIFs, 20 % MP4s (processing-bound)",
        "latency": args.latency,
        "processing_s": args.processing,
        "rate_limits": "on (X's published budgets)",
        "seed": args.seed,
        "quick": args.quick,
        "transport": "TLS over loopback, HTTP/1.1 (uvicorn)",
    }
    batches_out: dict[str, Any] = {}
    print(f"machine: {w.machine()}")
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        tls = make_tls(tmp)
        (tmp / "photos").mkdir()
        (tmp / "mixed").mkdir()
        batches = {
            "photos": make_photos(tmp / "photos", args.photos, args.seed),
            "mixed": batch_bench.make_media(tmp / "mixed", args.mixed, args.seed),
        }
        for label, files in batches.items():
            total = sum(p.stat().st_size for p in files)
            kinds = Counter(kind_of(p) for p in files)
            print(f"\n{label}: {len(files)} files, {total / 1e6:.1f} MB ({dict(kinds)})")
            runs: dict[str, Any] = {}
            for client in clients:
                out = one_run(client, files, tmp, tls, args)
                runs[client] = out
                line = (
                    f"  {client:<9} {out['wall_s']:7.2f} s  {out['ok']}/{len(files)} ok  "
                    f"429s {out['http_429']}  requests {out['requests']}  "
                    f"peak RSS +{out['rss_peak_above_start_mib']:.0f} MiB"
                )
                if client == "mediakit":
                    line += (
                        f"  bound {out['bound_s']:.2f} s at {out['bound_concurrency']} at once "
                        f"({out['wall_s'] / out['bound_s']:.2f}x)"
                    )
                print(line, flush=True)
                out.pop("records", None)
            entry: dict[str, Any] = {"files": len(files), "bytes": total, "runs": runs}
            if "mediakit" in runs:
                mk_s = runs["mediakit"]["wall_s"]
                entry["mediakit_over_bound"] = mk_s / runs["mediakit"]["bound_s"]
                for peer in ("tweepy", "xdk"):
                    if peer in runs:
                        entry[f"{peer}_over_mediakit"] = runs[peer]["wall_s"] / mk_s
                        print(f"  {peer} / mediakit = {runs[peer]['wall_s'] / mk_s:.1f}x")
                print(
                    f"  mediakit / bound = {entry['mediakit_over_bound']:.2f}  "
                    f"({runs['mediakit']['summary']})"
                )
            batches_out[label] = entry
    if args.json is not None:
        notes = ["Quick run: a few files, low latency, short processing; its ratios show the "
                 "script works, not how the clients compare."] if args.quick else []  # fmt: skip
        w.write_json(args.json, "peers", "mediakit against tweepy and xdk, one file at a time",
                     settings, figures_of(batches_out), notes,
                     details={"batches": batches_out})  # fmt: skip
        print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
