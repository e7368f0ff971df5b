"""The progress views: the widget dashboard (built without a front end and inspected), the
bounded rate of widget messages, text mode, `MEDIAKIT_PROGRESS`, and the HTML reprs."""

from __future__ import annotations

import asyncio
import io
import itertools
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import comm
import httpx
import pytest
from comm import DummyComm

import mediakit as mk
from mediakit import ScaledClock
from mediakit._budget import Budget
from mediakit._errors import ConfigurationError
from mediakit._records import FileRecord
from mediakit._result import UploadResult
from mediakit._run import make_view
from mediakit._snapshot import Snapshot, Throughput, format_elapsed
from mediakit._text import TextView
from mediakit._view import REFRESH_S, NullView, in_notebook_kernel
from mediakit._widgets import WidgetView
from mediakit.emulator import Emulator

from . import mediafactory as mf


@pytest.fixture
def emulator(tmp_path: Path):
    emu = Emulator(
        clock=ScaledClock(50),
        seed=11,
        processing_seconds=(5.0, 10.0),
        state=tmp_path / "state" / "emu.sqlite",
    )
    yield emu
    emu.close()


@pytest.fixture
def watchable(tmp_path: Path):
    """Processing of 0.5-1 s of real time: long enough for several redraws."""
    emu = Emulator(
        clock=ScaledClock(10),
        seed=11,
        processing_seconds=(5.0, 10.0),
        state=tmp_path / "state" / "watchable.sqlite",
    )
    yield emu
    emu.close()


def rows(html: str) -> int:
    return html.count('class="mediakit-row')


def portions(view: WidgetView, bar: str) -> list[tuple[str, int]]:
    """A stacked bar's portions as drawn: (what, how many files or bytes), in order."""
    html = view.bars.value.split(f"mediakit-bar-{bar}", 1)[1].split("mediakit-bar-", 1)[0]
    found = re.findall(r'mediakit-portion-(\w+)" data-amount="(\d+)"', html)
    return [(kind, int(amount)) for kind, amount in found]


def text_of(html: str) -> str:
    return re.sub(r"<[^>]+>", "", html)


# --- the dashboard after a real batch ---------------------------------------------------------


async def test_dashboard_after_a_batch_with_failures(
    emulator: Emulator, media_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for i in range(4):
        mf.make_png(media_dir / f"photo_{i}.png", 40, 30)
    mf.make_mp4(media_dir / "clip.mp4", seconds=1.0)
    (media_dir / "empty.jpg").write_bytes(b"")
    mf.make_noise(media_dir / "notes <b>.bin", 3000)
    view = WidgetView()
    result = await mk.upload_folder_async(media_dir, emulator=emulator, progress=view)

    assert result.counts == {"succeeded": 5, "invalid": 2}
    # 100 % means uploaded: the invalid files are their own red portion, not a red bar.
    assert view.files_text == "5 / 7 files · 71 % · 2 invalid"
    assert portions(view, "files") == [("succeeded", 5), ("invalid", 2)]
    uploaded = int(result.items["bytes"].where(result.items["state"] == "succeeded").sum())
    assert portions(view, "bytes") == [("succeeded", uploaded)]
    assert view.bytes_text.endswith(" · 100 %")  # invalid files have nothing to upload
    assert "5 / 7 files · 71 % · 2 invalid" in text_of(view.bars.value)
    assert "mediakit-failed" in view.box._dom_classes
    assert "mediakit-running" not in view.box._dom_classes
    assert view.box.layout.border == "2px solid #b91c1c"
    assert f"✗ {result.summary()}" in view.title.value
    assert view.cancel_button.layout.display == "none"
    assert text_of(view.sections["counts"]) == "succeeded 5 · invalid 2"
    failures = text_of(view.sections["failures"])
    assert "not uploaded: 2 invalid" in failures and "failed" not in failures
    assert "empty.jpg" in failures and "empty file" in failures
    assert rows(view.sections["failures"]) == 2
    assert "notes &lt;b&gt;.bin" in view.sections["failures"]  # names are escaped
    assert "<b>.bin" not in view.sections["failures"]
    assert view.sections["in_flight"] == ""
    budget = text_of(view.sections["budget"])
    assert re.search(r"append [\d,]+/1,875 · .* resets \d\d:\d\d:\d\d$", budget), budget
    assert "elapsed" in view.sections["rate"]
    # The one-line summary is printed too: front ends without widgets still show the outcome.
    assert capsys.readouterr().out.strip() == result.summary()


async def test_dashboard_ends_green_and_moved_while_running(
    watchable: Emulator, media_dir: Path
) -> None:
    mf.make_mp4(media_dir / "a.mp4", seconds=2.0, width=128, height=96)
    mf.make_mp4(media_dir / "b.mp4", seconds=1.0)
    mf.make_gif(media_dir / "c.gif", frames=4)
    for i in range(3):
        mf.make_jpeg(media_dir / f"d{i}.jpg", 64, 48)
    view = WidgetView()
    seen: list[tuple[str, str, int, str]] = []
    draw = view.draw

    def recording_draw() -> None:
        draw()
        seen.append(
            (
                view.files_text,
                view.sections["in_flight"],
                sum(n for _, n in portions(view, "bytes")),
                view.title.value,
                view.sections["rate"],
            )
        )

    view.draw = recording_draw
    result = await mk.upload_folder_async(
        media_dir, emulator=watchable, progress=view, chunk_size=8 * 1024, concurrency=2
    )

    assert result.ok and result.counts == {"succeeded": 6}
    assert view.files_text == "6 / 6 files · 100 %"
    assert view.bytes_text.endswith(" · 100 %")
    assert portions(view, "files") == [("succeeded", 6)]
    assert portions(view, "bytes") == [("succeeded", int(result.items["bytes"].sum()))]
    assert "mediakit-succeeded" in view.box._dom_classes
    assert view.box.layout.border == "2px solid #15803d"
    assert f"✓ {result.summary()}" in view.title.value
    assert view.sections["failures"] == ""
    # It moved: several distinct states, files in flight with their phase, processing shown.
    assert len({files for files, *_ in seen}) >= 2
    flights = " ".join(text_of(flight) for _, flight, _, _, _ in seen)
    # The adaptive limit is on screen while the batch runs (concurrency=2 is its ceiling).
    assert any("up to 2 files at once" in text_of(rate) for *_, rate in seen)
    assert "at once" not in view.sections["rate"]
    assert "processing" in flights
    assert re.search(r"\.mp4\s*(APPEND \d+/\d+|INIT|FINALIZE|processing)", flights), flights
    assert all("Uploading 6 files" in title for *_, title, _ in seen)
    bars = [bar for _, _, bar, _, _ in seen]
    assert bars == sorted(bars)  # bytes only go forward here (no retries)


def test_cancel_button_stops_a_background_job(emulator: Emulator, media_dir: Path) -> None:
    for i in range(3):
        mf.make_mp4(media_dir / f"clip_{i}.mp4", seconds=1.0)
    slow = Emulator(
        clock=ScaledClock(1), processing_seconds=30.0, state=media_dir.parent / "slow.sqlite"
    )
    view = ReadyView({"processing": 3})
    job = mk.upload_folder(media_dir, emulator=slow, progress=view, wait=False)
    try:
        assert view.ready.wait(timeout=120)  # every clip uploaded, X processing them
        assert job.result.counts.get("processing") == 3
        # The click comes from this thread, not the job's loop (as from a kernel subshell).
        view.cancel_button.click()
        result = job.wait(timeout=10)
    finally:
        job.cancel()
        slow.close()
    assert job.done()
    assert result.counts == {"cancelled": 3}
    assert view.cancel_requested
    assert "mediakit-cancelled" in view.box._dom_classes
    assert f"■ {result.summary()}" in view.title.value
    assert "3 cancelled" in view.title.value
    failures = result.failures
    assert list(failures.columns[:3]) == ["path", "state", "reason"]
    assert failures["reason"].tolist() == ["cancelled before it finished"] * 3
    # Cancelled is not done: 0 %, and the bar is the cancelled colour, not full and green.
    assert view.files_text == "0 / 3 files · 0 % · 3 cancelled"
    assert portions(view, "files") == [("cancelled", 3)]


class ReadyView(WidgetView):
    """The dashboard, which also says (`ready`) when the batch's counts are `wanted`."""

    def __init__(self, wanted: dict[str, int]) -> None:
        super().__init__()
        self.wanted = wanted
        self.ready = threading.Event()

    def changed(self) -> None:
        super().changed()
        if self.live is not None and self.live().counts == self.wanted:
            self.ready.set()


async def test_cancel_button_in_a_blocking_call_returns_what_was_done(
    media_dir: Path, tmp_path: Path
) -> None:
    mf.make_jpeg(media_dir / "photo.jpg")
    mf.make_mp4(media_dir / "clip.mp4", seconds=1.0)
    slow = Emulator(clock=ScaledClock(1), processing_seconds=30.0, state=tmp_path / "slow.sqlite")
    view = ReadyView({"succeeded": 1, "processing": 1})  # the photo done, the clip processing
    loop = asyncio.get_running_loop()

    def click_when_ready() -> None:
        # On the state, not on time: under load the photo can take seconds.
        view.ready.wait(timeout=120)
        view.cancel_button.click()  # another thread, like a kernel subshell

    clicker = threading.Thread(target=click_when_ready)
    clicker.start()
    try:
        result = await mk.upload_folder_async(media_dir, emulator=slow, progress=view)
    finally:
        view.ready.set()
        await loop.run_in_executor(None, clicker.join)
        slow.close()
    assert result.counts == {"succeeded": 1, "cancelled": 1}
    assert asyncio.current_task().cancelling() == 0
    assert view.cancel_button.disabled
    assert f"■ {result.summary()}" in view.title.value


# --- messages per second do not grow with the number of files ---------------------------------


class RecordingComm(DummyComm):
    sent: list[str]

    def publish_msg(self, msg_type: str, data: Any = None, *args: Any, **kwargs: Any) -> None:
        RecordingComm.sent.append(msg_type)


def instant_x() -> httpx.MockTransport:
    """A stand-in for X that answers at once, so that changes come as fast as they can."""
    ids = itertools.count(10**18)
    reset = str(int(time.time()) + 900)
    spent: dict[str, int] = {}

    def answer(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        command = path.rsplit("/", 1)[-1]
        spent[command] = spent.get(command, 0) + 1
        headers = {
            "x-rate-limit-limit": "100000",
            "x-rate-limit-remaining": str(100000 - spent[command]),
            "x-rate-limit-reset": reset,
        }
        if path.endswith("/initialize"):
            media_id = str(next(ids))
            data = {"id": media_id, "media_key": f"3_{media_id}", "expires_after_secs": 86400}
            return httpx.Response(200, json={"data": data}, headers=headers)
        if path.endswith("/append"):
            return httpx.Response(200, json={"data": {}}, headers=headers)
        if path.endswith("/finalize"):
            media_id = path.split("/")[-2]
            data = {
                "id": media_id,
                "media_key": f"3_{media_id}",
                "size": 100,
                "expires_after_secs": 86400,
                "image": {"image_type": "image/png", "w": 8, "h": 8},
            }
            return httpx.Response(200, json={"data": data}, headers=headers)
        return httpx.Response(404, json={"title": "Not Found Error", "detail": path})

    return httpx.MockTransport(answer)


def measured_batch(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[UploadResult, WidgetView, int, float]:
    """(result, view, messages sent after the dashboard was built, seconds the batch ran)."""
    RecordingComm.sent = []
    monkeypatch.setattr(comm, "create_comm", RecordingComm)
    view = WidgetView()
    opened = len(RecordingComm.sent)
    assert "comm_open" in RecordingComm.sent
    started = time.monotonic()
    result = mk.upload_folder(
        folder, transport=instant_x(), progress=view, concurrency=8, journal=False
    )
    elapsed = time.monotonic() - started
    return result, view, len(RecordingComm.sent) - opened, elapsed


def test_widget_messages_per_second_do_not_grow_with_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    png = mf.make_png(tmp_path / "src.png", 8, 8).read_bytes()
    small, large = tmp_path / "small", tmp_path / "large"
    for folder, count in ((small, 20), (large, 2000)):
        folder.mkdir()
        for i in range(count):
            (folder / f"img_{i:05}.png").write_bytes(png)

    results = {}
    for name, folder in (("small", small), ("large", large)):
        result, view, messages, elapsed = measured_batch(folder, monkeypatch)
        assert result.ok, result.summary()
        # At most one redraw per REFRESH_S, plus the first and the final one; a redraw sends
        # at most one message per widget it changes (title, two bars, their captions, the
        # details), and the final one three more (the border, the state's class, the hidden
        # Cancel button): a bound in time, whatever the number of files.
        assert view.draws <= elapsed / REFRESH_S + 1, (name, view.draws, elapsed)
        assert messages <= (view.draws + 2) * 6 + 3, (name, messages, view.draws)
        results[name] = (messages, elapsed, view.draws, result)

    # Per second: the 2,000-file batch ran for seconds, and stayed under one redraw per
    # REFRESH_S times the widgets a redraw may touch (the 20-file one ended too soon for a
    # rate: its first and final draws are all it sent).
    messages, elapsed, draws, _ = results["large"]
    ceiling = (1 / REFRESH_S) * len(view.widgets)
    assert messages / elapsed <= ceiling, (messages, elapsed, ceiling)
    assert draws / elapsed <= 1 / REFRESH_S
    # The 2,000-file batch made ~6,000 requests; a message per change would be thousands.
    assert results["large"][0] < len(results["large"][3].records)
    assert results["large"][1] > 1.0  # long enough for the rate to mean something


def test_ten_thousand_files_show_the_files_in_flight_and_counts_for_the_rest() -> None:
    states = ["queued"] * 6000 + ["uploading"] * 30 + ["processing"] * 470 + ["succeeded"] * 3490
    states += ["failed"] * 10
    records = [
        FileRecord(
            "b",
            i,
            f"/media/file_{i:05}.mp4",
            bytes=1000,
            segments=4,
            state=state,
            phase="APPEND" if state == "uploading" else None,
            segments_done=2 if state == "uploading" else 0,
            bytes_done={"uploading": 500, "processing": 1000, "succeeded": 1000}.get(state, 0),
            progress_percent=40 if state == "processing" else None,
            error_message="boom" if state == "failed" else None,
            started_at=float(i),
            finished_at=float(i) if state in ("succeeded", "failed") else None,
        )
        for i, state in enumerate(states)
    ]
    result = UploadResult(
        records,
        [],
        target="emulator",
        api="v2",
        batch_id="b",
        clock=mk.ManualClock(100.0),
        started_at=0.0,
        finished_at=None,
    )
    view = WidgetView()
    view.start(lambda: result, lambda: {"APPEND": Budget(1875, 100, 1e9)}, lambda: None)
    view.draw()
    assert rows(view.sections["in_flight"]) == 8
    assert "+ 492 more in flight" in text_of(view.sections["in_flight"])
    assert "APPEND 2/4" in text_of(view.sections["in_flight"])
    assert rows(view.sections["failures"]) == 8
    assert "+ 2 more: result.failures" in text_of(view.sections["failures"])
    assert text_of(view.sections["counts"]) == (
        "queued 6,000 · uploading 30 · processing 470 · succeeded 3,490 · failed 10"
    )
    assert view.files_text == "3,490 / 10,000 files · 34 % · 10 failed"
    assert portions(view, "files") == [("succeeded", 3490), ("failed", 10)]
    assert len(view.details.value) < 8000  # bounded, whatever the number of files
    assert "rate limits left: append 100/1,875 · resets " in text_of(view.sections["budget"])


def test_throughput_and_eta() -> None:
    now = [0.0]
    rate = Throughput(window_s=10, now=lambda: now[0])
    assert rate.rates() == (None, None)
    for second in range(0, 30):
        now[0] = float(second)
        rate.add(bytes_done=second * 1000, files_done=second // 3)
    bytes_per_s, files_per_s = rate.rates()
    assert bytes_per_s == pytest.approx(1000, rel=0.05)
    assert files_per_s == pytest.approx(1 / 3, rel=0.2)
    assert format_elapsed(4.25) == "4.2 s"
    assert format_elapsed(42) == "42 s"
    assert format_elapsed(187) == "3:07"
    assert format_elapsed(3765) == "1:02:45"


# --- text mode and the choice of view --------------------------------------------------------


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


async def test_text_mode_on_a_terminal_redraws_one_line(
    watchable: Emulator, media_dir: Path
) -> None:
    mf.make_mp4(media_dir / "clip.mp4", seconds=1.0)
    mf.make_png(media_dir / "a.png")
    out = FakeTerminal()
    view = TextView(out)
    result = await mk.upload_folder_async(media_dir, emulator=watchable, progress=view)
    text = out.getvalue()
    frames = [frame for frame in text.split("\r") if frame.strip()]
    assert len(frames) >= 2
    assert all(frame.startswith("mediakit: ") for frame in frames[:-1])
    assert re.search(r"mediakit: \d/2 files · [\d.]+ (B|KB) ?/[\d.]+ (B|KB)", frames[0])
    assert "\n" not in "".join(frames[:-1])  # one line, redrawn in place
    assert text.endswith(result.summary() + "\n")


async def test_text_mode_in_a_log_writes_a_line_now_and_then(
    watchable: Emulator, media_dir: Path
) -> None:
    mf.make_mp4(media_dir / "clip.mp4", seconds=1.0)
    quiet, chatty = io.StringIO(), io.StringIO()
    result = await mk.upload_folder_async(media_dir, emulator=watchable, progress=TextView(quiet))
    assert quiet.getvalue() == result.summary() + "\n"  # short batch: the summary only
    result = await mk.upload_folder_async(
        media_dir, emulator=watchable, progress=TextView(chatty, log_every_s=0), force=True
    )
    lines = chatty.getvalue().splitlines()
    assert "\r" not in chatty.getvalue()
    assert len(lines) >= 2 and lines[-1] == result.summary()
    assert all(line.startswith("mediakit: ") for line in lines[:-1])


def test_snapshot_line() -> None:
    records = [
        FileRecord("b", 0, "a.mp4", bytes=4 * 2**20, state="uploading", bytes_done=2**20),
        FileRecord("b", 1, "b.png", bytes=2**20, state="succeeded", bytes_done=2**20),
        FileRecord("b", 2, "c.gif", bytes=10, state="failed", error_message="no"),
    ]
    result = UploadResult(
        records,
        [],
        target="emulator",
        api="v2",
        batch_id="b",
        clock=mk.ManualClock(10.0),
        started_at=0.0,
        finished_at=None,
    )
    budget = {"STATUS": Budget(1000, 20, None), "APPEND": Budget(1875, 1800, None)}
    line = Snapshot.take(result, budget).line()
    assert line == (
        "mediakit: 2/3 files · 2.0 MB/5.0 MB · uploading 1 · failed 1 · status: 20 of 1,000 left"
    )


def test_progress_none_prints_nothing(
    emulator: Emulator, media_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mf.make_png(media_dir / "a.png")
    assert mk.upload_folder(media_dir, emulator=emulator, progress="none").ok
    assert capsys.readouterr().out == ""
    assert mk.upload_folder(media_dir, emulator=emulator, progress="text", force=True).ok
    assert "uploaded to the emulator" in capsys.readouterr().out


def test_mode_from_argument_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MEDIAKIT_PROGRESS", raising=False)
    assert type(make_view("none")) is NullView
    assert type(make_view("text")) is TextView
    assert type(make_view("widgets")) is WidgetView
    assert type(make_view("auto")) is TextView  # not in a notebook kernel
    view = TextView()
    assert make_view(view) is view
    for env, expected in (("none", NullView), ("widgets", WidgetView), ("TEXT", TextView)):
        monkeypatch.setenv("MEDIAKIT_PROGRESS", env)
        assert type(make_view("auto")) is expected
        assert type(make_view(None)) is expected
        assert type(make_view("none")) is NullView  # an explicit mode wins
    monkeypatch.setenv("MEDIAKIT_PROGRESS", "")
    assert type(make_view("auto")) is TextView
    monkeypatch.setenv("MEDIAKIT_PROGRESS", "fancy")
    with pytest.raises(ConfigurationError, match="MEDIAKIT_PROGRESS must be one of"):
        make_view("auto")
    with pytest.raises(ConfigurationError, match="progress must be one of"):
        make_view("bars")
    monkeypatch.delenv("MEDIAKIT_PROGRESS")
    monkeypatch.setattr("mediakit._run.in_notebook_kernel", lambda: True)
    assert type(make_view("auto")) is WidgetView


def test_notebook_kernel_detection(monkeypatch: pytest.MonkeyPatch) -> None:
    def fake_ipython(shell: object) -> SimpleNamespace:
        return SimpleNamespace(get_ipython=lambda: shell)

    class ZMQInteractiveShell:
        config = None

    class ColabShell(ZMQInteractiveShell):  # a subclass, as Colab's shell is
        pass

    class TerminalInteractiveShell:
        config = None

    monkeypatch.delitem(sys.modules, "IPython", raising=False)
    assert not in_notebook_kernel()
    for shell, expected in (
        (None, False),
        (ZMQInteractiveShell(), True),
        (ColabShell(), True),
        (TerminalInteractiveShell(), False),
    ):
        monkeypatch.setitem(sys.modules, "IPython", fake_ipython(shell))
        assert in_notebook_kernel() is expected


def test_bad_mode_of_a_background_job_fails_at_once(media_dir: Path) -> None:
    with pytest.raises(ConfigurationError):
        mk.upload_folder(media_dir, progress="bars", wait=False)


def test_import_mediakit_does_not_import_ipywidgets(tmp_path: Path) -> None:
    code = (
        "import sys, mediakit\n"
        "from mediakit._result import UploadResult\n"
        "from mediakit import ManualClock\n"
        "r = UploadResult([], [], target='emulator', api='v2', batch_id='b', clock=ManualClock(0),"
        " started_at=0, finished_at=1)\n"
        "assert 'mediakit-result' in r._repr_html_()\n"
        "assert 'ipywidgets' not in sys.modules, 'ipywidgets imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=tmp_path)


# --- HTML reprs -----------------------------------------------------------------------------


def test_result_repr_html(emulator: Emulator, media_dir: Path) -> None:
    for i in range(2):
        mf.make_png(media_dir / f"ok_{i}.png")
    for i in range(7):
        (media_dir / f"empty_{i}.jpg").write_bytes(b"")
    (media_dir / "<script>.jpg").write_bytes(b"")
    result = mk.upload_folder(media_dir, emulator=emulator, progress="none")
    html = result._repr_html_()
    text = text_of(html)
    assert 'class="mediakit-result mediakit-failed"' in html
    assert "UploadResult" in text and result.summary() in text
    assert "target the built-in emulator · api v2 · batch " + result.batch_id in text
    assert "succeeded 2 · invalid 8" in text
    assert re.search(r"10 files · [\d.]+ (B|KB) uploaded · in ", text), text
    # The words of result.counts: invalid files are "invalid", never "failed".
    assert "not uploaded: 8 invalid" in text and "failed" not in text.replace("failures", "")
    assert rows(html) == 5  # the first failures only
    # Name, state, reason, in a grid (JupyterLab restyles tables), the reason in the theme's
    # error colour (brighter in its dark theme).
    assert "<table" not in html and "grid-template-columns" in html
    assert re.search(r"empty_\d\.jpg</div><div [^>]*>invalid</div><div [^>]*>empty file", html)
    assert "var(--jp-error-color1" in html
    assert "+ 3 more: result.failures" in text
    assert "empty file" in text
    assert "<script>" not in html and "&lt;script&gt;.jpg" in html


def test_result_repr_html_when_all_succeeded(emulator: Emulator, media_dir: Path) -> None:
    mf.make_png(media_dir / "a.png")
    result = mk.upload_folder(media_dir, emulator=emulator, progress="none")
    html = result._repr_html_()
    assert "mediakit-succeeded" in html and "#15803d" in html
    assert "failed" not in text_of(html)


def test_job_repr_html(emulator: Emulator, media_dir: Path) -> None:
    mf.make_mp4(media_dir / "clip.mp4", seconds=1.0)
    mf.make_png(media_dir / "a.png")
    job = mk.upload_folder(media_dir, emulator=emulator, progress="none", wait=False)
    running = job._repr_html_()
    result = job.wait(timeout=30)
    done = job._repr_html_()
    assert "UploadJob (" in running and "mediakit-result" in running
    assert "UploadJob (done)" in done and "mediakit-succeeded" in done
    assert result.summary() in text_of(done)
    assert "succeeded 2" in text_of(done)


def test_a_job_that_has_not_started_says_so() -> None:
    from mediakit._result import UploadJob

    class NotYet:
        def done(self) -> bool:
            return False

    empty = UploadResult(
        [],
        [],
        target="",
        api="v2",
        batch_id="",
        clock=mk.ManualClock(0.0),
        started_at=None,
        finished_at=None,
    )
    job = UploadJob(NotYet(), lambda: empty)  # type: ignore[arg-type]
    assert "UploadJob (running)" in job._repr_html_()
    assert "starting…" in job._repr_html_()


def test_cancel_clicks_go_where_the_front_end_sent_them(monkeypatch: pytest.MonkeyPatch) -> None:
    """ipykernel 7.4 routes a comm's messages to the shell that last sent on it (the main
    shell, busy with a blocking cell); Cancel's clicks keep the subshell they were sent to."""

    class KernelComm(DummyComm):
        def _reply_subshell_for(self, data: Any, default: str | None) -> str | None:
            return None  # "the main shell"

    monkeypatch.setattr(comm, "create_comm", KernelComm)
    view = WidgetView()
    assert view.cancel_button.comm._reply_subshell_for({}, "subshell-1") == "subshell-1"
    assert view.title.comm._reply_subshell_for({}, "subshell-1") is None  # others untouched
