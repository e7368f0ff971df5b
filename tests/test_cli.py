"""The `mediakit` command, run as users run it: real subprocesses, real exit codes.

Uploads go to an emulator served over a real socket by this test process (fast processing,
and failures when a test needs them), or to the built-in emulator of the subprocess, whose
cache directory is the test's own (conftest's `own_cache_dir`, inherited by subprocesses).
"""

from __future__ import annotations

import json
import os
import pty
import re
import select
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

import mediakit as mk
from mediakit._cli_common import CATEGORIES
from mediakit._limits import CATEGORIES as LIMITS_CATEGORIES
from mediakit.emulator import Emulator, running

from . import mediafactory as mf
from .mediafactory import make_gif, make_jpeg, make_png

# A safety net against a hung child, never a synchronisation: tests wait for the process.
HANG_S = 180


def mediakit(
    *args: str | Path, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mediakit", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=HANG_S,
        env=env,
        cwd=cwd,
    )


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    """An emulator on a real socket, processing GIFs and videos in a fraction of a second."""
    with (
        Emulator(processing_seconds=(0.1, 0.3), seed=3, state=tmp_path / "server.sqlite") as emu,
        running(emu) as url,
    ):
        yield url


@pytest.fixture
def failing_server(tmp_path: Path) -> Iterator[str]:
    """An emulator whose processing of every GIF and video fails (InvalidMedia)."""
    with (
        Emulator(
            processing_seconds=0.1,
            processing_failure_rate=1.0,
            seed=3,
            state=tmp_path / "failing.sqlite",
        ) as emu,
        running(emu) as url,
    ):
        yield url


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(3):
        make_jpeg(folder / f"p{i}.jpg")
    make_png(folder / "card.png")
    return folder


@pytest.fixture
def mixed(photos: Path) -> Path:
    """Photos, an animated GIF (processed by X) and a file that is not media."""
    make_gif(photos / "loop.gif", frames=4)
    (photos / "notes.txt").write_text("not media\n")
    return photos


# --- help, version, usage ------------------------------------------------------------------


def test_version_and_help_everywhere() -> None:
    version = mediakit("--version")
    assert version.returncode == 0
    assert version.stdout.strip() == f"mediakit {mk.__version__}"
    top = mediakit("--help")
    assert top.returncode == 0
    for command in ("demo", "upload", "preflight", "plan", "journal", "emulator"):
        assert command in top.stdout
    assert "examples:" in top.stdout
    for command in ("demo", "upload", "preflight", "plan", "journal"):
        shown = mediakit(command, "--help")
        assert shown.returncode == 0, shown.stderr
        assert "examples:" in shown.stdout, command
        assert "exit codes:" in shown.stdout, command
    upload_help = mediakit("upload", "--help").stdout
    for code, meaning in (
        ("0", "every file succeeded or was already uploaded"),
        ("1", "some file failed"),
        ("2", "bad usage"),
        ("3", "no file failed, but some were invalid"),
        ("130", "cancelled (Ctrl-C)"),
    ):
        assert re.search(rf"^\s+{code}\s+{re.escape(meaning)}", upload_help, re.M), code
    assert "cancelled wins over failed, and failed over invalid" in upload_help


def test_no_command_and_bad_flags_are_usage_errors(photos: Path) -> None:
    assert mediakit().returncode == 2
    bad_flag = mediakit("upload", photos, "--no-such-flag")
    assert bad_flag.returncode == 2
    assert "unrecognized arguments: --no-such-flag" in bad_flag.stderr
    bad_number = mediakit("upload", photos, "--concurrency", "0")
    assert bad_number.returncode == 2
    assert "--concurrency" in bad_number.stderr
    bad_api = mediakit("upload", photos, "--api", "v3")
    assert bad_api.returncode == 2
    assert "invalid choice: 'v3'" in bad_api.stderr


def test_category_choices_are_the_limits_table() -> None:
    assert set(CATEGORIES) == {"auto", *LIMITS_CATEGORIES}


def test_missing_input_bad_out_and_missing_credentials(tmp_path: Path, photos: Path) -> None:
    missing = mediakit("upload", tmp_path / "nope")
    assert missing.returncode == 2
    assert f"{tmp_path / 'nope'}: no such file or folder" in missing.stderr
    assert "Traceback" not in missing.stderr
    bad_out = mediakit("upload", photos, "--out", tmp_path / "results.txt")
    assert bad_out.returncode == 2
    assert "name a .parquet or .csv file" in bad_out.stderr
    no_folder = mediakit("upload", photos, "--out", tmp_path / "nowhere" / "r.csv")
    assert no_folder.returncode == 2
    assert "no such folder" in no_folder.stderr
    env = {k: v for k, v in os.environ.items() if not k.startswith("X_")}
    no_keys = mediakit("upload", photos, "--target", "x", env=env)
    assert no_keys.returncode == 2
    assert "X_API_KEY" in no_keys.stderr and "X_USER_TOKEN" in no_keys.stderr
    assert "Traceback" not in no_keys.stderr
    app_only = mediakit(
        "upload", photos, "--target", "x", env={**env, "X_BEARER_TOKEN": "app-only-secret-value"}
    )
    assert app_only.returncode == 2
    assert "app-only-secret-value" not in app_only.stdout + app_only.stderr


# --- upload: exit codes --------------------------------------------------------------------


def test_all_uploaded_is_0_and_a_rerun_skips(photos: Path, server: str, tmp_path: Path) -> None:
    journal = tmp_path / "j.sqlite"
    first = mediakit("upload", photos, "--base-url", server, "--journal", journal)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "4 uploaded to " in first.stdout
    assert "Not uploaded" not in first.stdout
    again = mediakit("upload", photos, "--base-url", server, "--journal", journal)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "4 already uploaded (skipped)" in again.stdout


def test_invalid_only_is_3_and_failures_are_listed(mixed: Path, server: str) -> None:
    done = mediakit("upload", mixed, "--base-url", server)
    assert done.returncode == 3, done.stdout + done.stderr
    assert "5 uploaded to " in done.stdout
    assert "Not uploaded (1):" in done.stdout
    assert re.search(r"^\s+notes\.txt · invalid · unrecognized media type", done.stdout, re.M)


def test_failed_is_1_and_wins_over_invalid(mixed: Path, failing_server: str) -> None:
    done = mediakit("upload", mixed, "--base-url", failing_server)
    assert done.returncode == 1, done.stdout + done.stderr
    assert re.search(r"^\s+loop\.gif · failed · .*InvalidMedia", done.stdout, re.M), done.stdout
    assert re.search(r"^\s+notes\.txt · invalid · ", done.stdout, re.M)


def test_the_default_target_is_the_builtin_emulator(photos: Path) -> None:
    done = mediakit("upload", photos, "--json")
    assert done.returncode == 0, done.stderr
    outcome = json.loads(done.stdout)
    assert outcome["target"] == "emulator"
    assert outcome["counts"] == {"succeeded": 4}


def test_json_goes_to_stdout_and_the_dashboard_to_stderr(mixed: Path, server: str) -> None:
    done = mediakit("upload", mixed, "--base-url", server, "--json", "--api", "v1.1")
    assert done.returncode == 3
    outcome = json.loads(done.stdout)  # nothing but the JSON on stdout
    assert outcome["exit_code"] == 3
    assert outcome["api"] == "v1.1"
    assert outcome["counts"] == {"succeeded": 5, "invalid": 1}
    by_name = {Path(f["path"]).name: f for f in outcome["files"]}
    assert by_name["notes.txt"]["state"] == "invalid"
    assert "unrecognized media type" in by_name["notes.txt"]["reason"]
    assert by_name["loop.gif"]["media_category"] == "tweet_gif"
    assert by_name["loop.gif"]["media_id"].isdigit()
    assert pd.Timestamp(by_name["loop.gif"]["expires_at"]).tzinfo is not None
    assert "5 uploaded to " in done.stderr  # the text view's summary


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_out_writes_items_that_read_back(
    mixed: Path, server: str, tmp_path: Path, suffix: str
) -> None:
    out = tmp_path / f"results{suffix}"
    done = mediakit("upload", mixed, "--base-url", server, "--out", out)
    assert done.returncode == 3
    assert f"Results: {out}" in done.stdout
    items = mk.read_parquet(out) if suffix == ".parquet" else mk.read_csv(out)
    assert len(items) == 6
    assert sorted(items["state"].astype(str)) == ["invalid"] + ["succeeded"] * 5
    assert items["media_id"].dtype == "string"


def test_csv_input_relative_to_its_folder_with_alt_text(
    photos: Path, server: str, tmp_path: Path
) -> None:
    listing = photos.parent / "campaign.csv"
    pd.DataFrame(
        {
            "path": ["photos/p0.jpg", "photos/p1.jpg", str(photos / "card.png")],
            "alt_text": ["First photo", None, "A card"],
            "campaign": ["spring", "spring", "summer"],
        }
    ).to_csv(listing, index=False)
    out = tmp_path / "r.parquet"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    done = mediakit("upload", listing, "--base-url", server, "--out", out, cwd=elsewhere)
    assert done.returncode == 0, done.stdout + done.stderr
    items = mk.read_parquet(out).sort_values("path")
    assert list(items["path"]) == sorted(
        str(p) for p in (photos / "p0.jpg", photos / "p1.jpg", photos / "card.png")
    )
    by_name = {Path(p).name: row for p, row in zip(items["path"], items.itertuples(), strict=True)}
    assert by_name["p0.jpg"].alt_text == "First photo"
    assert by_name["card.png"].campaign == "summer"


def test_a_results_file_is_an_input_again(mixed: Path, server: str, tmp_path: Path) -> None:
    out = tmp_path / "r.parquet"
    journal = tmp_path / "j.sqlite"
    first = mediakit("upload", mixed, "--base-url", server, "--out", out, "--journal", journal)
    assert first.returncode == 3
    again = mediakit("upload", out, "--base-url", server, "--json", "--journal", journal)
    assert again.returncode == 3, again.stderr
    assert json.loads(again.stdout)["counts"] == {"skipped": 5, "invalid": 1}


def test_a_list_without_a_path_column_is_refused(tmp_path: Path) -> None:
    listing = tmp_path / "list.csv"
    listing.write_text("file,alt_text\na.jpg,x\n")
    done = mediakit("upload", listing)
    assert done.returncode == 2
    assert f"{listing}: no 'path' column (it has file, alt_text)" in done.stderr


def test_one_media_file(photos: Path, server: str) -> None:
    done = mediakit("upload", photos / "p0.jpg", "--base-url", server, "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["counts"] == {"succeeded": 1}


# --- plan and journal ----------------------------------------------------------------------


def test_plan_lists_what_cannot_be_uploaded(mixed: Path, tmp_path: Path) -> None:
    done = mediakit("plan", mixed)
    assert done.returncode == 3, done.stderr
    assert "5 files to upload" in done.stdout
    assert re.search(r"^\s+APPEND\s+5\s", done.stdout, re.M)
    assert re.search(r"^\s+notes\.txt · unrecognized media type", done.stdout, re.M)
    (mixed / "notes.txt").unlink()
    out = tmp_path / "plan.csv"
    clean = mediakit("plan", mixed, "--json", "--out", out)
    assert clean.returncode == 0, clean.stderr
    plan = json.loads(clean.stdout)
    assert plan["not_uploadable"] == []
    assert {e["command"]: e["requests"] for e in plan["endpoints"]}["INIT"] == 5
    assert len(pd.read_csv(out)) == 5


def test_preflight_says_what_x_would_refuse_and_why(mixed: Path, tmp_path: Path) -> None:
    done = mediakit("preflight", mixed)
    assert done.returncode == 3, done.stderr
    assert done.stdout.startswith("6 files: 5 ok, 1 with problems")
    # One line per file, relative to the folder; the problem and the hint indented under it.
    assert re.search(r"^ok\s+p0\.jpg\s+tweet_image · 64×48", done.stdout, re.M)
    assert re.search(r"^NO\s+notes\.txt\b.*\n\s+- unrecognized media type", done.stdout, re.M)
    assert re.search(r"^\s+> not media X accepts", done.stdout, re.M)
    only = mediakit("preflight", mixed, "--problems")
    assert only.returncode == 3
    assert "notes.txt" in only.stdout and "p0.jpg" not in only.stdout
    out = tmp_path / "preflight.csv"
    data = mediakit("preflight", mixed, "--json", "--out", out)
    assert data.returncode == 3, data.stderr
    report = json.loads(data.stdout)
    assert (report["files"], report["ok"], report["refused"], report["exit_code"]) == (6, 5, 1, 3)
    bad = [v for v in report["verdicts"] if not v["ok"]]
    assert [Path(v["path"]).name for v in bad] == ["notes.txt"]
    assert bad[0]["problems"][0].startswith("unrecognized media type")
    assert len(pd.read_csv(out)) == 6
    (mixed / "notes.txt").unlink()
    clean = mediakit("preflight", mixed)
    assert clean.returncode == 0, clean.stderr
    assert clean.stdout.startswith("5 files: 5 ok, 0 with problems")
    assert mediakit("preflight", tmp_path / "nowhere").returncode == 2
    assert mediakit("preflight", mixed, "--out", tmp_path / "x.txt").returncode == 2
    assert "3    some files would be refused" in mediakit("preflight", "--help").stdout


def test_journal_shows_the_latest_batch_or_all(mixed: Path, server: str, tmp_path: Path) -> None:
    journal = tmp_path / "j.sqlite"
    for _ in range(2):
        assert mediakit("upload", mixed, "--base-url", server, "--journal", journal).returncode == 3
    latest = mediakit("journal", journal)
    assert latest.returncode == 0, latest.stderr
    assert "0 uploaded" in latest.stdout and "5 already uploaded (skipped)" in latest.stdout
    assert re.search(r"notes\.txt · invalid · unrecognized media type", latest.stdout)
    out = tmp_path / "all.parquet"
    every = mediakit("journal", journal, "--batch", "all", "--out", out, "--json")
    assert every.returncode == 0, every.stderr
    assert json.loads(every.stdout)["counts"] == {"succeeded": 5, "invalid": 2, "skipped": 5}
    assert len(mk.read_parquet(out)) == 12
    events = tmp_path / "events.csv"
    # The latest batch skipped everything: its files sent nothing, so all batches' events.
    shown = mediakit("journal", journal, "--batch", "all", "--table", "events", "--out", events)
    assert shown.returncode == 0, shown.stderr
    assert set(mk.read_csv(events)["command"].astype(str)) >= {"INIT", "APPEND", "FINALIZE"}


def test_journal_errors_are_usage_errors(tmp_path: Path, mixed: Path, server: str) -> None:
    missing = mediakit("journal", tmp_path / "none.sqlite")
    assert missing.returncode == 2
    assert "no such journal" in missing.stderr
    journal = tmp_path / "j.sqlite"
    mediakit("upload", mixed, "--base-url", server, "--journal", journal)
    no_batch = mediakit("journal", journal, "--batch", "nope")
    assert no_batch.returncode == 2
    assert "no batch 'nope'" in no_batch.stderr


def test_journal_without_a_file_reads_the_default_journal(photos: Path, server: str) -> None:
    assert mediakit("upload", photos, "--base-url", server).returncode == 0
    shown = mediakit("journal", "--json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["counts"] == {"succeeded": 4}


# --- Ctrl-C --------------------------------------------------------------------------------


def _read_until(fd: int, pattern: re.Pattern[str], proc: subprocess.Popen[bytes]) -> str:
    """What the child wrote to its terminal, up to the first match of `pattern` (or its end)."""
    seen = b""
    while not pattern.search(seen.decode(errors="replace")):
        ready, _, _ = select.select([fd], [], [], HANG_S)
        if not ready:
            raise AssertionError(f"no {pattern.pattern!r} in {HANG_S} s: {seen!r}")
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the child closed the terminal
            chunk = b""
        if not chunk:
            raise AssertionError(f"ended (code {proc.poll()}) before {pattern.pattern!r}: {seen!r}")
        seen += chunk
    return seen.decode(errors="replace")


def _read_to_end(fd: int) -> str:
    seen = b""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    return seen.decode(errors="replace")


def test_ctrl_c_cancels_the_batch_and_exits_130(tmp_path: Path) -> None:
    """In a terminal (a pty, so the text dashboard redraws live): once the dashboard shows a
    file processing, SIGINT; the files in flight and the queued ones end cancelled, the
    summary still prints, and the exit code is 130 even though a file also failed."""
    folder = tmp_path / "media"
    folder.mkdir()
    for i in range(3):
        make_gif(folder / f"loop{i}.gif", frames=3)
    for i in range(4):
        make_jpeg(folder / f"p{i}.jpg")
    (folder / "notes.txt").write_text("not media\n")
    journal = tmp_path / "j.sqlite"
    # Processing takes a minute: the GIFs are still processing when the signal arrives.
    with (
        Emulator(processing_seconds=60.0, state=tmp_path / "slow.sqlite") as emu,
        running(emu) as url,
    ):
        leader, follower = pty.openpty()
        proc = subprocess.Popen(
            [
                *(sys.executable, "-m", "mediakit", "upload", str(folder), "--base-url", url),
                *("--concurrency", "1", "--journal", str(journal)),
            ],
            stdin=follower,
            stdout=follower,
            stderr=follower,
            env={**os.environ, "COLUMNS": "200"},
        )
        os.close(follower)
        try:
            started = _read_until(leader, re.compile(r"processing [1-9]"), proc)
            proc.send_signal(signal.SIGINT)
            rest = _read_to_end(leader)
            code = proc.wait(timeout=HANG_S)
        finally:
            os.close(leader)
            if proc.poll() is None:
                proc.kill()
    assert code == 130, started + rest
    assert "cancelling" in rest
    assert re.search(r"\d+ uploaded to .* cancelled \(see result.failures\) in [\d.]+ s", rest), (
        rest
    )
    assert re.search(r"loop\d\.gif · cancelled · ", rest), rest
    shown = mediakit("journal", journal, "--json")
    counts = json.loads(shown.stdout)["counts"]
    assert counts["cancelled"] >= 3  # the processing GIF, and the files never started
    assert counts["invalid"] == 1
    assert set(counts) <= {"succeeded", "cancelled", "invalid"}  # nothing left unfinished


# --- demo ----------------------------------------------------------------------------------


def test_demo_runs_and_says_where_everything_is(tmp_path: Path) -> None:
    home = tmp_path / "demo"
    first = mediakit("demo", "--folder", home, "-n", "8")
    assert first.returncode == 0, first.stdout + first.stderr
    out = first.stdout
    assert "Made 8 sample files" in out
    assert "banner.gif is bad on purpose" in out and "broken_download.jpg is bad on purpose" in out
    assert "6 uploaded to the emulator" in out
    assert re.search(r"^\s+banner\.gif · invalid · .*over the 15 MB limit for tweet_gif", out, re.M)
    assert "Latency by media category" in out and "tweet_video" in out
    results = home / "results.parquet"
    assert f"Results, one row per file: {results}" in out
    assert f"Sample folder:             {home / 'samples'}" in out
    assert "Try next:" in out and "01-quickstart.ipynb" in out and "04-real-account.ipynb" in out
    assert f"mediakit upload {home / 'samples'}" in out
    items = mk.read_parquet(results)
    assert sorted(items["state"].astype(str)) == ["invalid"] * 2 + ["succeeded"] * 6
    # A fresh emulator each time: a second demo in the same folder uploads again, no "skips".
    second = mediakit("demo", "--folder", home, "-n", "8")
    assert second.returncode == 0, second.stdout + second.stderr
    assert "6 uploaded to the emulator" in second.stdout
    assert "skipped" not in second.stdout
    journaled = json.loads(
        mediakit("journal", home / "journal.sqlite", "--batch", "all", "--json").stdout
    )
    assert journaled["counts"] == {"succeeded": 12, "invalid": 4}


def test_an_unreachable_server_is_1_with_one_clear_line(photos: Path) -> None:
    with socket.socket() as sock:  # a port nobody listens on: bound, never listening
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        done = mediakit("upload", photos, "--base-url", f"http://127.0.0.1:{port}")
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"cannot reach http://127.0.0.1:{port}" in done.stderr
    assert "Traceback" not in done.stderr


def test_fix_repairs_what_x_would_refuse_and_uploads_the_copies(
    server: str, tmp_path: Path
) -> None:
    folder = tmp_path / "fixable"
    folder.mkdir()
    for name in ("fps120.mp4", "yuv422.mp4", "wide.jpg"):
        mf.FIXABLE[name](folder / name)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    refused = mediakit("upload", folder, "--base-url", server, "--journal", tmp_path / "a.sqlite")
    assert refused.returncode == 3, refused.stdout + refused.stderr
    assert "fix=True" in refused.stdout  # the reason says what would repair it
    fixed = mediakit(
        "upload", folder, "--base-url", server, "--fix", "--journal", tmp_path / "b.sqlite"
    )
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert "3 uploaded to " in fixed.stdout and "3 repaired" in fixed.stdout
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before  # originals untouched
