"""The latency plots: processing against size with the fit and intervals, ECDFs per category;
each returns its figure, labels its units, and works on a result, a journal or bare frames."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mediakit as mk
from mediakit import ConfigurationError, ScaledClock, UploadResult
from mediakit._frames import items_frame, read_parquet
from mediakit._plots import plot_ecdf, plot_processing
from mediakit.emulator import Emulator

from . import mediafactory as mf
from .test_frames import T0


@pytest.fixture
async def journaled(tmp_path: Path, media_dir: Path) -> tuple[UploadResult, Path]:
    emu = Emulator(
        clock=ScaledClock(20), processing_seconds=(1.0, 8.0), seed=6, state=tmp_path / "e.sqlite"
    )
    files = [mf.make_mp4(media_dir / f"c{i}.mp4", seconds=0.5 + i / 4) for i in range(5)]
    files += [mf.make_gif(media_dir / f"g{i}.gif", frames=2 + i) for i in range(3)]
    files.append(mf.make_png(media_dir / "p.png"))
    journal = tmp_path / "j.sqlite"
    result = await mk.upload_files_async(files, emulator=emu, journal=journal, progress="none")
    emu.close()
    return result, journal


def test_processing_against_size_shows_intervals_the_fit_and_its_band(
    journaled: tuple[UploadResult, Path],
) -> None:
    from matplotlib.figure import Figure

    result, journal = journaled
    for source in (result, mk.open_journal(journal)):
        figure = source.plot_processing()
        assert isinstance(figure, Figure)
        gif_ax, video_ax = figure.axes[:2]  # the processed categories, sorted; not the image
        assert gif_ax.get_title() == "tweet_gif: 3 files"
        assert video_ax.get_title() == "tweet_video: 5 files"
        for ax, n in ((gif_ax, 3), (video_ax, 5)):
            assert ax.get_xlabel() == "size (MiB)" and ax.get_ylabel() == "processing (s)"
            (intervals,) = [c for c in ax.collections if c.get_gid() == "interval"]
            assert len(intervals.get_segments()) == n
            (points,) = [c for c in ax.collections if c.get_gid() == "estimate"]
            assert len(points.get_offsets()) == n
            (line,) = [x for x in ax.lines if x.get_gid() == "fit"]
            assert [c for c in ax.collections if c.get_gid() == "band"]
            # 3 or 5 files are fewer than a fit needs: the defaults are drawn, and said so
            assert line.get_label().startswith("default (no fit)")
        assert "midpoint of the polling interval" in figure.get_suptitle()
    model = result.processing_model(min_files=3)
    figure = result.plot_processing(model=model, estimate="upper")
    (line,) = [x for x in figure.axes[1].lines if x.get_gid() == "fit"]
    assert line.get_label().startswith("fit: ")
    low = result.items.set_index("path")["processing_s_max"].dropna()
    (points,) = [c for c in figure.axes[1].collections if c.get_gid() == "estimate"]
    assert sorted(points.get_offsets()[:, 1]) == pytest.approx(
        sorted(low[[p.endswith(".mp4") for p in low.index]])
    )


def test_ecdf_per_category_with_the_bounds_around_it(
    journaled: tuple[UploadResult, Path], tmp_path: Path
) -> None:
    result, journal = journaled
    figure = result.plot_ecdf()
    (ax,) = figure.axes
    curves = {line.get_gid(): line for line in ax.lines if line.get_gid().startswith("ecdf:")}
    assert set(curves) == {"ecdf:tweet_gif", "ecdf:tweet_video"}
    video = curves["ecdf:tweet_video"]
    assert video.get_ydata()[-1] == 1.0 and len(video.get_xdata()) == 6  # 0, then 5 files
    bounds = [line for line in ax.lines if line.get_gid() == "bound:tweet_video"]
    assert len(bounds) == 2
    # the lower bounds' ECDF is left of the upper bounds': the truth's lies between them
    lower, upper = (np.sort(b.get_xdata()[1:]) for b in bounds)
    assert (lower <= upper).all()
    assert ax.get_xlabel() == "processing (s), midpoint" and ax.get_ylabel() == "fraction of files"
    uploads = mk.open_journal(journal).plot_ecdf(metric="upload", by="size_band")
    labels = [line.get_label() for line in uploads.axes[0].lines]
    assert labels == ["< 1 MB (9)"]  # every file: the PNG is uploaded too
    assert uploads.axes[0].get_xlabel() == "upload (s)"
    with pytest.raises(ConfigurationError, match="unknown metric 'speed'"):
        result.plot_ecdf(metric="speed")
    path = tmp_path / "items.parquet"
    result.items.to_parquet(path)
    assert plot_ecdf(read_parquet(path)).axes[0].lines  # bare frames work too


def test_plots_of_empty_frames_say_so() -> None:
    empty = items_frame([], [], now=T0)
    processing = plot_processing(empty)
    assert processing.axes[0].texts[0].get_text() == "no processed files"
    assert plot_ecdf(empty).axes[0].texts[0].get_text() == "no data"


def test_plot_latency_names_the_estimate(journaled: tuple[UploadResult, Path]) -> None:
    result, _ = journaled
    figure = result.plot_latency(estimate="lower")
    assert figure.axes[1].get_title() == "processing (s, lower)"
    assert figure.axes[0].get_ylabel() == "seconds"
    by_hour = result.plot_latency(by="hour")
    assert by_hour.get_suptitle().startswith("Latency by hour")
    frame = result.items
    series = pd.Series(np.where(frame["bytes"] > 5000, "big", "small"), name="weight")
    from mediakit._plots import plot_latency

    assert plot_latency(frame, by=series).get_suptitle() == "Latency by weight: 9 files"
