"""The dashboard's ETA, on the batch's clock: every time here is a number handed in, never
elapsed time, so the logic is checked exactly (how close it is on real batches: bench/eta.py)."""

from __future__ import annotations

import pytest

import mediakit as mk
from mediakit._eta import PRIOR_WEIGHT, EtaEstimator, Expected, RecentRate, _lane_bytes
from mediakit._forecast import DEFAULT_POLLING_S, History, PlannedFile, _processing
from mediakit._limits import MiB
from mediakit._records import Event, FileRecord
from mediakit._result import UploadResult
from mediakit._snapshot import Snapshot

GIF = 2 * MiB


def prior_s(category: str, size: int) -> float:
    """What the processing-time model (+ polling) expects, with no history."""
    return float(_processing(History(), [PlannedFile(size, category)])[0])


def gif(file_id: int, **fields: object) -> FileRecord:
    return FileRecord(
        "b", file_id, f"g{file_id}.gif", bytes=GIF, media_category="tweet_gif", **fields
    )  # type: ignore[arg-type]


def test_a_stale_percent_is_not_extrapolated_from_now() -> None:
    # X said 25 % 4 s after FINALIZE; the next poll is 10 s away. The old ETA stretched
    # 25 % over all the time since FINALIZE (climbing: 4 s → 30 s → 42 s, then collapsing).
    eta = EtaEstimator()
    video = gif(0, state="processing", bytes_done=GIF, uploaded_at=100.0, progress_percent=25)
    prior = prior_s("tweet_gif", GIF)
    seen = []
    for now in (104.0, 106.0, 108.0, 110.0):
        eta.observe([video], now)
        seen.append(eta.estimate([video], now))
    # From the percent: 16 s in all, so 12, 10, 8, 6 s left, weighed (25 %) against what a
    # GIF is expected to take: the prior, moved toward the 16 s this file's percent implies.
    expected = prior + (16.0 - prior) / (1 + PRIOR_WEIGHT)
    for now, got in zip((104.0, 106.0, 108.0, 110.0), seen, strict=True):
        by_percent = 16.0 - (now - 100.0)
        by_expectation = max(0.0, expected - (now - 100.0))
        assert got == pytest.approx(0.25 * by_percent + 0.75 * by_expectation)
    assert seen == sorted(seen, reverse=True)  # it only goes down while nothing new is said
    # A new percent, reported at 112 s: 60 % after 12 s is 20 s in all, 8 s to go.
    video.progress_percent = 60
    eta.observe([video], 112.0)
    expected = prior + (20.0 - prior) / (1 + PRIOR_WEIGHT)
    assert eta.estimate([video], 112.0) == pytest.approx(
        0.6 * 8.0 + 0.4 * max(0.0, expected - 12.0)
    )


def test_the_percent_is_timed_by_the_answer_that_reported_it() -> None:
    # With the batch's events, a percent counts from X's answer, not from the redraw that
    # first saw it (a redraw can come up to a second later).
    eta = EtaEstimator()
    video = gif(0, state="processing", bytes_done=GIF, uploaded_at=100.0, progress_percent=50)
    events = [
        Event("b", 0, "g0.gif", "STATUS", 1, 104.5, 105.0, state="in_progress", progress_percent=50)
    ]
    eta.observe([video], 106.0, events)
    assert eta._implied([video]) == {0: (10.0, 1.0)}  # 50 % after 5 s: 10 s in all
    events.append(
        Event("b", 0, "g0.gif", "STATUS", 1, 107.5, 108.0, state="in_progress", progress_percent=80)
    )
    video.progress_percent = 80
    eta.observe([video], 108.5, events)  # read from where it stopped: the new answer only
    assert eta._implied([video]) == {0: (10.0, 1.0)}


def test_the_rate_spans_the_last_appends_not_only_the_last_seconds() -> None:
    # One APPEND ended 30 s ago, nothing since: not 0 B/s, and not the rate of 30 s ago
    # either: the time since counts.
    rate = RecentRate(window_s=10.0, changes=2, now=iter([0.0, 20.0, 30.0, 50.0]).__next__)
    rate.add(0)
    assert rate.rates() == (None, None)
    rate.add(1000)
    rate.add(1000)
    assert rate.rates()[0] == pytest.approx(1000 / 30)
    rate.add(1000)
    assert rate.rates()[0] == pytest.approx(1000 / 50)


def test_uploads_take_the_slots_at_the_speed_this_batch_has_shown() -> None:
    eta = EtaEstimator()
    mib = 2**20

    def photo(i: int, size: int, **fields: object) -> FileRecord:
        return FileRecord("b", i, f"p{i}.jpg", bytes=size, media_category="tweet_image", **fields)  # type: ignore[arg-type]

    a = photo(3, 2 * mib, state="uploading", started_at=98.0)
    b = photo(4, 1 * mib, state="uploading", started_at=100.0)
    queued = gif(5, state="queued")
    assert eta.estimate([a, b, queued], 100.0) is None  # nothing uploaded yet: no guess
    # 1, 2 and 3 MiB took 2, 3 and 4 s: 1 s per file + 1 s per MiB, per slot.
    done = [
        photo(i, (i + 1) * mib, state="succeeded", started_at=90.0, uploaded_at=92.0 + i)
        for i in range(3)
    ]
    batch = [*done, a, b, queued]
    # a ends at 1 s (3 s, 2 s of it gone), b at 2 s; the GIF takes a's slot: 1 + 3 = 4 s,
    # then X processes it (the prior: no GIF seen yet).
    assert eta.estimate(batch, 100.0) == pytest.approx(4.0 + prior_s("tweet_gif", GIF))
    assert eta.last["uploads_s"] == pytest.approx(4.0)
    # A file later than expected is due any moment, not overdue by a negative time.
    assert eta.estimate([*done, photo(6, mib, state="uploading", started_at=0.0)], 100.0) == 0.0


def test_before_any_upload_ends_the_first_appends_give_the_pace() -> None:
    eta = EtaEstimator()
    video = FileRecord(
        "b", 0, "v.mp4", bytes=8 * 2**20, state="uploading", started_at=10.0,
        media_category="tweet_video",
    )  # fmt: skip
    events = [
        Event("b", 0, "v.mp4", "APPEND", 1, 10.0, 14.0, segment_index=0, ok=True,
              bytes_sent=4 * 2**20),
    ]  # fmt: skip
    eta.observe([video], 15.0, events)  # 4 MiB in 4 s: 1 s per MiB
    assert eta.estimate([video], 15.0) == pytest.approx(
        8.0 - 5.0 + prior_s("tweet_video", 8 * 2**20)
    )


def test_the_byte_rate_is_on_the_batch_clock() -> None:
    eta = EtaEstimator()
    photo = FileRecord("b", 1, "p.jpg", bytes=600, bytes_done=100, state="uploading")
    eta.observe([photo], 0.0)
    photo.bytes_done = 300
    eta.observe([photo], 10.0)  # 200 bytes in 10 s of the batch's clock: 20 B/s
    assert eta.rate.rates()[0] == pytest.approx(20.0)


def test_the_queue_learns_each_category_from_what_this_batch_has_seen() -> None:
    prior = prior_s("tweet_gif", GIF)
    # Three GIFs X took 20 s over (FINALIZE to the answer that said done).
    done = [
        gif(i, state="succeeded", bytes_done=GIF, uploaded_at=10.0 * i, finished_at=10.0 * i + 20)
        for i in range(3)
    ]
    learned = Expected.learn(done, History())
    assert learned.seen == {"tweet_gif": 3}
    shift = 3 * (20.0 - prior) / (3 + PRIOR_WEIGHT)
    assert learned.shift_s["tweet_gif"] == pytest.approx(shift)
    later = PlannedFile(GIF, "tweet_gif")
    video = PlannedFile(GIF, "tweet_video")
    photo = PlannedFile(GIF, "tweet_image")
    assert learned.seconds([later, video, photo]) == pytest.approx(
        [prior + shift, prior_s("tweet_video", GIF), 0.0]  # unseen category: the prior alone
    )
    # In the ETA: a GIF still queued is expected to take as long as the batch has seen, after
    # its upload (2 MiB, at the 1 s per MiB the three took: 2 s).
    for record in done:
        record.started_at = record.uploaded_at - 2.0  # type: ignore[operator]
    queued = gif(9, state="queued")
    assert EtaEstimator().estimate([*done, queued], 50.0) == pytest.approx(2.0 + prior + shift)


def test_finished_is_zero_and_processing_alone_needs_no_rate() -> None:
    eta = EtaEstimator()
    ended = [gif(0, state="succeeded"), gif(1, state="invalid"), gif(2, state="cancelled")]
    assert eta.estimate(ended, 5.0) == 0.0
    held = gif(3, state="processing", bytes_done=GIF, uploaded_at=1.0)
    eta.observe([*ended, held], 5.0)
    assert eta.estimate([*ended, held], 5.0) == pytest.approx(prior_s("tweet_gif", GIF) - 4.0)
    late = gif(4, state="processing", bytes_done=GIF, uploaded_at=-100.0)
    assert eta.estimate([late], 5.0) == 0.0  # later than expected: due any moment, never < 0


def test_the_text_line_shows_no_eta_at_0_bytes_per_second() -> None:
    photo = FileRecord("b", 0, "p.jpg", bytes=5 * MiB, state="uploading")
    result = UploadResult(
        [photo],
        [],
        target="emulator",
        api="v2",
        batch_id="b",
        clock=mk.ManualClock(101.0),
        started_at=100.0,
        finished_at=None,
    )
    assert "ETA" not in Snapshot.take(result).line()


def test_the_polling_lag_is_half_the_interval_x_asks_for() -> None:
    # The prior adds half the documented 5 s between polls; X's answers in this batch say
    # how long the interval really is: half of its median, once any answer said.
    eta = EtaEstimator()
    held = gif(0, state="processing", bytes_done=GIF, uploaded_at=100.0)
    without_lag = prior_s("tweet_gif", GIF) - DEFAULT_POLLING_S
    eta.observe([held], 101.0)
    assert eta.estimate([held], 101.0) == pytest.approx(without_lag + DEFAULT_POLLING_S - 1.0)
    events = [Event("b", 0, "g0.gif", "FINALIZE", 1, 99.5, 100.0, ok=True, state="pending",
                    check_after_secs=1)]  # fmt: skip
    eta.observe([held], 101.0, events)
    assert eta.estimate([held], 101.0) == pytest.approx(without_lag + 0.5 - 1.0)
    # Two answers asking for 5 s: the median interval is 5 s. An answer that says done asks
    # for nothing, and 0 counts as the 1 s the poller waits at least.
    events += [
        Event("b", 0, "g0.gif", "STATUS", 1, 101.0, 101.2, state="in_progress",
              check_after_secs=5),
        Event("b", 1, "g1.gif", "STATUS", 1, 101.0, 101.2, state="in_progress",
              check_after_secs=5),
        Event("b", 2, "g2.gif", "STATUS", 1, 101.0, 101.2, state="succeeded",
              check_after_secs=30),
    ]  # fmt: skip
    eta.observe([held], 102.0, events)
    assert eta.expected_history().polling_s == pytest.approx(2.5)
    events += [
        Event("b", 3, "g3.gif", "FINALIZE", 1, 101.0, 101.2, ok=True, state="pending",
              check_after_secs=0)
        for _ in range(3)
    ]  # fmt: skip
    eta.observe([held], 102.0, events)
    assert eta.expected_history().polling_s == pytest.approx(0.5)  # 1, 1, 1, 1, 5, 5


def test_a_file_uploads_in_the_time_its_busiest_lane_takes() -> None:
    # Segments go 3 at a time, each to the first lane free.
    assert _lane_bytes(FileRecord("b", 0, "v", bytes=5 * MiB, chunk_size=4 * MiB), 3) == 4 * MiB
    assert _lane_bytes(FileRecord("b", 0, "v", bytes=17 * MiB, chunk_size=4 * MiB), 3) == 8 * MiB
    assert _lane_bytes(FileRecord("b", 0, "v", bytes=17 * MiB, chunk_size=4 * MiB), 1) == 17 * MiB
    assert _lane_bytes(FileRecord("b", 0, "v", bytes=3 * MiB), 3) == 3 * MiB  # no plan: one
    # The batch's speed is learned per lane, and a queued 5 MiB video takes 4 MiB's time:
    # 1, 2 and 3 MiB (one segment each) took 2, 3 and 4 s: 1 s + 1 s per MiB.
    done = [
        FileRecord("b", i, f"p{i}.jpg", bytes=(i + 1) * MiB, chunk_size=4 * MiB,
                   media_category="tweet_image", state="succeeded", started_at=90.0,
                   uploaded_at=92.0 + i)
        for i in range(3)
    ]  # fmt: skip
    video = FileRecord("b", 9, "v.mp4", bytes=5 * MiB, chunk_size=4 * MiB, state="queued",
                       media_category="tweet_video")  # fmt: skip
    eta = EtaEstimator()
    eta.estimate([*done, video], 100.0)
    assert eta.last["uploads_s"] == pytest.approx(1.0 + 4.0)
    one_lane = EtaEstimator(segment_concurrency=1)  # one APPEND at a time: all 5 MiB
    one_lane.estimate([*done, video], 100.0)
    assert one_lane.last["uploads_s"] == pytest.approx(1.0 + 5.0)
