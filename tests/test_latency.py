"""Processing latency an analyst can trust: the interval polling allows holds the emulator's
true processing time for every file, phases add up, groupings, journals combined."""

from __future__ import annotations

import datetime as dt
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import mediakit as mk
from mediakit import ConfigurationError, JournalError, MediaError, ScaledClock, UploadResult
from mediakit._frames import items_frame
from mediakit._latency import DURATION_BANDS, duration_band, group_keys, latency, phases
from mediakit.emulator import Emulator, running

from . import mediafactory as mf
from .test_frames import T0, records


def campaign(folder: Path) -> list[Path]:
    """Videos and animated GIFs (processed by X), and a photo (not processed)."""
    clips = [
        mf.make_mp4(folder / f"clip{i}.mp4", seconds=0.5 + i / 2, width=64 + 16 * i)
        for i in range(6)
    ]
    gifs = [mf.make_gif(folder / f"anim{i}.gif", frames=2 + i) for i in range(3)]
    return [*clips, *gifs, mf.make_jpeg(folder / "photo.jpg")]


async def upload(emu: Emulator, files: list[Path], where: str, **options: Any) -> UploadResult:
    if where == "asgi":
        return await mk.upload_files_async(files, emulator=emu, progress="none", **options)
    with running(emu) as url:
        return await mk.upload_files_async(
            files, base_url=url, clock=emu.clock, progress="none", **options
        )


def true_processing_s(emu: Emulator, result: UploadResult) -> pd.Series:
    """What the emulator decided at FINALIZE: seconds until it says succeeded, or failed (at
    `fail_progress` percent of the way, which the final STATUS shows)."""
    items = result.items.set_index("path")
    responses = result.responses
    truth = {}
    for path, row in items.iterrows():
        if pd.isna(row["media_id"]) or row["media_category"] == "tweet_image":
            continue
        held = emu.media_by_id(row["media_id"])
        assert held is not None and held.processing_s is not None
        seconds = held.processing_s
        if row["state"] == "failed":
            last = responses[responses["path"] == path].iloc[-1]
            seconds *= int(last["progress_percent"]) / 100
        truth[path] = seconds
    return pd.Series(truth, dtype="float64")


@pytest.mark.parametrize("where", ["asgi", "socket"])
async def test_true_processing_time_lies_in_the_interval_for_every_file(
    tmp_path: Path, media_dir: Path, where: str
) -> None:
    emu = Emulator(
        clock=ScaledClock(20),
        processing_seconds=(0.5, 14.0),
        processing_failure_rate=0.25,
        latency=(0.05, 0.6),  # each request waits this long (emulated seconds) before X acts
        seed=4,
        state=tmp_path / "e.sqlite",
    )
    result = await upload(emu, campaign(media_dir), where)
    items = result.items.set_index("path")
    truth = true_processing_s(emu, result)
    assert len(truth) == 9 and (items.loc[truth.index, "state"] == "succeeded").sum() >= 1
    low = items.loc[truth.index, "processing_s_min"]
    high = items.loc[truth.index, "processing_s_max"]
    assert low.notna().all() and high.notna().all()
    inside = (low <= truth) & (truth <= high)
    assert inside.all(), pd.DataFrame({"low": low, "true": truth, "high": high})[~inside]
    # Not vacuous: a file polled more than once had a "not yet" answer after FINALIZE, so its
    # lower bound is above 0, and no bound is wider than the polling it came from.
    polled = items.loc[truth.index, "status_polls"] >= 2
    assert polled.any() and (low[polled] > 0).all()
    observed = items.loc[truth.index, "processing_s"]
    assert (high >= observed - 1e-9).all()  # the FINALIZE request counts in the upper bound
    # The emulator started its clock while the FINALIZE that finished the upload was in flight.
    events = result.events
    for path in truth.index:
        media = emu.media_by_id(items.loc[path, "media_id"])
        assert media is not None and media.finalized_at is not None
        finalize = events[(events["path"] == path) & (events["command"] == "FINALIZE")]
        sent = finalize["started_at"].min().timestamp()
        answered = finalize["finished_at"].max().timestamp()
        assert sent - 1e-5 <= media.finalized_at <= answered + 1e-5
    emu.close()
    photo = items.loc[str(media_dir / "photo.jpg")]
    assert np.isnan(photo["processing_s_min"]) and np.isnan(photo["processing_s_max"])


async def test_phases_per_file_add_up_to_the_time_until_processing_was_known(
    tmp_path: Path, media_dir: Path
) -> None:
    emu = Emulator(
        clock=ScaledClock(20), processing_seconds=(2.0, 6.0), seed=2, state=tmp_path / "p.sqlite"
    )
    files = [*campaign(media_dir)[:4], mf.make_png(media_dir / "p.png")]
    result = await upload(emu, files, "asgi", concurrency=1)  # one slot: the others queue
    emu.close()
    table = result.phases()
    assert list(table.columns) == [
        "batch_id",
        "file_id",
        "path",
        "media_category",
        "bytes",
        "state",
        "queued_s",
        "upload_s",
        "processing_s_min",
        "processing_s_mid",
        "processing_s_max",
        "polling_s_min",
        "polling_s_mid",
        "polling_s_max",
        "status_polls",
        "total_s",
    ]
    assert (table["queued_s"] >= 0).all()
    assert (table["queued_s"] == 0).sum() == 1  # the first file waits for nothing
    assert table["queued_s"].max() > table["upload_s"].min()  # the last waited for the others
    items = result.items
    for suffix in ("min", "mid", "max"):
        assert (table[f"processing_s_{suffix}"] >= 0).sum() == 4
        assert (table[f"polling_s_{suffix}"].dropna() >= 0).all()
    assert (table["processing_s_min"] <= table["processing_s_mid"]).sum() == 4
    assert (table["processing_s_mid"] <= table["processing_s_max"]).sum() == 4
    # the least polling goes with the longest processing
    assert (table["polling_s_min"] <= table["polling_s_max"]).sum() == 4
    # queued + upload + processing + polling = from the batch's first start to the answer
    # that said done (for each estimate: what processing does not take, polling does)
    processed = table["processing_s_mid"].notna()
    sums = table[["queued_s", "upload_s", "processing_s_mid", "polling_s_mid"]].sum(axis=1)
    expected = items["queued_s"] + items["upload_s"] + items["processing_s"]
    assert np.allclose(sums[processed], expected[processed], atol=1e-6)
    png = table[table["media_category"] == "tweet_image"].iloc[0]
    assert np.isnan(png["processing_s_mid"]) and np.isnan(png["polling_s_mid"])
    assert png["status_polls"] == 0
    queued = result.latency(by=(), metrics=("queued",))
    assert list(queued.columns) == [
        "count",
        "estimate",
        "queued_median_s",
        "queued_p90_s",
        "queued_p99_s",
        "queued_max_s",
        "polls_median",
        "polls_p90",
        "polls_p99",
        "polls_max",
    ]
    assert queued.loc["all", "queued_max_s"] == pytest.approx(table["queued_s"].max())
    with pytest.raises(ConfigurationError, match="estimate must be one of"):
        result.latency(estimate="mean")
    with pytest.raises(ConfigurationError, match="unknown metric 'speed'"):
        result.latency(metrics=["speed"])


# --- groupings -------------------------------------------------------------------------------


def synthetic_items() -> pd.DataFrame:
    files, events = records()
    return items_frame(files, events, now=T0)


def test_grouping_by_derived_columns_aliases_user_columns_and_series() -> None:
    items = synthetic_items()
    items["started_at"] = pd.to_datetime(
        ["2026-05-09 23:30", "2026-05-10 08:15", None], utc=True
    ).as_unit("us")
    keys = group_keys(items, ["day", "hour", "category", "batch", "campaign", "size_band"])
    assert keys["day"].tolist()[:2] == [dt.date(2026, 5, 9), dt.date(2026, 5, 10)]
    assert pd.isna(keys["day"].iloc[2])
    assert keys["hour"].tolist() == [23, 8, pd.NA]
    assert keys["category"].tolist()[:2] == ["tweet_video", "tweet_image"]
    assert keys["batch"].tolist() == ["b1", "b1", "b1"]
    assert keys["campaign"].tolist() == ["spring", "summer", pd.NA]
    assert keys["size_band"].tolist()[:2] == ["1–5 MB", "< 1 MB"]
    paris = items["started_at"].dt.tz_convert("Europe/Paris").dt.hour.rename("local_hour")
    table = latency(items, by=paris, states=None)
    assert table.index.name == "local_hour"
    assert sorted(table.index.dropna().tolist()) == [1, 10]
    by_type = latency(items, by="media_type", states=None)
    assert set(by_type.index.dropna()) == {"video/mp4", "image/png"}
    with pytest.raises(ConfigurationError, match=r"cannot group by 'colour'.*duration_band"):
        latency(items, by="colour")


def test_duration_band_needs_a_duration_column_and_works_once_it_exists() -> None:
    items = synthetic_items()
    with pytest.raises(ConfigurationError, match=r"no duration_s column.*preflight"):
        latency(items, by="duration_band")
    timed = items.assign(duration_s=[140.0, np.nan, 9.5])
    table = latency(timed, by="duration_band", states=None)
    assert table.index.tolist()[:2] == ["≤ 10 s", "60–140 s"]  # 140 s, X's limit, included
    assert table["count"].sum() == 3
    bands = duration_band([0.0, 10.0, 10.01, 30.0, 59.9, 60.0, 140.0, 140.5, None])
    assert list(bands.categories) == list(DURATION_BANDS) and bands.ordered
    assert list(bands[:-1]) == [
        "≤ 10 s",
        "≤ 10 s",
        "10–30 s",
        "10–30 s",
        "30–60 s",
        "30–60 s",
        "60–140 s",
        "> 140 s",
    ]
    assert pd.isna(bands[-1])


def test_items_without_the_interval_columns_say_what_to_do() -> None:
    items = synthetic_items().drop(columns=["processing_s_min", "processing_s_max"])
    with pytest.raises(ConfigurationError, match=r"no processing_s_min column.*pass the events"):
        latency(items)
    assert len(phases(items.assign(processing_s_min=1.0, processing_s_max=2.0))) == 3


# --- journals across batches and files -------------------------------------------------------


async def test_journals_across_batches_and_files_combine(tmp_path: Path, media_dir: Path) -> None:
    emu = Emulator(
        clock=ScaledClock(20), processing_seconds=(2.0, 5.0), seed=5, state=tmp_path / "e.sqlite"
    )
    monday, tuesday = tmp_path / "monday.sqlite", tmp_path / "tuesday.sqlite"
    clips = campaign(media_dir)
    files = pd.DataFrame({"path": [str(p) for p in clips[:3]], "campaign": "spring"})
    first = await mk.upload_files_async(files, emulator=emu, journal=monday, progress="none")
    again = await mk.upload_files_async(  # the same files: skipped, still a batch of its own
        files, emulator=emu, journal=monday, progress="none"
    )
    others = pd.DataFrame({"path": [str(p) for p in clips[6:8]], "campaign": "summer"})
    third = await mk.upload_files_async(others, emulator=emu, journal=tuesday, progress="none")
    emu.close()

    both = mk.open_journal([monday, tuesday], batch="all")
    assert both.batch_id == "all"
    items = both.items
    assert (
        items["batch_id"].tolist()
        == [first.batch_id] * 3 + [again.batch_id] * 3 + [third.batch_id] * 2
    )
    assert items["state"].tolist() == ["succeeded"] * 3 + ["skipped"] * 3 + ["succeeded"] * 2
    by_batch = both.latency(by="batch")
    assert by_batch["count"].to_dict() == {first.batch_id: 3, third.batch_id: 2}
    by_campaign = both.latency(by=["campaign", "category"])
    assert by_campaign["count"].to_dict() == {
        ("spring", "tweet_video"): 3,
        ("summer", "tweet_gif"): 2,
    }
    assert len(both.events) == len(first.events) + len(again.events) + len(third.events)
    pd.testing.assert_frame_equal(
        mk.open_journal(tuesday).items.drop(columns="expired"),
        third.items.drop(columns="expired"),
    )
    latest = mk.open_journal([monday, tuesday])  # the newest batch of all the files
    assert latest.batch_id == third.batch_id
    chosen = mk.open_journal([tuesday, monday], batch=[first.batch_id, third.batch_id])
    assert chosen.batch_id == f"{first.batch_id}+{third.batch_id}"  # in order of start
    assert len(chosen.items) == 5
    # a copy of a journal given with it: each batch is read once
    copy = tmp_path / "copy.sqlite"
    shutil.copy(monday, copy)
    assert len(mk.open_journal([monday, copy, monday], batch="all").items) == 6

    with pytest.raises(MediaError, match=r"nowhere\.sqlite: no such journal"):
        mk.open_journal([monday, tmp_path / "nowhere.sqlite"])
    with pytest.raises(MediaError, match=r"tuesday\.sqlite.*no batch 'nope' \(it holds"):
        mk.open_journal([monday, tuesday], batch="nope")
    notes = tmp_path / "notes.txt"
    notes.write_text("not a database, just notes\n" * 100)
    with pytest.raises(
        JournalError, match=r"notes\.txt: is not a mediakit journal \(not a SQLite database\)"
    ):
        mk.open_journal(notes)
    foreign = tmp_path / "other.sqlite"
    with sqlite3.connect(foreign) as db:
        db.execute("CREATE TABLE t (x)")
    db.close()
    with pytest.raises(
        JournalError, match=r"other\.sqlite: is a SQLite database but not a mediakit journal"
    ):
        mk.open_journal(foreign)
    with sqlite3.connect(foreign) as db:  # reading it did not add a journal's tables to it
        names = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    db.close()
    assert names == {"t"}
    with pytest.raises(MediaError, match="not a path"):
        mk.open_journal([monday, 3])  # type: ignore[list-item]
    with pytest.raises(MediaError, match="no journal file given"):
        mk.open_journal([])
