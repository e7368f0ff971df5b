"""The processing-time model: a robust fit that recovers known parameters (synthetic, and from
an emulator whose processing model is known), the predictor and its defaults, the batch
estimate `plan.estimated_s`, and the ETA the dashboard can call."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import mediakit as mk
from mediakit import ConfigurationError, ScaledClock
from mediakit._forecast import (
    DEFAULT_POLLING_S,
    DEFAULT_UPLOAD,
    History,
    PlannedFile,
    UploadSpeed,
    estimate_batch,
    eta_s,
)
from mediakit._journal import Journal, default_journal_path
from mediakit._limits import MiB
from mediakit._model import (
    DEFAULT_CONSTANTS,
    DEFAULTS,
    LinearFit,
    ProcessingTimeModel,
    predict_processing_s,
    robust_fit,
)
from mediakit._records import FileRecord
from mediakit.emulator import Emulator

from . import mediafactory as mf

# --- the robust fit --------------------------------------------------------------------------


def test_huber_fit_recovers_a_line_that_outliers_drag_least_squares_from() -> None:
    rng = np.random.default_rng(3)
    x = rng.uniform(0, 20, 200)
    y = 4.0 + 1.5 * x + rng.normal(0, 0.5, 200)
    slow = rng.choice(200, 20, replace=False)
    y[slow] += rng.uniform(30, 60, 20)  # 10 % of files X was very slow on
    design = np.column_stack([np.ones_like(x), x])
    line = robust_fit(design, y)
    assert line.coefficients == pytest.approx([4.0, 1.5], abs=0.25)
    assert 0.35 < line.scale < 0.8  # the spread of the good points, not of the outliers
    assert (line.weights[slow] < 0.2).all()
    plain = np.linalg.lstsq(design, y, rcond=None)[0]
    assert abs(plain[0] - 4.0) > 2.0  # what least squares would have said


def test_a_perfect_line_is_found_exactly() -> None:
    x = np.arange(10.0)
    line = robust_fit(np.column_stack([np.ones(10), x]), 2.0 + 3.0 * x)
    assert line.coefficients == pytest.approx([2.0, 3.0])
    assert line.scale == pytest.approx(0.0, abs=1e-9)


def interval_items(
    n: int, *, seed: int, with_duration: bool, width: float = 2.0, category: str = "tweet_video"
) -> tuple[pd.DataFrame, np.ndarray[Any, Any]]:
    """Items whose true processing time follows 3 + 0.8 s/MiB + 0.25 s per video second,
    seen through polling: each file's interval is `width` s wide around it, placed at random."""
    rng = np.random.default_rng(seed)
    mib = rng.uniform(0.5, 40, n)
    duration = rng.uniform(2, 140, n)
    true = 3.0 + 0.8 * mib + (0.25 * duration if with_duration else 0.0) + rng.normal(0, 0.4, n)
    offset = rng.uniform(0, width, n)
    items = pd.DataFrame(
        {
            "bytes": pd.array((mib * MiB).astype(int), dtype="Int64"),
            "media_category": pd.Categorical([category] * n),
            "state": "succeeded",
            "processing_s_min": true - offset,
            "processing_s_max": true - offset + width,
            "batch_id": "b1",
        }
    )
    if with_duration:
        items["duration_s"] = duration
    return items, true


def test_fit_recovers_bytes_and_duration_coefficients_from_intervals() -> None:
    items, _ = interval_items(120, seed=1, with_duration=True)
    model = ProcessingTimeModel.from_items(items)
    table = model.table
    assert table.index.tolist() == [("tweet_video", "bytes + duration"), ("tweet_video", "bytes")]
    full = table.loc[("tweet_video", "bytes + duration")]
    assert full["intercept_s"] == pytest.approx(3.0, abs=0.5)
    assert full["s_per_mib"] == pytest.approx(0.8, abs=0.03)
    assert full["s_per_video_s"] == pytest.approx(0.25, abs=0.01)
    assert full["files"] == 120 and full["source"] == "fit"
    # 0.4 s of noise plus the midpoint's own error (uniform over ±1 s: sd 0.58)
    assert 0.4 < full["residual_sd_s"] < 1.0
    assert full["residual_p05_s"] < 0 < full["residual_p95_s"]
    assert np.isnan(table.loc[("tweet_video", "bytes"), "s_per_video_s"])
    assert table.attrs["estimate"] == "midpoint"
    # duration known: the full form; unknown: the bytes-only one
    assert model.predict(10 * MiB, 60.0, "tweet_video") == pytest.approx(
        full["intercept_s"] + 10 * full["s_per_mib"] + 60 * full["s_per_video_s"]
    )
    simple = table.loc[("tweet_video", "bytes")]
    assert model.predict(10 * MiB, None, "tweet_video") == pytest.approx(
        simple["intercept_s"] + 10 * simple["s_per_mib"]
    )
    both = model.predict([10 * MiB, 10 * MiB], [60.0, np.nan], "tweet_video")
    assert both[0] == pytest.approx(model.predict(10 * MiB, 60.0))
    assert both[1] == pytest.approx(model.predict(10 * MiB))
    low, high = model.band(10 * MiB, 60.0, "tweet_video")
    assert low < model.predict(10 * MiB, 60.0) < high
    assert high - low == pytest.approx(2 * 1.6449 * full["residual_sd_s"], rel=1e-3)
    assert "midpoint of the polling interval" in repr(model)
    assert "<table" in model._repr_html_()


def test_the_bounds_bracket_the_fit_and_the_estimate_is_said() -> None:
    items, _ = interval_items(80, seed=2, with_duration=False, width=4.0)
    lower = ProcessingTimeModel.from_items(items, estimate="lower")
    upper = ProcessingTimeModel.from_items(items, estimate="upper")
    mid = ProcessingTimeModel.from_items(items)
    at = 20 * MiB
    assert lower.predict(at) < mid.predict(at) < upper.predict(at)
    assert upper.predict(at) - lower.predict(at) == pytest.approx(4.0, abs=0.5)
    assert mid.predict(at) == pytest.approx(3.0 + 0.8 * 20, abs=0.4)
    assert "lower bound" in lower.summary() and "upper bound" in upper.summary()


def test_too_little_history_keeps_the_defaults_and_says_why() -> None:
    items, _ = interval_items(5, seed=3, with_duration=False)
    model = ProcessingTimeModel.from_items(items)
    row = model.table.loc[("tweet_video", "bytes")]
    assert row["source"] == "default (only 5 files in the history)"
    assert row["intercept_s"] == DEFAULT_CONSTANTS["tweet_video"][1][0]
    same = interval_items(10, seed=3, with_duration=False)[0].assign(bytes=5 * MiB)
    assert "every file the same size" in str(ProcessingTimeModel.from_items(same).table["source"])
    with pytest.raises(ConfigurationError, match="min_files"):
        ProcessingTimeModel.from_items(items, min_files=2)


# --- the predictor and its defaults ----------------------------------------------------------


def test_default_predictions_are_the_documented_constants() -> None:
    assert predict_processing_s(5 * MiB, 15.0, "tweet_video") == pytest.approx(10.0)
    assert predict_processing_s(5 * MiB, None, "tweet_video") == pytest.approx(10.0)
    assert predict_processing_s(20 * MiB, 30.0, "tweet_video") == pytest.approx(19.0)
    assert predict_processing_s(3 * MiB, None, "tweet_gif") == pytest.approx(6.0)
    assert predict_processing_s(3 * MiB, None, "tweet_image") == 0.0  # X does not process it
    assert predict_processing_s(3 * MiB, None, "subtitles") == 0.0
    many = predict_processing_s([MiB, MiB], None, ["tweet_gif", "tweet_image"])
    assert list(many) == [4.0, 0.0]  # type: ignore[arg-type]
    assert ProcessingTimeModel.defaults() is DEFAULTS
    assert set(DEFAULTS.table.index.get_level_values("category")) == {
        "tweet_video",
        "dm_video",
        "amplify_video",
        "tweet_gif",
        "dm_gif",
    }
    with pytest.raises(ConfigurationError, match="unknown media category 'tweet_vid'"):
        predict_processing_s(MiB, None, "tweet_vid")
    fitted = ProcessingTimeModel(
        (LinearFit("tweet_gif", "bytes", 1.0, 2.0, 0.0, 10, 0.1, -0.1, 0.1, "fit"),)
    )
    assert fitted.predict(MiB, None, "tweet_gif") == 3.0
    assert fitted.predict(5 * MiB, 15.0, "tweet_video") == pytest.approx(10.0)  # the default


# --- fitted on emulated batches whose processing model is known ------------------------------

# Seconds, seconds per MiB: processing from about 5 to 60 s over the files' sizes, a range
# wide enough next to the polling intervals (1-2 s) for the slopes to be pinned down.
VIDEO_TRUE = (2.0, 15.0)
GIF_TRUE = (1.0, 30.0)
NOISE_S = 0.3


def known_model(rng: random.Random, size: int, category: str | None) -> float:
    base, per_mib = GIF_TRUE if category == "tweet_gif" else VIDEO_TRUE
    return base + per_mib * size / MiB + rng.gauss(0.0, NOISE_S)


async def test_fit_recovers_the_emulators_processing_model(tmp_path: Path, media_dir: Path) -> None:
    emu = Emulator(
        # 60 s of processing in 4 real seconds; FINALIZE, which the emulator answers in real
        # time, then lasts 1-4 emulated seconds: the interval's upper bound includes it.
        clock=ScaledClock(16),
        processing_seconds=known_model,
        max_check_after_secs=1,  # poll every second: intervals about 1 s wide
        seed=9,
        state=tmp_path / "e.sqlite",
    )
    sizes = np.linspace(0.2, 4.0, 12)
    videos = [
        mf.make_big_file(media_dir / f"v{i}.mp4", int(s * MiB), header="mp4")
        for i, s in enumerate(sizes)
    ]
    gifs = [
        mf.make_big_file(media_dir / f"g{i}.gif", int(s * MiB / 2), header="gif")
        for i, s in enumerate(sizes)
    ]
    files = pd.DataFrame(
        {
            "path": [str(p) for p in [*videos, *gifs]],
            "category": ["tweet_video"] * len(videos) + ["tweet_gif"] * len(gifs),
        }
    )
    result = await mk.upload_files_async(files, emulator=emu, progress="none")
    items = result.items
    assert (items["state"] == "succeeded").all(), items[["path", "state", "error_message"]]
    truth = [emu.media_by_id(media_id).processing_s for media_id in items["media_id"]]  # type: ignore[union-attr]
    emu.close()
    assert ((items["processing_s_min"] <= truth) & (truth <= items["processing_s_max"])).all()
    model = result.processing_model()
    table = model.table
    lower = ProcessingTimeModel.from_items(items, estimate="lower")
    upper = ProcessingTimeModel.from_items(items, estimate="upper")
    for category, (base, per_mib) in (("tweet_video", VIDEO_TRUE), ("tweet_gif", GIF_TRUE)):
        row = table.loc[(category, "bytes")]
        assert row["source"] == "fit" and row["files"] == 12
        mine = items[items["media_category"] == category]
        x = mine["bytes"].to_numpy(dtype=float) / MiB
        half = ((mine["processing_s_max"] - mine["processing_s_min"]) / 2).to_numpy()
        # How far the data lets a line be off: each midpoint is within half its interval of
        # the truth, so a (least-squares) slope is within sum|dx|·half / sum dx², plus three
        # standard errors of the noise; the intercept is off by the line's error at the mean
        # size plus what the slope's error makes of it at size 0.
        dx = x - x.mean()
        slope_tol = (np.abs(dx) * half).sum() / (dx**2).sum() + 3 * NOISE_S / np.sqrt((dx**2).sum())
        intercept_tol = half.mean() + 3 * NOISE_S / np.sqrt(len(x)) + x.mean() * slope_tol
        assert slope_tol < 0.25 * per_mib  # the data says something: the test can fail
        assert row["s_per_mib"] == pytest.approx(per_mib, abs=slope_tol)
        assert row["intercept_s"] == pytest.approx(base, abs=intercept_tol)
        assert row["residual_sd_s"] < 2 * NOISE_S + half.max()
        # the true line lies between the lines fitted to the interval's two bounds
        at = np.array([x.min(), x.mean(), x.max()])
        true = base + per_mib * at
        slack = 3 * NOISE_S / np.sqrt(len(x))
        assert (lower.predict(at * MiB, None, category) - slack <= true).all()
        assert (true <= upper.predict(at * MiB, None, category) + slack).all()
    assert model.note == "fitted on 24 processed files from 1 batch(es)"


# --- the batch estimate (plan.estimated_s) and the ETA ---------------------------------------


def test_estimate_batch_simulates_slots_and_processing() -> None:
    history = History(upload=UploadSpeed(1.0, 1.0, 10, "history"), polling_s=0.5, note="test")
    files = [
        PlannedFile(2 * MiB, "tweet_image", "image"),
        PlannedFile(10 * MiB, "tweet_video", "video", 30.0),
        PlannedFile(4 * MiB, "tweet_gif", "gif"),
    ]
    one = estimate_batch(files, history, concurrency=1)
    # one slot, longest processing first: the video (11 s upload, then 5 + 4 + 6 s of
    # processing + 0.5 s polling), the GIF (5 s, then 3 + 4 + 0.5), the image (3 s)
    assert one.uploads_s == pytest.approx(11 + 5 + 3)
    assert one.seconds == pytest.approx(max(11 + 15.5, 16 + 7.5, 19))
    assert one.longest_processing_s == pytest.approx(15.5)
    two = estimate_batch(files, history, concurrency=2)
    assert two.seconds == pytest.approx(26.5)  # the video still bounds the batch
    assert two.uploads_s == pytest.approx(max(11, 5 + 3))
    floor = estimate_batch(files, history, concurrency=2, rate_limit_floor_s=900.0)
    assert floor.seconds == 900.0 and floor.rate_limit_floor_s == 900.0
    assert any("1 s + 1 s/MiB" in a for a in one.assumptions)
    assert estimate_batch([], history).seconds == 0.0


def test_plan_estimates_from_defaults_then_from_journal_history(
    tmp_path: Path, media_dir: Path
) -> None:
    clip = mf.make_big_file(media_dir / "clip.mp4", 3 * MiB, header="mp4")
    photo = mf.make_jpeg(media_dir / "photo.jpg")
    plan = mk.plan(media_dir)  # no journal in this test's cache yet: the defaults
    assert plan.estimate is not None
    assert "no journal at" in plan.estimate.assumptions[0]
    Journal(default_journal_path()).close()  # a default journal, still without any batch
    empty = mk.plan(media_dir)
    assert empty.estimate is not None
    assert "no usable history" in empty.estimate.assumptions[0]
    assert "holds no batch yet" in empty.estimate.assumptions[0]
    assert empty.estimated_s == plan.estimated_s
    video_s = DEFAULT_UPLOAD.seconds(3 * MiB)
    # the duration plan's preflight probed (the 1 s clip the file starts with) feeds the model
    (base, per_mib, per_video_s), _bytes_only = DEFAULT_CONSTANTS["tweet_video"]
    expected = video_s + base + per_mib * 3 + per_video_s * 1.0 + DEFAULT_POLLING_S
    assert plan.estimated_s == pytest.approx(expected, rel=1e-3)
    assert "about" in plan.summary()

    emu = Emulator(clock=ScaledClock(20), processing_seconds=4.0, state=tmp_path / "e.sqlite")
    journal = tmp_path / "history.sqlite"
    more = [
        mf.make_big_file(media_dir / f"m{i}.mp4", (i + 1) * MiB // 2, header="mp4")
        for i in range(8)
    ]
    history_run = mk.upload_files(
        [clip, photo, *more], emulator=emu, journal=journal, progress="none"
    )
    emu.close()
    assert history_run.ok
    learned = mk.plan([clip, photo], history=journal)
    assert learned.estimate is not None
    assert learned.estimate.assumptions[0] == "history: 10 succeeded files from 1 batch(es)"
    history = History.from_items(history_run.items)
    model = history.model
    assert model.table.loc[("tweet_video", "bytes"), "source"] == "fit"
    # every video took 4 s: the fit says about 4 s whatever the size
    assert model.predict(3 * MiB) == pytest.approx(4.0, abs=1.5)
    assert learned.estimate.longest_processing_s == pytest.approx(
        float(model.predict(3 * MiB)) + history.polling_s
    )
    assert learned.requests["STATUS"] == int(np.ceil(history.polls_per_file or 0))
    other = mk.plan([clip], history=journal, target="x")  # history from the emulator only
    assert other.estimate is not None and "to 'x'" in other.estimate.assumptions[0]
    plain = mk.plan([clip], history=False)
    assert plain.estimated_s == pytest.approx(expected, rel=1e-3)


def test_eta_is_a_pure_function_of_the_records() -> None:
    history = History(upload=UploadSpeed(1.0, 1.0, 10, "history"), polling_s=0.5)
    now = 1000.0

    def record(file_id: int, state: str, size: int, category: str, **fields: Any) -> FileRecord:
        return FileRecord(
            "b", file_id, f"f{file_id}", bytes=size, media_category=category, state=state, **fields
        )  # type: ignore[arg-type]

    # a video X has processed for 4 s of its predicted 5 + 1.0 × 4 = 9 s (+ 0.5 s polling)
    processing = record(0, "processing", 4 * MiB, "tweet_video", uploaded_at=now - 4.0)
    done = record(1, "succeeded", MiB, "tweet_video")
    assert eta_s([processing, done], now, history=history) == pytest.approx(5.5)
    late = record(2, "processing", 4 * MiB, "tweet_video", uploaded_at=now - 60.0)
    assert eta_s([late], now, history=history) == 0.0  # due any moment
    # half-uploaded GIF (2 of 4 MiB left) and a queued image, at a measured 1 MiB/s
    gif = record(3, "uploading", 4 * MiB, "tweet_gif", bytes_done=2 * MiB)
    photo = record(4, "queued", MiB, "tweet_image")
    assert eta_s([gif, photo], now, history=history, bytes_per_s=MiB) == pytest.approx(
        max(2 + 3 + 4 * 1.0 + 0.5, 3)
    )
    # without a measured rate: the history's speed per slot
    assert eta_s([gif, photo], now, history=history, concurrency=1) == pytest.approx(
        max(3 + 7.5, 3 + 2)
    )
    assert eta_s([done], now) == 0.0
    with_duration = record(
        5, "processing", 4 * MiB, "tweet_video", uploaded_at=now, user_columns={"duration_s": 30.0}
    )
    assert eta_s([with_duration], now) == pytest.approx(5 + 0.4 * 4 + 0.2 * 30 + DEFAULT_POLLING_S)
