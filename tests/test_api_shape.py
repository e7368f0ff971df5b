"""The public API's shape: options checked at the call, one target, clear errors, odd input."""

from __future__ import annotations

import dataclasses
import math
import pickle
import socket
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import trustme

import mediakit as mk
from mediakit import ScaledClock
from mediakit._options import UploadKwargs, UploadOptions
from mediakit._records import Event
from mediakit.emulator import Emulator, running

from . import mediafactory as mf


@pytest.fixture
def emulator(tmp_path: Path):
    emu = Emulator(
        clock=ScaledClock(50), seed=3, processing_seconds=(2.0, 4.0), state=tmp_path / "s.sqlite"
    )
    yield emu
    emu.close()


def quiet(**extra: Any) -> dict[str, Any]:
    return {"progress": "none", **extra}


# --- options ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("option", "value", "kind", "words"),
    [
        ("api", "v3", mk.ConfigurationError, "api must be one of 'v2', 'v1.1', not 'v3'"),
        ("concurrency", "4", mk.ConfigurationTypeError, "concurrency must be a whole number"),
        ("concurrency", 0, mk.ConfigurationError, "at least 1, not 0"),
        ("concurrency", True, mk.ConfigurationTypeError, "concurrency must be a whole number"),
        ("chunk_size", 1000.5, mk.ConfigurationTypeError, "chunk_size must be a whole number"),
        ("chunk_size", 6 * 2**20, mk.ConfigurationError, "between 1 and 5242880"),
        ("segment_concurrency", -1, mk.ConfigurationError, "segment_concurrency"),
        ("status_deadline_s", 0, mk.ConfigurationError, "positive number of seconds, not 0"),
        ("status_deadline_s", -5.0, mk.ConfigurationError, "status_deadline_s"),
        ("status_deadline_s", math.nan, mk.ConfigurationError, "not nan"),
        ("status_deadline_s", math.inf, mk.ConfigurationError, "not inf"),
        ("request_timeout", 0, mk.ConfigurationError, "request_timeout must be"),
        ("request_timeout", math.nan, mk.ConfigurationError, "request_timeout must be"),
        ("request_timeout", "10", mk.ConfigurationTypeError, "request_timeout must be"),
        ("progress", "bars", mk.ConfigurationError, "progress must be one of"),
        ("progress", 3, mk.ConfigurationTypeError, "progress must be one of"),
        ("target", "twitter", mk.ConfigurationError, "target must be one of 'emulator', 'x'"),
        ("category", "tweet_photo", mk.ConfigurationError, "category must be 'auto' or one of"),
        ("journal", 3, mk.ConfigurationTypeError, "journal must be a path"),
        ("retry", 3, mk.ConfigurationTypeError, "retry must be a mediakit.RetryPolicy"),
        ("base_url", "127.0.0.1:8765", mk.ConfigurationError, "must start with http"),
        ("force", "yes", mk.ConfigurationTypeError, "force must be True or False"),
        ("on_event", "print", mk.ConfigurationTypeError, "on_event must be a function"),
        ("fix", "yes", mk.ConfigurationTypeError, "fix must be True or False"),
        ("gif", "webp", mk.ConfigurationError, "gif must be one of 'mp4', 'gif', not 'webp'"),
        ("max_duration", "cut", mk.ConfigurationError, "max_duration must be one of 'keep'"),
        ("repair_workers", 0, mk.ConfigurationError, "repair_workers must be a whole number"),
        ("repair_dir", 5, mk.ConfigurationTypeError, "repair_dir must be a folder path"),
        ("limits", {"max_bytes": 1}, mk.ConfigurationTypeError, "limits must be a mediakit.Limits"),
    ],
)
def test_a_bad_option_is_refused_by_name_before_anything_happens(
    tmp_path: Path, option: str, value: object, kind: type[Exception], words: str
) -> None:
    folder = tmp_path / "media"
    folder.mkdir()
    mf.make_jpeg(folder / "a.jpg")
    journal = tmp_path / "journal.sqlite"
    with pytest.raises(kind, match=words.replace("(", r"\(").replace(")", r"\)")) as caught:
        mk.upload_folder(folder, **{"journal": journal, option: value})  # type: ignore[arg-type]
    assert isinstance(caught.value, mk.MediakitError)
    assert isinstance(caught.value, ValueError)
    assert not journal.exists()  # refused at the call: nothing was started
    with pytest.raises(kind):
        mk.UploadOptions(**{option: value})  # type: ignore[arg-type]


def test_an_unknown_option_is_refused_with_a_suggestion(tmp_path: Path) -> None:
    with pytest.raises(
        mk.ConfigurationTypeError, match="'concurency' \\(did you mean 'concurrency'"
    ):
        mk.upload_files([], concurency=2)  # type: ignore[call-arg]
    with pytest.raises(TypeError):  # also a TypeError, as Python's own would be
        mk.upload_files([], colour="red")  # type: ignore[call-arg]


def test_the_typed_keywords_and_the_options_dataclass_list_the_same_options() -> None:
    fields = {f.name: f.type for f in dataclasses.fields(UploadOptions)}
    typed = {
        name: getattr(hint, "__forward_arg__", hint)
        for name, hint in UploadKwargs.__annotations__.items()
    }
    assert typed == fields  # same names, same types
    assert UploadOptions.__doc__ is not None
    for name in fields:  # every option is documented in the dataclass docstring
        assert f"{name}:" in UploadOptions.__doc__, name


async def test_prepared_options_are_reused_and_keywords_win(
    emulator: Emulator, media_dir: Path
) -> None:
    mf.make_jpeg(media_dir / "a.jpg")
    mf.make_png(media_dir / "b.png")
    prepared = mk.UploadOptions(emulator=emulator, progress="none", concurrency=1, journal=False)
    seen: list[Event] = []
    result = await mk.upload_folder_async(media_dir, options=prepared, on_event=seen.append)
    assert result.counts == {"succeeded": 2}
    assert {e.command for e in seen} == {"INIT", "APPEND", "FINALIZE"}
    with pytest.raises(mk.ConfigurationTypeError, match="options must be an UploadOptions"):
        await mk.upload_folder_async(media_dir, options={"concurrency": 2})  # type: ignore[arg-type]


# --- targets ---------------------------------------------------------------------------------


async def test_the_batch_reports_the_target_it_really_talked_to(
    emulator: Emulator, media_dir: Path
) -> None:
    mf.make_jpeg(media_dir / "a.jpg")
    result = await mk.upload_folder_async(media_dir, emulator=emulator, **quiet(journal=False))
    assert result.target == "emulator"
    assert result.items["target"].tolist() == ["emulator"]
    builtin = await mk.upload_folder_async(media_dir, **quiet(journal=False))
    assert builtin.target == "emulator"


async def test_a_trailing_slash_is_the_same_target(emulator: Emulator, media_dir: Path) -> None:
    mf.make_jpeg(media_dir / "a.jpg")
    journal = media_dir.parent / "j.sqlite"
    with running(emulator) as url:
        first = await mk.upload_folder_async(media_dir, base_url=url, **quiet(journal=journal))
        again = await mk.upload_folder_async(
            media_dir,
            base_url=url.upper().replace("HTTP://", "http://") + "/",
            **quiet(journal=journal),
        )
    assert first.counts == {"succeeded": 1}
    assert again.counts == {"skipped": 1}
    assert again.items["media_id"].tolist() == first.items["media_id"].tolist()
    assert len(emulator.media) == 1


def test_normalized_base_urls() -> None:
    from mediakit._target import normalize_base_url

    assert normalize_base_url("HTTPS://API.X.com:443/") == "https://api.x.com"
    assert normalize_base_url("http://127.0.0.1:8765//") == "http://127.0.0.1:8765"
    assert normalize_base_url("http://[::1]:80/api/") == "http://[::1]/api"
    with pytest.raises(mk.ConfigurationError, match="query"):
        normalize_base_url("http://127.0.0.1:8765/?a=1")


async def test_an_emulator_restarted_on_its_state_file_is_the_same_target(
    tmp_path: Path, media_dir: Path
) -> None:
    mf.make_jpeg(media_dir / "a.jpg")
    journal = tmp_path / "j.sqlite"
    state = tmp_path / "kept.sqlite"
    clock = ScaledClock(5)  # gentle: a loaded machine must not age OAuth timestamps past 5 min
    with Emulator(state=state, clock=clock) as first_server, running(first_server) as url:
        first = await mk.upload_folder_async(media_dir, base_url=url, **quiet(journal=journal))
        state_id = first_server.state_id
    with Emulator(state=state, clock=clock) as restarted, running(restarted) as url2:
        assert restarted.state_id == state_id  # kept in the state file
        assert url2 != url  # another port: the URL alone would not say it is the same
        again = await mk.upload_folder_async(media_dir, base_url=url2, **quiet(journal=journal))
    assert first.counts == {"succeeded": 1}
    assert again.counts == {"skipped": 1}
    # A fresh temporary state on the very same URL is another server: nothing is "skipped"
    # with a media id it never issued.
    with Emulator(clock=clock) as fresh:
        assert fresh.state_id != state_id
        port = int(url2.rsplit(":", 1)[1])
        with running(fresh, port=port) as url3:
            assert url3 == url2
            third = await mk.upload_folder_async(media_dir, base_url=url3, **quiet(journal=journal))
    assert third.counts == {"succeeded": 1}, third.items["error_message"].tolist()


# --- events ----------------------------------------------------------------------------------


async def test_a_users_on_event_and_the_batch_both_see_every_event(
    emulator: Emulator, media_dir: Path
) -> None:
    mf.make_jpeg(media_dir / "a.jpg")
    mf.make_gif(media_dir / "b.gif", frames=3)
    mine: list[Event] = []
    result = await mk.upload_folder_async(
        media_dir, emulator=emulator, on_event=mine.append, **quiet(journal=False)
    )
    assert result.counts == {"succeeded": 2}
    assert len(mine) == len(result.events) > 0
    assert [e.command for e in mine] == result.events["command"].astype(str).tolist()


async def test_a_client_keeps_its_on_event_when_a_batch_subscribes(emulator: Emulator) -> None:
    from mediakit._batch import Batch, BatchInput
    from mediakit._media import inspect_file
    from mediakit._records import FileRecord

    mine: list[Event] = []
    client = mk.MediaClient(emulator=emulator, on_event=mine.append)
    path = mf.make_jpeg(emulator.state_path.parent / "one.jpg")
    check = inspect_file(path)
    record = FileRecord(batch_id="b", file_id=0, path=str(path))
    batch = Batch(client, [BatchInput(check, record)], batch_id="b")
    await batch.run()
    await client.aclose()
    assert client.on_event == mine.append
    assert record.state == "succeeded"
    assert len(mine) == len(batch.events) == 3


# --- errors ----------------------------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_an_unreachable_server_stops_the_batch_with_one_message(media_dir: Path) -> None:
    for i in range(12):
        mf.make_jpeg(media_dir / f"p{i}.jpg")
    url = f"http://127.0.0.1:{_closed_port()}"
    with pytest.raises(mk.TransportError, match=r"cannot reach http://127\.0\.0\.1") as caught:
        await mk.upload_folder_async(media_dir, base_url=url, **quiet(journal=False))
    error = caught.value
    assert not isinstance(error, mk.APIError)
    assert error.reached is False
    result = error.result
    assert isinstance(result, mk.UploadResult)
    assert result.counts == {"failed": 12}  # every file final, none left hanging
    assert set(result.items["error_message"]) == {error.message}
    # A few attempts in all (two for each file the batch starts with), not six per file.
    from mediakit._concurrency import INITIAL_CONCURRENCY

    assert len(result.events) <= 2 * INITIAL_CONCURRENCY


def _tls_files(folder: Path) -> tuple[Path, Path]:
    ca = trustme.CA()  # a CA nobody trusts
    issued = ca.issue_cert("127.0.0.1")
    cert, key = folder / "cert.pem", folder / "key.pem"
    issued.cert_chain_pems[0].write_to_path(str(cert))
    issued.private_key_pem.write_to_path(str(key))
    return cert, key


async def test_a_refused_certificate_is_never_retried(
    emulator: Emulator, media_dir: Path, tmp_path: Path
) -> None:
    for i in range(6):
        mf.make_jpeg(media_dir / f"p{i}.jpg")
    cert, key = _tls_files(tmp_path)
    events: list[Event] = []
    with (
        running(emulator, ssl_certfile=str(cert), ssl_keyfile=str(key)) as url,
        pytest.raises(mk.TLSError, match="certificate") as caught,
    ):
        await mk.upload_folder_async(
            media_dir, base_url=url, on_event=events.append, **quiet(journal=False)
        )
    assert isinstance(caught.value, mk.TransportError)
    assert "verify=" in caught.value.message  # says what to do
    assert all(e.attempt == 1 for e in events)  # not one retry
    assert len(events) <= 4  # at most the files already started when the first failed
    assert emulator.requests == []


async def test_an_api_error_keeps_status_body_and_request_id(emulator: Emulator) -> None:
    async with mk.MediaClient(emulator=emulator) as client:
        with pytest.raises(mk.APIError) as caught:
            await client.status("1234567890123456789")
    error = caught.value
    assert error.status_code == 400
    assert error.request_id and len(error.request_id) == 16
    assert error.request_id in str(error)
    assert "Not found" in error.body


@pytest.mark.parametrize(
    "error",
    [
        mk.MediaError("a.jpg", "empty file (0 bytes)"),
        mk.JournalError("j.sqlite", "not a journal"),
        mk.ConfigurationError("concurrency must be at least 1"),
        mk.ConfigurationTypeError("concurrency must be a whole number"),
        mk.CredentialsError("no credentials"),
        mk.TransportError("cannot reach x", url="http://x", reached=False),
        mk.TLSError("refused", url="https://x"),
        mk.APIError(
            "FINALIZE: bad", status_code=400, code="44", name="Bad", body="{}", request_id="abc"
        ),
        mk.AuthError("no", status_code=401),
        mk.RateLimitError("slow down", reset_at=123.0, status_code=429, request_id="r"),
        mk.ProcessingError("processing failed: InvalidMedia", code="1", name="InvalidMedia"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_every_error_pickles_with_its_attributes(error: mk.MediakitError) -> None:
    back = pickle.loads(pickle.dumps(error))
    assert type(back) is type(error)
    assert str(back) == str(error)
    assert vars(back) == vars(error)


# --- odd input: in test_hostile_inputs.py, with every other hostile case --------------------


def test_a_journal_written_before_names_were_kept_exactly_still_reads(tmp_path: Path) -> None:
    from mediakit._journal import Journal

    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.executescript(
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
        "INSERT INTO meta VALUES ('schema_version', '1');"
        "CREATE TABLE batches (batch_id TEXT PRIMARY KEY, target TEXT NOT NULL, "
        "target_key TEXT NOT NULL, account TEXT NOT NULL, api TEXT NOT NULL, started_at REAL, "
        "finished_at REAL);"
        "INSERT INTO batches VALUES ('b1', 'emulator', 'k', 'a', 'v2', 1.0, 2.0);"
        "CREATE TABLE files (batch_id, file_id, path, state, media_id, user_columns, "
        "target_key, account, PRIMARY KEY (batch_id, file_id));"
        "INSERT INTO files VALUES ('b1', 0, '/x/a.jpg', 'succeeded', '123', NULL, 'k', 'a');"
    )
    db.commit()
    db.close()
    book = Journal(path)
    records, _ = book.load(["b1"])
    book.close()
    assert records[0].path == "/x/a.jpg" and records[0].media_id == "123"


@pytest.mark.parametrize(
    ("settings", "kind"),
    [
        ({"colour": "red"}, mk.ConfigurationTypeError),
        ({"consumer_key": "only-the-key"}, mk.ConfigurationError),
        ({"faults": {"APPEND": {"503": 2.0}}}, mk.ConfigurationError),
        ({"latency": -1.0}, mk.ConfigurationError),
    ],
)
def test_bad_emulator_settings_are_errors_of_the_tree(
    settings: dict[str, Any], kind: type[Exception]
) -> None:
    with pytest.raises(kind):
        Emulator(**settings)


def test_bad_clock_and_limits_are_errors_of_the_tree() -> None:
    with pytest.raises(mk.ConfigurationError):
        mk.ScaledClock(0)
    with pytest.raises(mk.ConfigurationTypeError):
        mk.ScaledClock("fast")  # type: ignore[arg-type]
    with pytest.raises(mk.ConfigurationError, match="unknown media categories"):
        mk.Limits(max_bytes={"tweet_photo": 1})
    with pytest.raises(mk.ConfigurationError, match="backwards"):
        mk.ManualClock().advance(-1)
