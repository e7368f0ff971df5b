"""The DataFrames: schemas as DESIGN.md lists them, computed item columns, Parquet round trips."""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mediakit._frames import (
    EVENT_SCHEMA,
    ITEM_SCHEMA,
    TIMESTAMP,
    events_frame,
    items_frame,
    read_parquet,
    responses_frame,
)
from mediakit._limits import CATEGORIES
from mediakit._records import COMMANDS, FILE_STATES, PROCESSING_STATES, Event, FileRecord

MEDIA_ID = "2125903426444328960"  # 19 digits: a float would make it 2125903426444328960.0 ≠
T0 = 1_760_000_000.0

EVENT_DTYPES = {
    "batch_id": "string",
    "file_id": "Int64",
    "path": "string",
    "command": "category",
    "segment_index": "Int32",
    "attempt": "Int16",
    "started_at": "datetime64[us, UTC]",
    "finished_at": "datetime64[us, UTC]",
    "elapsed_s": "float64",
    "http_status": "Int16",
    "bytes_sent": "Int64",
    "ok": "boolean",
    "media_id": "string",
    "media_key": "string",
    "state": "category",
    "progress_percent": "Int16",
    "check_after_secs": "Int32",
    "size": "Int64",
    "expires_after_secs": "Int64",
    "expires_at": "datetime64[us, UTC]",
    "error_code": "string",
    "error_name": "string",
    "error_message": "string",
    "rate_limit_limit": "Int32",
    "rate_limit_remaining": "Int32",
    "rate_limit_reset": "datetime64[us, UTC]",
    "transaction_id": "string",
    "response": "string",
}

ITEM_DTYPES = {
    "path": "string",
    "bytes": "Int64",
    "media_type": "string",
    "media_category": "category",
    "segments": "Int32",
    "target": "string",
    "api": "category",
    "media_id": "string",
    "media_key": "string",
    "state": "category",
    "attempts": "Int32",
    "retries": "Int32",
    "started_at": "datetime64[us, UTC]",
    "finished_at": "datetime64[us, UTC]",
    "queued_s": "float64",
    "upload_s": "float64",
    "processing_s": "float64",
    "processing_s_min": "float64",
    "processing_s_max": "float64",
    "total_s": "float64",
    "throughput_mb_s": "float64",
    "status_polls": "Int32",
    "expires_at": "datetime64[us, UTC]",
    "expired": "boolean",
    "repaired": "boolean",
    "repair": "string",
    "repaired_path": "string",
    "source_bytes": "Int64",
    "error_code": "string",
    "error_name": "string",
    "error_message": "string",
    "batch_id": "string",
    "file_id": "Int64",
    "path_bytes": "object",
}


def video_events(batch: str = "b1", file_id: int = 1, path: str = "clip.mp4") -> list[Event]:
    """A video's life: INIT, an APPEND retried after a 503, FINALIZE, two STATUS polls."""
    common: dict[str, Any] = {
        "batch_id": batch,
        "file_id": file_id,
        "path": path,
        "media_id": MEDIA_ID,
    }
    return [
        Event(
            command="INIT",
            attempt=1,
            started_at=T0,
            finished_at=T0 + 0.25,
            http_status=200,
            ok=True,
            media_key=f"7_{MEDIA_ID}",
            expires_after_secs=86_400,
            rate_limit_limit=1875,
            rate_limit_remaining=1874,
            rate_limit_reset=T0 + 900,
            transaction_id="tx-1",
            response=f'{{"data": {{"id": "{MEDIA_ID}", "expires_after_secs": 86400}}}}',
            **common,
        ),
        Event(
            command="APPEND",
            attempt=1,
            started_at=T0 + 0.3,
            finished_at=T0 + 0.5,
            segment_index=0,
            bytes_sent=4_194_304,
            http_status=503,
            ok=False,
            error_code="503",
            error_name="ServiceUnavailable",
            error_message="Service Unavailable",
            **common,
        ),
        Event(
            command="APPEND",
            attempt=2,
            started_at=T0 + 1.5,
            finished_at=T0 + 1.75,
            segment_index=0,
            bytes_sent=4_194_304,
            http_status=204,
            ok=True,
            **common,
        ),
        Event(
            command="FINALIZE",
            attempt=1,
            started_at=T0 + 2.0,
            finished_at=T0 + 2.5,
            http_status=200,
            ok=True,
            state="pending",
            check_after_secs=1,
            size=4_194_304,
            expires_after_secs=86_400,
            expires_at=T0 + 86_400,
            response=f'{{"data": {{"id": "{MEDIA_ID}", "processing_info": {{"state": "pending"}}}}}}',
            **common,
        ),
        Event(
            command="STATUS",
            attempt=1,
            started_at=T0 + 3.5,
            finished_at=T0 + 3.75,
            http_status=200,
            ok=True,
            state="in_progress",
            progress_percent=40,
            check_after_secs=5,
            **common,
        ),
        Event(
            command="STATUS",
            attempt=1,
            started_at=T0 + 8.75,
            finished_at=T0 + 9.0,
            http_status=200,
            ok=True,
            state="succeeded",
            progress_percent=100,
            **common,
        ),
    ]


def records() -> tuple[list[FileRecord], list[Event]]:
    video = FileRecord(
        batch_id="b1",
        file_id=1,
        path="clip.mp4",
        bytes=5_000_000,
        media_type="video/mp4",
        media_category="tweet_video",
        segments=2,
        target="emulator",
        state="succeeded",
        media_id=MEDIA_ID,
        media_key=f"7_{MEDIA_ID}",
        started_at=T0,
        uploaded_at=T0 + 2.5,
        finished_at=T0 + 9.0,
        expires_at=T0 + 86_400,
        alt_text="A cat on a keyboard",
        user_columns={"campaign": "spring", "rank": 1},
    )
    image = FileRecord(
        batch_id="b1",
        file_id=2,
        path="photo.png",
        bytes=1_000_000,
        media_type="image/png",
        media_category="tweet_image",
        segments=1,
        target="emulator",
        state="succeeded",
        media_id="1880028106020515840",
        started_at=T0 + 1,
        uploaded_at=T0 + 1.5,
        finished_at=T0 + 1.5,  # images are not processed: no STATUS, no processing_info
        expires_at=T0 - 10,  # already expired when the frame is built
        user_columns={"campaign": "summer", "owner": "ana"},
    )
    broken = FileRecord(
        batch_id="b1",
        file_id=3,
        path="broken.gif",
        bytes=None,
        media_type=None,
        state="invalid",
        api="v1.1",
        error_code="unsupported",
        error_name="MediaError",
        error_message="not a GIF",
    )
    image_events = [
        Event("b1", 2, "photo.png", "INIT", 1, T0 + 1, T0 + 1.1, http_status=200, ok=True),
        Event("b1", 2, "photo.png", "APPEND", 1, T0 + 1.1, T0 + 1.3, segment_index=0),
        Event("b1", 2, "photo.png", "FINALIZE", 1, T0 + 1.3, T0 + 1.5, http_status=200, ok=True),
    ]
    # The same file_id in another batch must not count for this batch's file.
    other_batch = video_events(batch="b0")
    return [video, image, broken], video_events() + image_events + other_batch


def categories(dtype: object) -> list[str]:
    assert isinstance(dtype, pd.CategoricalDtype)
    return list(dtype.categories)


# --- schemas ---------------------------------------------------------------------------------


def test_event_schema_is_the_designed_one() -> None:
    assert {name: str(dtype) for name, dtype in EVENT_SCHEMA.items()} == EVENT_DTYPES
    assert list(EVENT_SCHEMA) == list(EVENT_DTYPES)
    assert categories(EVENT_SCHEMA["command"]) == list(COMMANDS)
    assert categories(EVENT_SCHEMA["state"]) == list(PROCESSING_STATES)


def test_item_schema_is_the_designed_one() -> None:
    assert {name: str(dtype) for name, dtype in ITEM_SCHEMA.items()} == ITEM_DTYPES
    assert list(ITEM_SCHEMA) == list(ITEM_DTYPES)
    assert categories(ITEM_SCHEMA["media_category"]) == list(CATEGORIES)
    assert len(CATEGORIES) == 8
    assert categories(ITEM_SCHEMA["api"]) == ["v2", "v1.1"]
    assert categories(ITEM_SCHEMA["state"]) == list(FILE_STATES)


def test_schemas_are_read_only() -> None:
    with pytest.raises(TypeError):
        EVENT_SCHEMA["extra"] = TIMESTAMP  # type: ignore[index]


@pytest.mark.parametrize(
    ("frame", "schema"),
    [
        (lambda: events_frame([]), EVENT_SCHEMA),
        (lambda: responses_frame([]), EVENT_SCHEMA),
        (lambda: items_frame([], [], now=T0), ITEM_SCHEMA),
    ],
    ids=["events", "responses", "items"],
)
def test_empty_input_gives_the_full_schema(frame: object, schema: dict[str, object]) -> None:
    df = frame()  # type: ignore[operator]
    assert len(df) == 0
    assert list(df.columns) == list(schema)
    assert df.dtypes.to_dict() == dict(schema)


# --- events ----------------------------------------------------------------------------------


def test_events_frame_types_values_and_nulls() -> None:
    events = video_events()
    df = events_frame(events)
    assert df.dtypes.to_dict() == dict(EVENT_SCHEMA)
    assert len(df) == len(events)
    assert isinstance(df.index, pd.RangeIndex)
    assert df["command"].tolist() == ["INIT", "APPEND", "APPEND", "FINALIZE", "STATUS", "STATUS"]
    assert df["attempt"].tolist() == [1, 1, 2, 1, 1, 1]
    assert df["segment_index"].tolist() == [pd.NA, 0, 0, pd.NA, pd.NA, pd.NA]
    assert df["ok"].tolist() == [True, False, True, True, True, True]
    assert df["started_at"][0] == pd.Timestamp(T0, unit="s", tz="UTC")
    assert np.allclose(df["elapsed_s"], [0.25, 0.2, 0.25, 0.5, 0.25, 0.25])
    assert df["state"].tolist()[3:] == ["pending", "in_progress", "succeeded"]
    assert pd.isna(df["state"][0])
    assert df["expires_at"][3] == pd.Timestamp(T0 + 86_400, unit="s", tz="UTC")
    assert df["rate_limit_reset"][0] == pd.Timestamp(T0 + 900, unit="s", tz="UTC")
    assert df["error_name"].tolist()[:2] == [pd.NA, "ServiceUnavailable"]
    assert df["response"][0].startswith('{"data"')


def test_elapsed_is_null_while_an_attempt_is_in_flight() -> None:
    df = events_frame([Event("b1", 1, "a.png", "APPEND", 1, T0)])
    assert np.isnan(df["elapsed_s"][0])
    assert df["finished_at"].isna().all()


def test_media_ids_stay_exact_strings() -> None:
    df = events_frame(video_events())
    assert df["media_id"].dtype == pd.StringDtype()
    assert set(df["media_id"]) == {MEDIA_ID}
    # Even an id handed over as an int comes out as its exact digits, never via a float.
    df = events_frame([Event("b1", 1, "a", "INIT", 1, T0, media_id=int(MEDIA_ID))])  # type: ignore[arg-type]
    assert df["media_id"][0] == MEDIA_ID


def test_batch_level_events_have_no_file() -> None:
    df = events_frame([Event("b1", None, None, "METADATA", 1, T0, T0 + 0.1, ok=True)])
    assert df["file_id"].isna().all()
    assert df["path"].isna().all()


def test_values_outside_the_category_lists_are_kept() -> None:
    events = [
        Event("b1", 1, "a.mp4", "STATUS", 1, T0, state="queued_by_x"),
        Event("b1", 1, "a.mp4", "STATUS", 1, T0, state="in_progress"),
        Event("b1", 1, "a.mp4", "STATUS", 1, T0),
    ]
    df = events_frame(events)
    assert df["state"].tolist()[:2] == ["queued_by_x", "in_progress"]
    assert pd.isna(df["state"][2])
    assert list(df["state"].cat.categories) == [*PROCESSING_STATES, "queued_by_x"]


def test_responses_are_the_finalize_and_status_rows() -> None:
    events = video_events()
    df = responses_frame(events)
    assert df["command"].tolist() == ["FINALIZE", "STATUS", "STATUS"]
    assert isinstance(df.index, pd.RangeIndex)
    assert df.dtypes.to_dict() == dict(EVENT_SCHEMA)
    pd.testing.assert_frame_equal(df, responses_frame(events_frame(events)))


# --- items -----------------------------------------------------------------------------------


def test_items_frame_one_row_per_file_with_computed_columns() -> None:
    files, events = records()
    df = items_frame(files, events, now=T0 + 100)
    assert df.dtypes[list(ITEM_SCHEMA)].to_dict() == dict(ITEM_SCHEMA)
    assert df["path"].tolist() == ["clip.mp4", "photo.png", "broken.gif"]
    video, image, broken = (df.iloc[i] for i in range(3))

    assert video["media_id"] == MEDIA_ID
    assert video["attempts"] == 6  # the other batch's events do not count
    assert video["retries"] == 1
    assert video["status_polls"] == 2
    assert video["upload_s"] == pytest.approx(2.5)
    assert video["processing_s"] == pytest.approx(6.5)
    assert video["total_s"] == pytest.approx(9.0)
    # X finished after the in_progress STATUS was sent (T0+3.5), less the FINALIZE answer
    # (T0+2.5), and before the succeeded answer (T0+9) less the FINALIZE sent (T0+2)
    assert video["processing_s_min"] == pytest.approx(1.0)
    assert video["processing_s_max"] == pytest.approx(7.0)
    assert video["queued_s"] == 0.0  # the batch's first file
    assert video["throughput_mb_s"] == pytest.approx(5_000_000 / 2.5 / 1e6)
    assert video["expired"] is not pd.NA
    assert not video["expired"]
    assert video["started_at"] == pd.Timestamp(T0, unit="s", tz="UTC")

    assert image["attempts"] == 3
    assert image["retries"] == 0
    assert image["status_polls"] == 0
    assert np.isnan(image["processing_s"])  # never processed: no STATUS, no processing state
    assert image["upload_s"] == pytest.approx(0.5)
    assert np.isnan(image["processing_s_min"]) and np.isnan(image["processing_s_max"])
    assert image["queued_s"] == pytest.approx(1.0)  # started 1 s after the batch's first file
    assert bool(image["expired"]) is True

    assert broken["state"] == "invalid"
    assert broken["api"] == "v1.1"
    assert broken["attempts"] == 0
    assert broken["error_message"] == "not a GIF"
    assert pd.isna(broken["bytes"])
    assert pd.isna(broken["expired"])
    assert pd.isna(broken["started_at"])
    assert all(
        np.isnan(broken[c])
        for c in ("queued_s", "upload_s", "processing_s", "total_s", "throughput_mb_s")
    )
    assert np.isnan(broken["processing_s_min"]) and np.isnan(broken["processing_s_max"])


def test_processing_state_in_finalize_counts_as_processed() -> None:
    record = FileRecord(
        "b1", 1, "a.gif", bytes=10, started_at=T0, uploaded_at=T0 + 1, finished_at=T0 + 4
    )
    finalize = Event("b1", 1, "a.gif", "FINALIZE", 1, T0 + 0.5, T0 + 1, state="succeeded")
    df = items_frame([record], [finalize], now=T0)
    assert df["processing_s"][0] == pytest.approx(3.0)
    assert df["status_polls"][0] == 0


def test_processing_interval_rules() -> None:
    """Retried FINALIZE and STATUS, an error that ends processing, a batch still polling."""
    record = FileRecord("b1", 1, "a.mp4", bytes=10, started_at=T0, uploaded_at=T0 + 3)

    def event(command: str, sent: float, answered: float, **fields: Any) -> Event:
        return Event("b1", 1, "a.mp4", command, 1, T0 + sent, T0 + answered, **fields)

    events = [
        event("INIT", 0.0, 0.5, ok=True),
        event("FINALIZE", 1.0, 2.0, ok=False, http_status=503),  # the first attempt: sent at 1
        event("FINALIZE", 2.5, 3.0, ok=True, state="pending"),  # answered at 3
        event("STATUS", 4.0, 4.5, ok=True, state="in_progress"),
        event("STATUS", 6.0, 6.5, ok=False, http_status=503),  # says nothing about X's state
        event("STATUS", 7.0, 7.5, ok=True, state="pending"),  # the last "not yet": sent at 7
    ]
    still = items_frame([record], events, now=T0).iloc[0]
    assert still["processing_s_min"] == pytest.approx(4.0)  # 7 - 3: at least this long
    assert np.isnan(still["processing_s_max"])  # not done yet: no upper bound
    # X put an error in an in_progress answer: final, whatever the state says
    done = [*events, event("STATUS", 9.0, 9.25, ok=True, state="in_progress", error_name="X")]
    done.append(event("STATUS", 10.0, 10.5, ok=True, state="failed"))  # later answers: no matter
    row = items_frame([record], done, now=T0).iloc[0]
    assert row["processing_s_min"] == pytest.approx(4.0)
    assert row["processing_s_max"] == pytest.approx(8.25)  # 9.25 - 1
    # a FINALIZE that answers done at once: no "not yet", the lower bound is 0
    sync = [events[0], event("FINALIZE", 1.0, 1.5, ok=True, state="succeeded")]
    row = items_frame([record], sync, now=T0).iloc[0]
    assert (row["processing_s_min"], row["processing_s_max"]) == (0.0, 0.5)
    # a resumed poll has no FINALIZE in its batch: the interval is unknown, not invented
    resumed = [event("STATUS", 1.0, 1.5, ok=True, state="succeeded")]
    row = items_frame([record], resumed, now=T0).iloc[0]
    assert np.isnan(row["processing_s_min"]) and np.isnan(row["processing_s_max"])


def test_queued_s_counts_from_the_first_start_of_each_batch() -> None:
    files = [
        FileRecord("b1", 0, "a.mp4", started_at=T0 + 0.25),
        FileRecord("b1", 1, "b.mp4", started_at=T0 + 5.0),
        FileRecord("b2", 0, "c.mp4", started_at=T0 + 100.0),
        FileRecord("b2", 1, "d.mp4"),  # never started (cancelled while queued)
    ]
    # b1's first request was sent before any record says it started (a resumed poll, say)
    events = [Event("b1", 0, "a.mp4", "STATUS", 1, T0, T0 + 0.1)]
    queued = items_frame(files, events, now=T0)["queued_s"].tolist()
    assert queued[:3] == [0.25, 5.0, 0.0]
    assert np.isnan(queued[3])


def test_throughput_is_null_without_upload_time() -> None:
    record = FileRecord("b1", 1, "a.png", bytes=10, started_at=T0, uploaded_at=T0)
    df = items_frame([record], [], now=T0)
    assert np.isnan(df["throughput_mb_s"][0])


def test_user_columns_follow_in_first_seen_order() -> None:
    files, events = records()
    files[2].user_columns = {"alt_text": "given with the input", "path": "from a manifest"}
    df = items_frame(files, events, now=T0)
    assert list(df.columns) == [*ITEM_SCHEMA, "alt_text", "campaign", "rank", "owner", "path_user"]
    assert df["alt_text"].dtype == pd.StringDtype()
    assert df["alt_text"].tolist() == ["A cat on a keyboard", pd.NA, "given with the input"]
    assert df["campaign"].tolist() == ["spring", "summer", pd.NA]
    assert df["rank"].dtype == "Int64"  # ints stay ints: missing is <NA>, not a float NaN
    assert df["rank"].tolist() == [1, pd.NA, pd.NA]
    assert df["owner"].tolist() == [pd.NA, "ana", pd.NA]
    assert df["path_user"].tolist() == [pd.NA, pd.NA, "from a manifest"]


def test_unusual_user_values_are_kept_as_objects() -> None:
    record = FileRecord("b1", 1, "a.png", user_columns={"tags": ["cat", "keyboard"]})
    df = items_frame([record, FileRecord("b1", 2, "b.png")], [], now=T0)
    assert df["tags"][0] == ["cat", "keyboard"]
    assert df["tags"][1] is None


# --- Parquet ---------------------------------------------------------------------------------


def with_nulls_and_surprises() -> tuple[list[FileRecord], list[Event]]:
    files, events = records()
    events.append(Event("b1", None, None, "METADATA", 1, T0 + 9.5))  # mostly nulls
    events.append(Event("b1", 1, "clip.mp4", "STATUS", 2, T0 + 9, state="queued_by_x"))
    files.append(FileRecord("b1", 4, "new.bin", media_category="tweet_hologram", state="queued"))
    return files, events


@pytest.mark.parametrize("which", ["events", "responses", "items"])
def test_parquet_round_trip_gives_an_equal_frame(tmp_path: Path, which: str) -> None:
    files, events = with_nulls_and_surprises()
    df = {
        "events": lambda: events_frame(events),
        "responses": lambda: responses_frame(events),
        "items": lambda: items_frame(files, events, now=T0 + 100),
    }[which]()
    path = tmp_path / f"{which}.parquet"
    df.to_parquet(path)
    pd.testing.assert_frame_equal(pd.read_parquet(path), df)  # plain pandas is enough...
    pd.testing.assert_frame_equal(read_parquet(path), df)  # ...and the helper changes nothing
    if which == "items":
        assert read_parquet(path)["media_id"][0] == MEDIA_ID


@pytest.mark.parametrize("which", ["events", "items"])
def test_parquet_round_trip_of_an_empty_frame_needs_read_parquet(
    tmp_path: Path, which: str
) -> None:
    df = events_frame([]) if which == "events" else items_frame([], [], now=T0)
    path = tmp_path / "empty.parquet"
    df.to_parquet(path)
    # Parquet keeps a dictionary only with its data: no rows, no category lists.
    pd.testing.assert_frame_equal(read_parquet(path), df)


def test_read_parquet_leaves_other_frames_alone(tmp_path: Path) -> None:
    df = pd.DataFrame({"a": pd.Categorical([], categories=["x"])})
    df.to_parquet(tmp_path / "other.parquet")
    assert list(read_parquet(tmp_path / "other.parquet").columns) == ["a"]


# --- the build itself ------------------------------------------------------------------------


@pytest.mark.parametrize("enabled", [True, False])
def test_building_leaves_the_garbage_collector_as_it_was(enabled: bool) -> None:
    was = gc.isenabled()
    try:
        gc.enable() if enabled else gc.disable()
        files, events = records()
        events_frame(events)
        items_frame(files, events, now=T0)
        assert gc.isenabled() is enabled
    finally:
        gc.enable() if was else gc.disable()


def test_a_large_batch_builds_column_wise() -> None:
    events = video_events() * 5_000
    df = events_frame(events)
    assert len(df) == 30_000
    assert df.dtypes.to_dict() == dict(EVENT_SCHEMA)
    assert (df["media_id"] == MEDIA_ID).all()
    assert df["command"].value_counts()["STATUS"] == 10_000


def test_many_user_columns_build_in_one_frame() -> None:
    # Added one by one they would fragment the frame (pandas warns; warnings are errors here).
    columns = {f"tag{i}": i for i in range(150)}
    df = items_frame([FileRecord("b1", 1, "a.png", user_columns=columns)], [], now=T0)
    assert list(df.columns[len(ITEM_SCHEMA) :]) == list(columns)
