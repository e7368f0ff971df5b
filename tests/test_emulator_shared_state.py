"""What the emulator's state file holds (issues #12 and #9): one rate budget for every server
sharing it, an identity, and only digests of tokens."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import httpx
import pytest

from mediakit import ManualClock
from mediakit.emulator import DEMO, Emulator, running
from mediakit.emulator._ratelimit import RateLimits
from mediakit.emulator._store import NotAStateFile, token_digest

from .conftest import make_client
from .emuhelp import initialize

Base = tuple[str, httpx.AsyncBaseTransport | None]


class Pair:
    """Two emulators on one state file, each reached by the parametrized transport."""

    def __init__(self, kind: str, state: Path, **settings: object) -> None:
        self.emulators = [Emulator(state=state, **settings) for _ in range(2)]  # type: ignore[arg-type]
        self._contexts = [running(e) for e in self.emulators] if kind == "socket" else []
        if kind == "socket":
            self.bases: list[Base] = [(c.__enter__(), None) for c in self._contexts]
        else:
            self.bases = [
                ("https://api.x.com", httpx.ASGITransport(app=e.app)) for e in self.emulators
            ]

    def close(self) -> None:
        for context in self._contexts:
            context.__exit__(None, None, None)
        for emulator in self.emulators:
            emulator.close()


@pytest.fixture(params=["asgi", "socket"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def test_servers_sharing_a_state_share_one_budget(kind: str, tmp_path: Path) -> None:
    clock = ManualClock(1_800_000_000)
    limits = RateLimits(per_user={"INIT": 4}, per_app={"INIT": 100}, user_window_s=60)
    pair = Pair(kind, tmp_path / "shared.sqlite", clock=clock, rate_limits=limits)
    try:
        async with make_client(pair.bases[0]) as a, make_client(pair.bases[1]) as b:
            answers = [await initialize(c, 5, "image/png", None) for c in (a, b, a, b, a)]
            assert [r.status_code for r in answers] == [200, 200, 200, 200, 429]
            assert [r.headers["x-rate-limit-remaining"] for r in answers] == [
                "3",
                "2",
                "1",
                "0",
                "0",
            ]
            assert answers[1].headers["x-app-limit-24hour-remaining"] == "98"
            # One window for both: the reset both announce is the same instant.
            assert len({r.headers["x-rate-limit-reset"] for r in answers}) == 1
            clock.advance(60)
            again = await initialize(b, 5, "image/png", None)
            assert again.status_code == 200 and again.headers["x-rate-limit-remaining"] == "3"
        # A third server started later on the same file sees the counts already spent.
        late = Emulator(state=tmp_path / "shared.sqlite", clock=clock, rate_limits=limits)
        async with make_client(("https://api.x.com", httpx.ASGITransport(app=late.app))) as c:
            answer = await initialize(c, 5, "image/png", None)
        assert answer.headers["x-rate-limit-remaining"] == "2"
        late.close()
    finally:
        pair.close()


async def test_state_id_is_kept_with_the_state(kind: str, tmp_path: Path) -> None:
    state = tmp_path / "id.sqlite"
    first = Emulator(state=state)
    state_id = first.state_id
    assert len(state_id) == 36 and state_id.count("-") == 4  # a UUID
    first.close()
    again, fresh, other = Emulator(state=state), Emulator(), Emulator()
    try:
        assert again.state_id == state_id  # restarted on the same file: the same identity
        assert fresh.state_id != other.state_id and state_id not in (fresh.state_id, other.state_id)
        for emulator in (again, fresh):
            if kind == "socket":
                with running(emulator) as url:
                    health = httpx.get(f"{url}/_emulator/health").json()
            else:
                async with httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=emulator.app), base_url="https://api.x.com"
                ) as c:
                    health = (await c.get("/_emulator/health")).json()
            assert health["ok"] is True and health["state_id"] == emulator.state_id
    finally:
        for emulator in (again, fresh, other):
            emulator.close()


def _state_bytes(state: Path) -> bytes:
    """Everything SQLite keeps for the state: the database, its WAL and shared memory."""
    return b"".join(p.read_bytes() for p in state.parent.glob(state.name + "*") if p.is_file())


async def test_tokens_are_kept_as_digests_only(kind: str, tmp_path: Path) -> None:
    given = "TOPSECRET-user-token-0123456789"
    mine = Pair(kind, tmp_path / "given.sqlite", user_token=given)
    state = tmp_path / "tokens.sqlite"
    pair = Pair(kind, state)
    try:
        async with make_client(mine.bases[0], token=given) as c:
            assert (await initialize(c, 5, "image/png", None)).status_code == 200
        async with make_client(pair.bases[0], token=None) as c:
            refreshed = await c.post(
                "/2/oauth2/token",
                data={
                    "grant_type": "refresh_token",
                    "refresh_token": DEMO.refresh_token,
                    "client_id": DEMO.client_id,
                },
            )
        assert refreshed.status_code == 200, refreshed.text
        issued = refreshed.json()
        mine.close()
        pair.close()
        mine, pair = Pair(kind, tmp_path / "given.sqlite", user_token=given), Pair(kind, state)
        # Nothing in the files gives the tokens away…
        assert given.encode() not in _state_bytes(tmp_path / "given.sqlite")
        raw = _state_bytes(state)
        for secret in (
            DEMO.user_token,
            DEMO.refresh_token,
            issued["access_token"],
            issued["refresh_token"],
        ):
            assert secret.encode() not in raw, secret
        with sqlite3.connect(state) as db:
            stored = {row[0] for row in db.execute("SELECT access_token FROM tokens")}
        assert token_digest(DEMO.user_token) in stored
        # …and the tokens still work, on restarted servers.
        async with make_client(mine.bases[1], token=given) as c:
            assert (await initialize(c, 5, "image/png", None)).status_code == 200
        async with make_client(pair.bases[1], token=issued["access_token"]) as c:
            assert (await initialize(c, 5, "image/png", None)).status_code == 200
    finally:
        mine.close()
        pair.close()


async def test_refresh_tokens_rotate_through_digests(tmp_path: Path) -> None:
    emulator = Emulator(state=tmp_path / "r.sqlite")
    base = ("https://api.x.com", httpx.ASGITransport(app=emulator.app))
    form = {"grant_type": "refresh_token", "client_id": DEMO.client_id}
    async with make_client(base, token=None) as c:
        first = await c.post("/2/oauth2/token", data={**form, "refresh_token": DEMO.refresh_token})
        assert first.status_code == 200, first.text
        issued = first.json()
        spent = await c.post("/2/oauth2/token", data={**form, "refresh_token": DEMO.refresh_token})
        assert spent.status_code == 400  # a refresh token works once
        second = await c.post(
            "/2/oauth2/token", data={**form, "refresh_token": issued["refresh_token"]}
        )
        assert second.status_code == 200
    async with make_client(base, token=issued["access_token"]) as c:
        assert (await initialize(c, 5, "image/png", None)).status_code == 200
    raw = _state_bytes(tmp_path / "r.sqlite")
    assert issued["access_token"].encode() not in raw
    emulator.close()


def test_a_version_1_state_file_is_migrated(tmp_path: Path) -> None:
    """State files of the first release kept tokens in plain text: digest them on open."""
    state = tmp_path / "old.sqlite"
    Emulator(state=state).close()
    with sqlite3.connect(state) as db:
        db.execute("UPDATE tokens SET access_token = ?", (DEMO.user_token,))
        db.execute("UPDATE refresh_tokens SET token = ?", (DEMO.refresh_token,))
        db.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
        db.execute("DELETE FROM meta WHERE key = 'state_id'")
    reopened = Emulator(state=state)
    with sqlite3.connect(state) as db:
        tokens = [row[0] for row in db.execute("SELECT access_token FROM tokens")]
        version = db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0]
    assert tokens == [token_digest(DEMO.user_token)] and version == "2"
    assert len(reopened.state_id) == 36
    reopened.close()


def test_a_state_that_is_not_sqlite_is_refused(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("not a database\n")
    with pytest.raises(NotAStateFile, match=r"notes\.txt is not a SQLite database"):
        Emulator(state=notes)
    with pytest.raises(ValueError, match="is a directory"):
        Emulator(state=tmp_path)
    # The file was not touched, and no spool folder was left beside it.
    assert notes.read_text() == "not a database\n"
    assert not (tmp_path / "notes.spool").exists()
