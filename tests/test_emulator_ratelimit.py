"""Rate limits: X's budgets, headers on every answer, 429s of each generation, windows."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from mediakit import ManualClock
from mediakit._oauth1 import OAuth1Signer
from mediakit.emulator import DEMO, Emulator, running
from mediakit.emulator._ratelimit import RateLimits

from .conftest import make_client
from .emuhelp import append, initialize, status

TOO_MANY = {
    "title": "Too Many Requests",
    "detail": "Too Many Requests",
    "type": "about:blank",
    "status": 429,
}


@pytest.fixture
def small(tmp_path: Path):
    clock = ManualClock(1_800_000_000.0)
    limits = RateLimits(
        per_user={"INIT": 3, "APPEND": 2, "STATUS": 5},
        per_app={"INIT": 5},
        user_window_s=60,
        app_window_s=3600,
    )
    emulator = Emulator(clock=clock, rate_limits=limits, state=tmp_path / "r.sqlite")
    yield emulator, clock
    emulator.close()


@pytest.fixture(params=["asgi", "socket"])
def small_base(request: pytest.FixtureRequest, small):
    emulator, _clock = small
    if request.param == "asgi":
        yield "https://api.x.com", httpx.ASGITransport(app=emulator.app)
    else:
        with running(emulator) as url:
            yield url, None


async def test_default_budgets_and_headers(client: httpx.AsyncClient, emu: Emulator) -> None:
    answer = await initialize(client, 5, "image/png", "tweet_image")
    assert answer.headers["x-rate-limit-limit"] == "1875"
    assert answer.headers["x-rate-limit-remaining"] == "1874"
    reset = int(answer.headers["x-rate-limit-reset"])
    assert 0 < reset - emu.clock.now() <= 901
    assert answer.headers["x-app-limit-24hour-limit"] == "180000"
    media_id = answer.json()["data"]["id"]
    assert (await status(client, media_id)).headers["x-rate-limit-limit"] == "1000"
    second = await initialize(client, 5, "image/png", "tweet_image")
    assert second.headers["x-rate-limit-remaining"] == "1873"
    # Errors after authentication carry the headers too.
    bad = await append(client, media_id, 5000, b"x")
    assert bad.status_code == 400 and bad.headers["x-rate-limit-limit"] == "1875"


async def test_user_window_exhausts_and_resets(small_base, small) -> None:
    _emulator, clock = small
    async with make_client(small_base) as c:
        answers = [await initialize(c, 5, "image/png", "tweet_image") for _ in range(4)]
        assert [a.status_code for a in answers] == [200, 200, 200, 429]
        assert [a.headers["x-rate-limit-remaining"] for a in answers] == ["2", "1", "0", "0"]
        assert answers[3].json() == TOO_MANY
        assert answers[3].headers["content-type"].startswith("application/problem+json")
        reset = int(answers[3].headers["x-rate-limit-reset"])
        assert reset == 1_800_000_060
        # Another endpoint has its own budget.
        media_id = answers[0].json()["data"]["id"]
        assert (await append(c, media_id, 0, b"1")).status_code == 200
        assert (await append(c, media_id, 1, b"2")).status_code == 200
        assert (await append(c, media_id, 2, b"3")).status_code == 429  # each APPEND counts
        clock.advance(60)
        again = await initialize(c, 5, "image/png", "tweet_image")
        assert again.status_code == 200 and again.headers["x-rate-limit-remaining"] == "2"


async def test_each_user_has_a_budget_and_the_app_shares_one(small_base, small) -> None:
    _emulator, clock = small
    signer = OAuth1Signer(
        DEMO.consumer_key,
        DEMO.consumer_secret,
        DEMO.other_access_token,
        DEMO.other_access_token_secret,
        clock=clock,
    )
    async with make_client(small_base) as mine, make_client(small_base, auth=signer) as theirs:
        codes = [(await initialize(mine, 5, "image/png", None)).status_code for _ in range(3)]
        assert codes == [200, 200, 200]
        first = await initialize(theirs, 5, "image/png", None)
        assert first.status_code == 200 and first.headers["x-rate-limit-remaining"] == "2"
        assert first.headers["x-app-limit-24hour-remaining"] == "1"
        assert (await initialize(theirs, 5, "image/png", None)).status_code == 200
        spent = await initialize(theirs, 5, "image/png", None)
        assert spent.status_code == 429
        assert spent.headers["x-app-limit-24hour-remaining"] == "0"
        assert int(spent.headers["x-app-limit-24hour-reset"]) == 1_800_003_600
        # The app's 24-hour window outlasts the users' windows.
        clock.advance(61)
        assert (await initialize(theirs, 5, "image/png", None)).status_code == 429
        clock.advance(3600)
        assert (await initialize(theirs, 5, "image/png", None)).status_code == 200


async def test_rate_limits_off(tmp_path: Path) -> None:
    emulator = Emulator(rate_limits=False, state=tmp_path / "o.sqlite")
    async with make_client(("https://api.x.com", httpx.ASGITransport(app=emulator.app))) as c:
        answer = await initialize(c, 5, "image/png", "tweet_image")
    assert answer.status_code == 200 and "x-rate-limit-limit" not in answer.headers
    emulator.close()


async def test_shorter_window_keeps_the_numbers(tmp_path: Path) -> None:
    emulator = Emulator(rate_window_s=9, state=tmp_path / "w.sqlite")
    async with make_client(("https://api.x.com", httpx.ASGITransport(app=emulator.app))) as c:
        answer = await initialize(c, 5, "image/png", "tweet_image")
    assert answer.headers["x-rate-limit-limit"] == "1875"
    assert int(answer.headers["x-rate-limit-reset"]) - emulator.clock.now() <= 10
    assert emulator.limiter.limits is not None and emulator.limiter.limits.app_window_s == 864
    emulator.close()
