"""Analysis of real batches against the emulator: responses, latency, expiry, exports, plots.

Processing times are set in the emulator, so the latency the frames measure can be checked
against them: the engine polls STATUS when `check_after_secs` says, so a file processed in
`t` seconds measures at least `t` (less the moment the client takes to read the FINALIZE
answer) and less than `t` + the emulator's largest `check_after_secs` (5 s).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import mediakit as mk
from mediakit import ConfigurationError, ManualClock, ScaledClock, UploadResult
from mediakit._analysis import (
    SIZE_BANDS,
    expiring,
    file_phases,
    parse_window,
    read_csv,
    size_band,
    to_csv,
)
from mediakit._frames import EVENT_SCHEMA, ITEM_SCHEMA, events_frame, items_frame, read_parquet
from mediakit._latency import latency
from mediakit._limits import MiB
from mediakit._media import format_size
from mediakit._plots import plot_latency, plot_timeline
from mediakit._records import PROCESSING_STATES, Event, FileRecord
from mediakit.emulator import Emulator

from . import mediafactory as mf
from .test_frames import T0, records

# A client reads the FINALIZE answer a moment after the emulator started the processing clock.
READ_SLACK_S = 0.25
MAX_CHECK_AFTER_S = 5.0  # the emulator's default max_check_after_secs


def processing_by_size(_rng: Any, size: int, _category: str | None) -> float:
    """Processing seconds the emulator takes: 12 s above 5 MiB, else 4 s."""
    return 12.0 if size > 5 * MiB else 4.0


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[Emulator]:
    emu = Emulator(
        clock=ScaledClock(20),
        processing_seconds=processing_by_size,
        seed=1,
        state=tmp_path / "a.sqlite",
    )
    yield emu
    emu.close()


def campaign(folder: Path) -> list[Path]:
    """Videos in two size bands, images in two, and a file that is not media."""
    return [
        mf.make_mp4(folder / "clip_a.mp4"),
        mf.make_mp4(folder / "clip_b.mp4", seconds=2.0, width=128, height=96),
        mf.make_big_file(folder / "clip_big.mp4", 6 * MiB, header="mp4"),
        mf.make_jpeg(folder / "photo.jpg"),
        mf.make_big_file(folder / "poster.jpg", 2 * MiB, header="jpeg"),
        mf.make_noise(folder / "notes.bin", 2000),
    ]


@pytest.fixture
async def result(emulator: Emulator, media_dir: Path) -> UploadResult:
    files = pd.DataFrame(
        {
            "path": [str(p) for p in campaign(media_dir)],
            "campaign": ["spring", "spring", "summer", "summer", "spring", "spring"],
            "rank": [1, 2, 3, None, 5, 6],
        }
    )
    return await mk.upload_files_async(files, emulator=emulator, progress="none")


def by_name(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.set_index(frame["path"].map(lambda p: Path(p).name))


# --- size bands ------------------------------------------------------------------------------


def test_size_bands_use_xs_binary_megabytes_and_include_their_upper_bound() -> None:
    sizes = [0, MiB - 1, MiB, 5 * MiB, 5 * MiB + 1, 15 * MiB, 15 * MiB + 1, 100 * MiB]
    bands = size_band([*sizes, 100 * MiB + 1, None])
    assert list(bands.categories) == list(SIZE_BANDS)
    assert bands.ordered
    assert list(bands[:-1]) == [
        "< 1 MB",
        "< 1 MB",
        "1–5 MB",
        "1–5 MB",  # an image at X's 5 MB limit is in the band named after it...
        "5–15 MB",
        "5–15 MB",  # ...and so is a GIF at the 15 MB limit
        "15–100 MB",
        "15–100 MB",
        "> 100 MB",
    ]
    assert pd.isna(bands[-1])
    assert format_size(5 * MiB) == "5 MB"  # the same megabyte the limits are written in


# --- responses -------------------------------------------------------------------------------


async def test_responses_are_every_finalize_and_status_answer(result: UploadResult) -> None:
    responses = result.responses
    events = result.events
    assert responses.dtypes.to_dict() == dict(EVENT_SCHEMA)
    assert set(responses["command"]) == {"FINALIZE", "STATUS"}
    assert len(responses) == events["command"].isin(["FINALIZE", "STATUS"]).sum()
    assert list(responses["state"].cat.categories) == list(PROCESSING_STATES)
    assert str(responses["expires_at"].dt.tz) == "UTC"
    assert responses["media_id"].map(lambda v: isinstance(v, str) and len(v) == 19).all()

    items = by_name(result.items)
    per_file = by_name(responses).groupby(level=0)
    polls = per_file["command"].apply(lambda c: int((c == "STATUS").sum()))
    assert polls["clip_a.mp4"] == items.loc["clip_a.mp4", "status_polls"] >= 2
    assert polls["photo.jpg"] == 0  # images are not processed: FINALIZE only
    finalize = by_name(responses[responses["command"] == "FINALIZE"])
    assert finalize.loc["clip_big.mp4", "size"] == 6 * MiB
    assert finalize.loc["clip_a.mp4", "state"] == "pending"
    assert finalize.loc["clip_a.mp4", "check_after_secs"] == 1
    assert pd.isna(finalize.loc["photo.jpg", "state"])

    clip = by_name(responses).loc[["clip_a.mp4"]]
    assert clip["state"].tolist()[0] == "pending"
    assert clip["state"].tolist()[-1] == "succeeded"
    assert clip["progress_percent"].tolist()[-1] == 100
    assert clip["check_after_secs"].iloc[1:-1].between(1, 5).all()
    # expires_at is absolute: when the answer came plus expires_after_secs
    lag = clip["expires_at"] - clip["finished_at"]
    after = pd.to_timedelta(clip["expires_after_secs"].astype("int64"), unit="s")
    assert ((lag - after).abs() < pd.Timedelta(microseconds=5)).all()
    assert (clip["elapsed_s"] >= 0).all()


# --- latency ---------------------------------------------------------------------------------


async def test_latency_matches_the_processing_times_set_in_the_emulator(
    result: UploadResult, emulator: Emulator
) -> None:
    table = result.latency()
    assert table.index.names == ["media_category", "size_band"]
    assert table["count"].dtype == "int64"
    counts = table["count"].to_dict()
    assert counts == {
        ("tweet_video", "< 1 MB"): 2,
        ("tweet_video", "5–15 MB"): 1,
        ("tweet_image", "< 1 MB"): 1,
        ("tweet_image", "1–5 MB"): 1,
    }
    assert table["estimate"].eq("midpoint").all() and table.attrs["estimate"] == "midpoint"
    lower, upper = result.latency(estimate="lower"), result.latency(estimate="upper")
    # Processing is measured from the client's side: it began somewhere inside the FINALIZE
    # request and was seen over inside a STATUS request. Those requests' own durations (longer
    # on a loaded machine) bound how far past the truth the upper bound can reach.
    slack = {
        command: max(
            READ_SLACK_S,
            *(e.elapsed_s or 0 for e in result._events if e.command == command),
        )
        for command in ("FINALIZE", "STATUS")
    }
    for band, seconds in (("< 1 MB", 4.0), ("5–15 MB", 12.0)):
        row = table.loc[("tweet_video", band)]
        for stat in ("median", "p90", "p99", "max"):
            # every file's true time lies in its interval, so every statistic of the lower
            # bounds is at most the true one, and of the upper bounds at least
            low = lower.loc[("tweet_video", band), f"processing_{stat}_s"]
            high = upper.loc[("tweet_video", band), f"processing_{stat}_s"]
            reach = seconds + MAX_CHECK_AFTER_S + slack["FINALIZE"] + slack["STATUS"]
            assert low <= seconds <= high < reach, (band, stat, low, high, slack)
            assert low <= row[f"processing_{stat}_s"] <= high
        assert row["upload_median_s"] > 0
        assert row["total_median_s"] == pytest.approx(
            row["upload_median_s"] + row["processing_median_s"] + row["polling_median_s"],
            abs=MAX_CHECK_AFTER_S,
        )
    images = table.loc[("tweet_image", "< 1 MB")]
    assert np.isnan(images["processing_median_s"])  # images are not processed
    assert images["upload_max_s"] > 0

    # what the emulator itself planned
    items = by_name(result.items)
    held = emulator.media_by_id(items.loc["clip_big.mp4", "media_id"])
    assert held is not None and held.processing_s == 12.0

    # the times measured from the HTTP attempts agree with the items' own: the same interval
    # rule, and uploads from INIT sent rather than from the file's start
    from_events = latency(result.items, result.events)
    assert from_events.index.equals(table.index)
    for column in ("processing_median_s", "processing_max_s", "polls_max"):
        assert np.allclose(from_events[column], table[column], atol=1e-6, equal_nan=True)
    for column in ("upload_max_s", "polling_max_s"):  # the record's FINALIZE-answered is later
        assert np.allclose(from_events[column], table[column], atol=0.5, equal_nan=True)


async def test_latency_columns_and_other_groupings(result: UploadResult) -> None:
    table = result.latency()
    stats = [
        f"{m}_{s}_s"
        for m in ("queued", "upload", "processing", "polling", "total")
        for s in ("median", "p90", "p99", "max")
    ]
    polls = [f"polls_{s}" for s in ("median", "p90", "p99", "max")]
    assert list(table.columns) == ["count", "estimate", *stats, *polls]
    assert all(table[c].dtype == "float64" for c in stats)
    overall = result.latency(by=())
    assert overall.index.tolist() == ["all"]
    assert overall.loc["all", "count"] == 5  # the invalid file has no latency
    by_category = result.latency(by="media_category")
    assert by_category["count"].to_dict() == {"tweet_image": 2, "tweet_video": 3}
    everything = result.latency(by="state", states=None)
    assert everything["count"].to_dict() == {"succeeded": 5, "invalid": 1}
    campaigns = result.latency(by=["campaign"])
    assert campaigns["count"].sum() == 5
    with pytest.raises(ConfigurationError, match="cannot group by 'colour'"):
        result.latency(by="colour")


def test_latency_of_empty_frames_is_an_empty_table() -> None:
    table = latency(items_frame([], [], now=T0), events_frame([]))
    assert len(table) == 0
    assert table.columns[0] == "count"


def with_alt_text_set_after_processing() -> tuple[list[FileRecord], list[Event]]:
    files, events = records()
    events = [e for e in events if e.batch_id == "b1"]
    files[0].finished_at = T0 + 10.0
    events.append(
        Event("b1", 1, "clip.mp4", "METADATA", 1, T0 + 9.25, T0 + 10.0, http_status=200, ok=True)
    )
    return files, events


def test_processing_from_events_leaves_out_what_follows_it() -> None:
    files, events = with_alt_text_set_after_processing()
    items = items_frame(files, events, now=T0)
    # Processing ends with the STATUS answer that said so, not with the alt text after it.
    assert items["processing_s"][0] == pytest.approx(6.5)
    frame = events_frame(events)
    phases = file_phases(frame).loc[("b1", 1)]
    assert phases["upload_start"] == T0
    assert phases["uploaded_at"] == T0 + 2.5
    assert phases["processed_at"] == T0 + 9.0
    assert phases["APPEND_start"] == pytest.approx(T0 + 0.3, abs=1e-6)
    assert phases["APPEND_end"] == T0 + 1.75
    assert phases["METADATA_end"] == T0 + 10.0
    # X finished between the in_progress STATUS sent (3.5) less FINALIZE answered (2.5) and
    # the succeeded answer (9) less FINALIZE sent (2): 1 to 7 s, of the 6.5 s observed
    assert (phases["processing_s_min"], phases["processing_s_max"]) == (1.0, 7.0)
    assert phases["status_polls"] == 2
    for frames in ((items,), (items, frame)):
        table = latency(*frames, by="media_category")
        video = table.loc["tweet_video"]
        assert video["processing_median_s"] == pytest.approx(4.0)  # the midpoint
        assert video["polling_median_s"] == pytest.approx(2.5)  # what polling added to it
        assert video["upload_median_s"] == pytest.approx(2.5)
        assert video["total_median_s"] == pytest.approx(9.0)  # upload + observed processing
        assert video["polls_max"] == 2
        upper = latency(*frames, by="media_category", estimate="upper").loc["tweet_video"]
        assert upper["processing_median_s"] == pytest.approx(7.0)
        assert upper["polling_median_s"] == 0.0  # longest processing: polling cost nothing
        lower = latency(*frames, by="media_category", estimate="lower").loc["tweet_video"]
        assert lower["processing_median_s"] == pytest.approx(1.0)
        assert lower["polling_median_s"] == pytest.approx(5.5)


# --- expiry ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("window", "seconds"),
    [
        ("2h", 7200),
        ("30min", 1800),
        ("1d", 86400),
        ("90s", 90),
        ("1 day 2 hours", 93600),
        ("1h30min", 5400),
        ("1.5h", 5400),
        ("2 H", 7200),
        ("01:30:00", 5400),
        ("600", 600),
        (45, 45),
        (1.5, 1.5),
        (pd.Timedelta(hours=1), 3600),
    ],
)
def test_windows(window: Any, seconds: float) -> None:
    assert parse_window(window) == seconds


@pytest.mark.parametrize("window", ["soon", "-1h", -5, float("nan"), True, None])
def test_bad_windows(window: Any) -> None:
    with pytest.raises(ConfigurationError):
        parse_window(window)


async def test_expiry_follows_the_injected_clock(tmp_path: Path, media_dir: Path) -> None:
    clock = ManualClock(1_800_000_000)
    emu = Emulator(clock=clock, processing_seconds=6.0, state=tmp_path / "e.sqlite")
    files = [
        mf.make_jpeg(media_dir / "photo.jpg"),
        mf.make_mp4(media_dir / "clip.mp4"),
        mf.make_noise(media_dir / "notes.bin"),
    ]
    result = await mk.upload_files_async(files, emulator=emu, progress="none")
    emu.close()
    items = by_name(result.items)
    assert items["expired"].tolist() == [False, False, pd.NA]
    assert result.expiring("2h").empty
    expires = items["expires_at"].dropna()
    assert (
        (expires - pd.Timestamp(clock.now(), unit="s", tz="UTC")) > pd.Timedelta(hours=23)
    ).all()

    clock.advance(23 * 3600)  # X keeps media 24 h: both now expire in about an hour
    soon = result.expiring(within="2h")
    assert sorted(soon["path"].map(lambda p: Path(p).name)) == ["clip.mp4", "photo.jpg"]
    assert soon["expires_at"].is_monotonic_increasing
    assert (soon["expires_in"] > pd.Timedelta(minutes=30)).all()
    assert (soon["expires_in"] <= pd.Timedelta(hours=2)).all()
    assert result.expiring("30min").empty
    assert len(result.expiring(2 * 3600)) == 2
    assert list(soon.columns) == [*result.items.columns, "expires_in"]
    assert not result.items["expired"].dropna().any()

    clock.advance(2 * 3600)  # now past expiry: `expired` flips when read; nothing is expiring
    assert result.items["expired"].tolist() == [True, True, pd.NA]
    assert result.expiring("2h").empty
    assert result.expiring("3d").empty


def test_expiring_lists_only_usable_media() -> None:
    files, events = records()
    files[0].state = "failed"
    items = items_frame(files, events, now=T0)
    assert expiring(items, within="2d", now=T0).empty  # failed video; image already expired
    files[0].state = "skipped"  # already uploaded by an earlier batch: its id is still good
    items = items_frame(files, events, now=T0)
    assert expiring(items, within="2d", now=T0)["path"].tolist() == ["clip.mp4"]


# --- exports ---------------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["items", "events", "responses"])
async def test_parquet_round_trip_of_a_real_batch(
    result: UploadResult, tmp_path: Path, which: str
) -> None:
    frame = getattr(result, which)
    path = tmp_path / f"{which}.parquet"
    frame.to_parquet(path)
    pd.testing.assert_frame_equal(pd.read_parquet(path), frame)
    pd.testing.assert_frame_equal(read_parquet(path), frame)


@pytest.mark.parametrize("which", ["items", "events", "responses", "failures"])
async def test_csv_round_trip_keeps_media_ids_and_types(
    result: UploadResult, tmp_path: Path, which: str
) -> None:
    frame = getattr(result, which)
    path = to_csv(frame, tmp_path / f"{which}.csv")
    back = read_csv(path)
    pd.testing.assert_frame_equal(back, frame)
    ids = frame["media_id"].dropna().tolist()
    assert back["media_id"].dropna().tolist() == ids
    # documented fallback for CSVs from elsewhere
    plain = pd.read_csv(path, dtype={"media_id": "string"})
    assert plain["media_id"].dropna().tolist() == ids
    if which == "items":  # what read_csv is for: one file without an id, and ids are floats
        assert pd.read_csv(path)["media_id"].dtype == "float64"


def test_csv_of_synthetic_frames_with_surprises(tmp_path: Path) -> None:
    files, events = records()
    files[2].target = "emulator"  # CSV cannot tell "" from missing: both come back missing
    files[1].error_message = 'a "quoted", multi-line\nmessage'
    frame = events_frame(events)
    pd.testing.assert_frame_equal(read_csv(to_csv(frame, tmp_path / "e.csv")), frame)
    items = items_frame(files, events, now=T0 + 100)
    pd.testing.assert_frame_equal(read_csv(to_csv(items, tmp_path / "i.csv")), items)
    empty = events_frame([])
    pd.testing.assert_frame_equal(read_csv(to_csv(empty, tmp_path / "n.csv")), empty)


def test_read_csv_leaves_other_frames_alone_but_keeps_ids(tmp_path: Path) -> None:
    pd.DataFrame({"media_id": ["2125903426444328961"], "n": [1]}).to_csv(
        tmp_path / "o.csv", index=False
    )
    back = read_csv(tmp_path / "o.csv")
    assert back["media_id"].tolist() == ["2125903426444328961"]


# --- live reads ------------------------------------------------------------------------------


def test_frames_can_be_read_while_a_background_batch_runs(tmp_path: Path, media_dir: Path) -> None:
    emu = Emulator(
        clock=ScaledClock(10), processing_seconds=(4.0, 16.0), seed=3, state=tmp_path / "l.sqlite"
    )
    # Different clips: processing time is drawn per content, so identical clips would all
    # finish at the same instant.
    clips = [mf.make_mp4(media_dir / f"c{i}.mp4", seconds=1.0 + i / 2) for i in range(3)]
    photo = mf.make_png(media_dir / "p.png")
    job = mk.upload_files([*clips, photo], emulator=emu, wait=False, progress="none")
    seen: list[tuple[str, ...]] = []
    responses_seen: list[int] = []
    deadline = time.monotonic() + 30
    while not job.done() and time.monotonic() < deadline:
        items = job.items
        assert items.dtypes[list(ITEM_SCHEMA)].to_dict() == dict(ITEM_SCHEMA)
        if len(items):
            assert len(items) == 4  # every file has its row from the start
            seen.append(tuple(map(str, items["state"])))
        live = job.result
        responses_seen.append(len(live.responses))
        assert live.events.dtypes.to_dict() == dict(EVENT_SCHEMA)
        live.latency()  # works mid-batch: files still processing just have no time yet
        time.sleep(0.05)
    result = job.wait(timeout=30)
    emu.close()
    seen.append(tuple(map(str, result.items["state"])))
    assert len(seen) >= 3
    assert "processing" in {s for states in seen for s in states}  # read while processing
    assert len(set(seen)) >= 3  # states changed between reads, file by file
    assert responses_seen == sorted(responses_seen)  # answers only accumulate
    assert len(set(responses_seen)) > 1
    assert set(result.items["state"]) == {"succeeded"}
    assert result.latency(by="media_category").loc["tweet_video", "count"] == 3


# --- plots -----------------------------------------------------------------------------------


def bars(ax: Any) -> dict[str, int]:
    return {c.get_label(): len(c.patches) for c in ax.containers}


async def test_plot_timeline_has_one_row_per_file_and_a_bar_per_phase(
    result: UploadResult,
) -> None:
    from matplotlib.figure import Figure

    figure = result.plot_timeline()
    assert isinstance(figure, Figure)
    (ax,) = figure.axes
    names = [t.get_text() for t in ax.get_yticklabels()]
    assert sorted(names) == sorted(
        ["clip_a.mp4", "clip_b.mp4", "clip_big.mp4", "photo.jpg", "poster.jpg", "notes.bin"]
    )
    assert bars(ax) == {"INIT": 5, "APPEND": 5, "FINALIZE": 5, "processing": 3}
    failed = [c for c in ax.collections if c.get_gid() == "failed"]
    assert len(failed) == 1 and len(failed[0].get_offsets()) == 1
    red = [t.get_text() for t in ax.get_yticklabels() if t.get_color() != "black"]
    assert red == ["notes.bin"]
    png = figure._repr_png_()  # a notebook shows it without pyplot's inline backend
    assert png.startswith(b"\x89PNG")


async def test_plot_latency_has_a_box_per_category_with_data(result: UploadResult) -> None:
    from matplotlib.figure import Figure

    figure = result.plot_latency()
    assert isinstance(figure, Figure)
    upload_ax, processing_ax = figure.axes[:2]
    assert [t.get_text() for t in upload_ax.get_xticklabels()] == ["tweet_image", "tweet_video"]
    assert [t.get_text() for t in processing_ax.get_xticklabels()] == ["tweet_video"]
    points = sum(len(c.get_offsets()) for c in upload_ax.collections)
    assert points == 5
    by_band = result.plot_latency(by="size_band")
    labels = [t.get_text() for t in by_band.axes[0].get_xticklabels()]
    assert labels == ["< 1 MB", "1–5 MB", "5–15 MB"]


def test_plots_work_on_any_frames(tmp_path: Path) -> None:
    files, events = records()
    items = items_frame(files, events, now=T0)
    frame = events_frame(events)
    items.to_parquet(tmp_path / "i.parquet")
    frame.to_parquet(tmp_path / "e.parquet")
    figure = plot_timeline(
        read_parquet(tmp_path / "i.parquet"), read_parquet(tmp_path / "e.parquet")
    )
    (ax,) = figure.axes
    assert len(ax.get_yticks()) == 3
    assert bars(ax) == {"INIT": 2, "APPEND": 2, "FINALIZE": 2, "processing": 1}
    files, events = with_alt_text_set_after_processing()
    figure = plot_timeline(items_frame(files, events, now=T0), events_frame(events))
    assert bars(figure.axes[0])["METADATA"] == 1
    empty = plot_timeline(items_frame([], [], now=T0), events_frame([]))
    assert len(empty.axes[0].get_yticks()) == 0
    nothing = plot_latency(items_frame([], [], now=T0))
    assert [t.get_text() for t in nothing.axes[0].texts] == ["no data"]


def test_plot_timeline_of_a_batch_that_sent_nothing_keeps_seconds_on_its_axis() -> None:
    """Every file skipped (uploaded earlier) or invalid: no events at all. The axis counts
    seconds from the batch's start, never epoch seconds, and the plot says why it is empty."""
    files = [
        FileRecord("b2", 0, "done.jpg", state="skipped", started_at=T0, finished_at=T0),
        FileRecord("b2", 1, "also.mp4", state="skipped", started_at=T0, finished_at=T0 + 0.01),
        FileRecord("b2", 2, "bad.bin", state="invalid", finished_at=T0 + 0.02),
    ]
    figure = plot_timeline(items_frame(files, [], now=T0 + 1), events_frame([]))
    (ax,) = figure.axes
    low, high = ax.get_xlim()
    assert -1.0 < low < high <= 10.0
    assert bars(ax) == {}
    skipped = [c for c in ax.collections if c.get_gid() == "skipped"]
    failed = [c for c in ax.collections if c.get_gid() == "failed"]
    assert len(skipped[0].get_offsets()) == 2 and len(failed[0].get_offsets()) == 1
    assert all(0.0 <= x < 1.0 for x, _ in failed[0].get_offsets())
    (note,) = [t for t in ax.texts if t.get_gid() == "nothing-sent"]
    assert note.get_text() == "no request was sent: 2 skipped, 1 invalid"
    assert ax.get_xlabel() == "seconds since the batch began"


def test_plot_timeline_shows_at_most_max_files() -> None:
    files, events = records()
    figure = plot_timeline(items_frame(files, events, now=T0), events_frame(events), max_files=2)
    ax = figure.axes[0]
    assert len(ax.get_yticks()) == 2
    assert "first 2 of 3 files" in ax.get_title()


def test_plots_without_matplotlib_say_how_to_get_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    items = items_frame(*records(), now=T0)
    with pytest.raises(
        ConfigurationError,
        match=r"pip install 'mediakit-x\[plot\]' \(from a checkout: pip install -e '\.\[plot\]'\)",
    ):
        plot_latency(items)
    with pytest.raises(ConfigurationError, match="matplotlib"):
        plot_timeline(items, events_frame(records()[1]))


def test_files_are_matched_by_batch_and_file_id_when_items_have_them() -> None:
    files, events = records()
    events.append(Event("b1", 1, "clip.mp4", "METADATA", 1, T0 + 9.25, T0 + 10.0, ok=True))
    items = items_frame(files, events, now=T0)
    frame = events_frame(events)
    assert {"batch_id", "file_id"} <= set(items.columns)
    # "clip.mp4" was also uploaded in batch b0: ids tell the two uploads apart, a path cannot.
    keyed = items.assign(batch_id="b1", file_id=pd.array([1, 2, 3], dtype="Int64"))
    assert bars(plot_timeline(keyed, frame).axes[0])["METADATA"] == 1
    by_path = plot_timeline(items.drop(columns=["batch_id", "file_id"]), frame)
    assert "METADATA" not in bars(by_path.axes[0])  # by path: the latest upload of the path
