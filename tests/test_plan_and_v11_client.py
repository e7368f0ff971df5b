"""mk.plan before anything is sent, and the engine speaking v1.1 through the same interface."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import mediakit as mk
from mediakit import ScaledClock
from mediakit.emulator import Emulator, running

from . import mediafactory as mf


def test_plan_counts_requests_against_budgets(tmp_path: Path) -> None:
    folder = tmp_path / "f"
    folder.mkdir()
    mf.make_big_file(folder / "big.mp4", 10 * 2**20 + 5, header="mp4")
    mf.make_gif(folder / "a.gif", frames=3)
    mf.make_png(folder / "p.png")
    mf.make_noise(folder / "x.bin", 10)
    plan = mk.plan(folder, chunk_size=2**20)
    files = plan.files.set_index("path")
    assert files.loc[str(folder / "big.mp4"), "segments"] == 11
    assert files.loc[str(folder / "x.bin"), "ok"] == False  # noqa: E712 (pandas boolean)
    endpoints = plan.endpoints.set_index("command")
    assert endpoints.loc["INIT", "requests"] == 3
    assert endpoints.loc["APPEND", "requests"] == 11 + 1 + 1
    assert endpoints.loc["FINALIZE", "requests"] == 3
    assert endpoints.loc["STATUS", "requests"] == 2 * 4 and endpoints.loc["STATUS", "estimated"]
    assert endpoints.loc["APPEND", "budget_per_15min"] == 1875
    assert plan.windows == 1 and plan.min_duration_s == 0
    assert "3 files to upload" in plan.summary() and "1 that cannot be uploaded" in plan.summary()
    assert "fits in one 15-minute" in repr(plan)
    assert "<table" in plan._repr_html_()


def test_every_frame_names_a_file_by_the_same_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """plan.files, preflight, the batch's items and failures join on `path`, whatever form the
    folder was given in (here relative, from inside it)."""
    folder = tmp_path / "shoot"
    (folder / "sub").mkdir(parents=True)
    mf.make_png(folder / "p.png")
    mf.make_jpeg(folder / "sub" / "a.jpg")
    mf.make_noise(folder / "x.bin", 10)
    monkeypatch.chdir(tmp_path)
    expected = sorted(str(folder / n) for n in ("p.png", "sub/a.jpg", "x.bin"))
    planned = sorted(mk.plan("shoot", recursive=True).files["path"])
    checked = sorted(mk.preflight("./shoot", recursive=True)["path"])
    result = mk.upload_folder("shoot/", recursive=True, progress="none")
    assert planned == checked == sorted(result.items["path"]) == expected
    assert result.failures["path"].tolist() == [str(folder / "x.bin")]


def test_plan_estimates_with_the_files_at_once_a_batch_would_start_with(tmp_path: Path) -> None:
    """By default a batch is adaptive: it starts with 8 files at once, or every video and GIF
    at once up to 32, and the plan's estimate assumes the same (it only widens from there)."""
    photos, clips = tmp_path / "photos", tmp_path / "clips"
    photos.mkdir()
    clips.mkdir()
    for i in range(3):
        mf.make_png(photos / f"p{i}.png")
    for i in range(12):
        mf.make_big_file(clips / f"c{i:02}.mp4", 64 * 1024, header="mp4")

    def at_once(plan: mk.UploadPlan) -> str:
        assert plan.estimate is not None
        (upload,) = [a for a in plan.estimate.assumptions if a.startswith("upload per file")]
        return upload.rsplit(", ", 1)[1]

    assert at_once(mk.plan(photos, history=False)) == "8 files at once"
    assert at_once(mk.plan(clips, history=False)) == "12 files at once"
    one = mk.plan(clips, history=False, concurrency=1)
    assert at_once(one) == "1 file at once"
    wide = mk.plan(clips, history=False)
    assert one.estimated_s is not None and wide.estimated_s is not None
    assert wide.estimated_s < one.estimated_s
    with pytest.raises(mk.ConfigurationError, match="concurrency"):
        mk.plan(clips, history=False, concurrency=0)


def test_plan_shows_the_windows_the_budget_forces(tmp_path: Path) -> None:
    path = mf.make_png(tmp_path / "p.png")
    files = pd.DataFrame({"path": [str(path)] * 4000, "alt_text": ["x"] * 4000})
    plan = mk.plan(files)
    endpoints = plan.endpoints.set_index("command")
    assert endpoints.loc["INIT", "windows"] == 3  # 4000 / 1875
    assert (
        endpoints.loc["METADATA", "requests"] == 4000 and endpoints.loc["METADATA", "windows"] == 8
    )
    assert plan.windows == 8 and plan.min_duration_s == 7 * 15 * 60
    assert "8 15-minute windows" in plan.summary()


@pytest.mark.parametrize("where", ["asgi", "socket"])
async def test_v11_through_the_same_engine(tmp_path: Path, media_dir: Path, where: str) -> None:
    emu = Emulator(
        clock=ScaledClock(50), processing_seconds=(5.0, 10.0), state=tmp_path / "v1.sqlite"
    )
    files = pd.DataFrame(
        {
            "path": [
                str(mf.make_jpeg(media_dir / "a.jpg", 30, 20)),
                str(mf.make_mp4(media_dir / "c.mp4")),
                str(mf.make_gif(media_dir / "g.gif", frames=3)),
            ],
            "alt_text": ["a photo", None, None],
        }
    )
    if where == "asgi":
        result = await mk.upload_files_async(
            files, api="v1.1", emulator=emu, progress="none", chunk_size=4096
        )
    else:
        with running(emu) as url:
            result = await mk.upload_files_async(
                files, api="v1.1", base_url=url, clock=emu.clock, progress="none", chunk_size=4096
            )
    assert result.ok, result.failures
    assert result.api == "v1.1"
    items = result.items
    assert list(items["api"]) == ["v1.1"] * 3
    paths = {r.path for r in emu.requests}
    assert paths <= {"/1.1/media/upload.json", "/1.1/media/metadata/create.json"}
    for media_id in items["media_id"]:
        held = emu.media_by_id(media_id)
        assert held is not None and held.api == "v1.1" and held.state in ("ready", "succeeded")
    assert emu.media_by_id(items.loc[0, "media_id"]).alt_text == "a photo"  # type: ignore[union-attr]
    assert (result.events["command"] == "STATUS").sum() >= 2
    emu.close()


async def test_v11_errors_keep_xs_words(tmp_path: Path, media_dir: Path) -> None:
    emu = Emulator(state=tmp_path / "e.sqlite")
    client = mk.MediaClient(api="v1.1", emulator=emu)
    with pytest.raises(mk.APIError) as caught:
        await client.init(16 * 2**20, "image/gif", "tweet_gif")
    await client.aclose()
    assert caught.value.status_code == 400
    assert caught.value.message == "INIT: File size exceeds 15728640 bytes."
    emu.close()
