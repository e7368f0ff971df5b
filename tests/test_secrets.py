"""Secrets never appear in any output: distinctive secret strings go through successful and
failing batches at DEBUG logging, and are looked for everywhere something is written or
shown: reprs, log records (every logger, oauthlib's signature base strings included),
exceptions and their chains, the journal's bytes, every DataFrame (raw answers included),
the dashboard's widget state, the CLI's output, and the emulator's output and request log.

A secret is looked for as it is and in its percent-encoded forms (the OAuth 1.0a signing key
is percent-encoded; a urlencoded body would carry it that way).
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import signal
import subprocess
import sys
import traceback
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import httpx
import pytest

import mediakit as mk
from mediakit import ScaledClock
from mediakit._credentials import Credentials
from mediakit._journal import default_journal_path
from mediakit._retry import RetryPolicy
from mediakit.emulator import DEMO, Emulator, running

from . import mediafactory as mf

pytestmark = pytest.mark.reliability

ROOT = Path(__file__).resolve().parents[1]
FAST = RetryPolicy(backoff_base_s=0.05, backoff_max_s=0.2)

CONSUMER_SECRET = "SECRET-consumer-9f8e7d6c5b4a"
TOKEN_SECRET = "SECRET-token-secret-1a2b3c4d"
WRONG_SECRET = "SECRET-wrong-5e6f7a8b9c"
USER_TOKEN = "SECRET-user-token-0d1e2f3a4b"


def forms(secret: str) -> set[str]:
    return {secret, quote(secret, safe=""), quote_plus(secret, safe="")}


def assert_clean(texts: Iterable[tuple[str, str]], secrets: Iterable[str]) -> None:
    """No secret (in any form) in any of the (where, text) pairs."""
    texts = list(texts)
    assert texts
    for secret in secrets:
        for form in forms(secret):
            leaks = [where for where, text in texts if form in text]
            assert not leaks, f"{secret!r} found in {leaks}"


def error_texts(error: BaseException) -> list[tuple[str, str]]:
    """An exception as every output shows it: str, repr, its traceback, its whole chain."""
    out = [
        ("str(error)", str(error)),
        ("repr(error)", repr(error)),
        ("traceback", "".join(traceback.format_exception(error))),
        ("pickled", pickle.dumps(error).decode("latin-1")),
    ]
    seen: set[int] = set()
    link: BaseException | None = error
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        out.append((f"chain {type(link).__name__}", f"{link!s} {link!r} {vars(link)!r}"))
        link = link.__cause__ or link.__context__
    return out


def result_texts(name: str, result: mk.UploadResult) -> list[tuple[str, str]]:
    return [
        (f"{name} repr", repr(result)),
        (f"{name} html", result._repr_html_()),
        (f"{name} summary", result.summary()),
        (f"{name} warnings", "\n".join(result.warnings)),
        (f"{name} items", result.items.to_csv()),
        (f"{name} events", result.events.to_csv()),  # the raw answers are a column
        (f"{name} responses", result.responses.to_csv()),
        (f"{name} failures", result.failures.to_csv()),
        (f"{name} records", repr(result.records)),
    ]


def journal_texts(journal: Path) -> list[tuple[str, str]]:
    """The journal byte for byte, its WAL and shared memory included."""
    parts = sorted(journal.parent.glob(journal.name + "*"))
    assert parts
    return [(f"journal {p.name}", p.read_bytes().decode("latin-1")) for p in parts]


def log_texts(caplog: pytest.LogCaptureFixture) -> list[tuple[str, str]]:
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    return [("log text", caplog.text)] + [
        (f"log {record.name}", formatter.format(record)) for record in caplog.records
    ]


def widget_texts(view: Any) -> list[tuple[str, str]]:
    """Every widget of the dashboard as the front end would receive it (its state)."""
    out = []
    pending = [view.box]
    while pending:
        widget = pending.pop()
        state = widget.get_state()
        out.append((f"widget {type(widget).__name__}", json.dumps(state, default=str)))
        pending.extend(child for child in getattr(widget, "children", ()) or ())
    return out


def test_oauth1_secrets_through_good_and_failing_batches(
    tmp_path: Path,
    media_dir: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    pytest.importorskip("av")
    from mediakit._widgets import WidgetView

    caplog.set_level(logging.DEBUG)  # every logger, at its most talkative
    emu = Emulator(
        consumer_key="ck-visible",
        consumer_secret=CONSUMER_SECRET,
        access_token="77-visible",
        access_token_secret=TOKEN_SECRET,
        clock=ScaledClock(100),
        processing_seconds=2.0,
        processing_failure_rate=0.5,
        faults={"APPEND": {503: 0.3}, "FINALIZE": {500: 0.2}},
        seed=1,
        state=tmp_path / "s.sqlite",
    )
    creds = Credentials.oauth1("ck-visible", CONSUMER_SECRET, "77-visible", TOKEN_SECRET)
    bad = Credentials.oauth1("ck-visible", WRONG_SECRET, "77-visible", TOKEN_SECRET)
    files = [
        mf.make_png(media_dir / "p.png"),
        mf.make_mp4(media_dir / "c.mp4"),
        mf.make_gif(media_dir / "g.gif", frames=3),
        mf.make_noise(media_dir / "n.bin", 99),
    ]
    texts: list[tuple[str, str]] = []
    view = WidgetView()
    with running(emu) as url:
        options = mk.UploadOptions(credentials=creds, base_url=url, clock=emu.clock, retry=FAST)
        texts.append(("options repr", repr(options)))
        good = mk.upload_files(files, options=options, chunk_size=4096, progress=view)
        texts += widget_texts(view)
        in_process = mk.upload_files(
            files, credentials=creds, emulator=emu, progress="text", force=True
        )
        refused = mk.upload_files(
            files[:1], credentials=bad, base_url=url, clock=emu.clock, force=True, progress="text"
        )
        client = mk.MediaClient(creds, base_url=url, clock=emu.clock)
        texts.append(("client repr", repr(client)))
        with pytest.raises(mk.AuthError) as auth_error:
            import asyncio

            async def one_bad_call() -> None:
                async with mk.MediaClient(bad, base_url=url, clock=emu.clock) as c:
                    await c.status("1234567890123456789")

            asyncio.run(one_bad_call())
        texts += error_texts(auth_error.value)
        answered = httpx.get(f"{url}/_emulator/requests").text
        texts.append(("emulator /_emulator/requests", answered))
        texts.append(("emulator /_emulator/media", httpx.get(f"{url}/_emulator/media").text))
    # The server is gone now: a batch that cannot reach it fails, and says so.
    with pytest.raises(mk.TransportError) as unreachable:
        mk.upload_files(files[:1], credentials=creds, base_url=url, progress="none", retry=FAST)
    texts += error_texts(unreachable.value)
    texts += result_texts("unreachable", unreachable.value.result)
    assert refused.items.loc[0, "state"] == "failed"
    assert "failed" in set(good.items["state"]) and "succeeded" in set(good.items["state"])
    for name, result in (("good", good), ("in-process", in_process), ("refused", refused)):
        texts += result_texts(name, result)
    texts += [("credentials repr", repr(creds)), ("credentials str", str(creds))]
    texts += [("bad credentials repr", repr(bad)), ("emulator repr", repr(emu))]
    texts += [("emulator request log", repr(emu.requests)), ("emulator media", repr(emu.media))]
    texts += log_texts(caplog)
    out = capsys.readouterr()
    texts += [("stdout", out.out), ("stderr", out.err)]
    texts += journal_texts(default_journal_path())  # every batch is journaled by default
    assert len(caplog.records) > 100  # DEBUG logging was on, and talked
    assert any(r.name.startswith("oauthlib") for r in caplog.records)  # base strings logged
    assert_clean(texts, [CONSUMER_SECRET, TOKEN_SECRET, WRONG_SECRET])
    emu.close()


class JumpingClock(ScaledClock):
    """A scaled clock that can also jump ahead (client and emulator share it)."""

    def __init__(self, scale: float) -> None:
        super().__init__(scale)
        self._ahead = 0.0

    def jump(self, seconds: float) -> None:
        self._ahead += seconds

    def now(self) -> float:
        return super().now() + self._ahead


def test_oauth2_tokens_and_their_refreshes(
    tmp_path: Path,
    media_dir: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    clock = JumpingClock(50)
    # Tokens live 30 emulated seconds and the clock jumps past that between batches: every
    # batch refreshes. The new tokens are random strings the emulator makes: the secrets.
    emu = Emulator(
        clock=clock,
        user_token_lifetime_s=30.0,
        token_lifetime_s=30.0,
        processing_seconds=2.0,
        state=tmp_path / "o.sqlite",
    )
    issued: list[str] = []

    def keep(token: Any) -> None:
        issued.extend(token.secrets())

    creds = Credentials.user_token(
        DEMO.user_token,
        refresh_token=DEMO.refresh_token,
        client_id=DEMO.client_id,
        on_refresh=keep,
    )
    for i in range(6):
        mf.make_png(media_dir / f"p{i}.png", 10 + i, 10)
    texts: list[tuple[str, str]] = []
    journal = tmp_path / "j.sqlite"
    with running(emu) as url:
        results = []
        for _ in range(3):
            results.append(
                mk.upload_folder(
                    media_dir,
                    credentials=creds,
                    base_url=url,
                    clock=clock,
                    journal=journal,
                    force=True,
                    concurrency=1,
                    progress="text",
                )
            )
            clock.jump(40.0)  # past the token's lifetime
        stranger = Credentials.user_token(USER_TOKEN)
        with pytest.raises(mk.AuthError) as caught:
            import asyncio

            async def call() -> None:
                async with mk.MediaClient(stranger, base_url=url, clock=clock) as c:
                    await c.status("1234567890123456789")

            asyncio.run(call())
        texts += error_texts(caught.value)
        texts.append(("emulator /_emulator/requests", httpx.get(f"{url}/_emulator/requests").text))
    assert len(issued) >= 4, "the token was not refreshed in each batch"
    assert all(r.ok for r in results)
    for i, result in enumerate(results):
        texts += result_texts(f"batch {i}", result)
    texts += [("credentials repr", repr(creds)), ("stranger repr", repr(stranger))]
    texts += [("emulator request log", repr(emu.requests))]
    texts += log_texts(caplog)
    out = capsys.readouterr()
    texts += [("stdout", out.out), ("stderr", out.err)]
    texts += journal_texts(journal)
    assert_clean(texts, [*issued, USER_TOKEN])
    emu.close()


def test_the_cli_emulator_never_prints_secrets_it_was_given(tmp_path: Path) -> None:
    given = {
        "--consumer-secret": CONSUMER_SECRET,
        "--access-token-secret": TOKEN_SECRET,
        "--user-token": USER_TOKEN,
        "--app-bearer-token": "SECRET-app-bearer-7c8d9e0f",
    }
    args = [
        sys.executable,
        "-m",
        "mediakit",
        "emulator",
        "--port",
        "0",
        "--state",
        str(tmp_path / "cli.sqlite"),
        "--consumer-key",
        "ck-visible",
        "--access-token",
        "77-visible",
    ]
    for flag, value in given.items():
        args += [flag, value]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    server = subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT
    )
    try:
        assert server.stdout is not None
        banner = [server.stdout.readline() for _ in range(4)]
        url = banner[0].split("listening on ")[1].strip()
        # Requests with good and wrong secrets, and a token it does not know: it logs them.
        good = Credentials.oauth1("ck-visible", CONSUMER_SECRET, "77-visible", TOKEN_SECRET)
        wrong = Credentials.oauth1("ck-visible", WRONG_SECRET, "77-visible", TOKEN_SECRET)
        png = mf.make_png(tmp_path / "p.png")
        for creds in (good, wrong, Credentials.user_token(USER_TOKEN)):
            mk.upload_files([png], credentials=creds, base_url=url, progress="none", force=True)
        with httpx.Client() as plain:
            plain.get(f"{url}/2/media/upload?media_id=1", headers={"authorization": "Bearer x"})
            log = plain.get(f"{url}/_emulator/requests").text
    finally:
        server.send_signal(signal.SIGINT)
        out, err = server.communicate(timeout=30)
    texts = [("banner", "".join(banner)), ("stdout", out), ("stderr", err), ("request log", log)]
    assert "(given)" in "".join(banner)
    assert_clean(texts, [*given.values(), WRONG_SECRET])


@pytest.mark.parametrize(
    "logger",
    [
        "oauthlib",
        "oauthlib.oauth1.rfc5849",  # where oauthlib logs the signature base string
        "oauthlib.oauth1.rfc5849.signature",
        "httpx",
        "httpcore.http11",
        "httpcore.connection",
        "mediakit",
        "mediakit.emulator",
    ],
)
def test_log_records_of_every_watched_logger_and_its_children_are_redacted(
    caplog: pytest.LogCaptureFixture, logger: str
) -> None:
    caplog.set_level(logging.DEBUG)
    creds = Credentials.oauth1("ck-visible", CONSUMER_SECRET, "77-visible", TOKEN_SECRET)
    client = mk.MediaClient(creds, base_url="http://127.0.0.1:9")  # watches its secrets
    logging.getLogger(logger).debug("signing key %s&%s", CONSUMER_SECRET, quote(TOKEN_SECRET))
    logging.getLogger(logger).debug(f"inline {CONSUMER_SECRET}")
    assert_clean(log_texts(caplog), [CONSUMER_SECRET, TOKEN_SECRET])
    assert caplog.text.count("***") >= 3
    del client
