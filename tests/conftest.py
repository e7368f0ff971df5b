"""Shared fixtures: an emulator on a scaled clock, reached in-process and over a real socket."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from mediakit import ScaledClock
from mediakit.emulator import DEMO, Emulator, running

# 1 real second = 50 emulated seconds: processing of 5-10 s takes 100-200 ms.
CLOCK_SCALE = 50.0


@pytest.fixture
def clock() -> ScaledClock:
    return ScaledClock(CLOCK_SCALE)


@pytest.fixture
def emu(clock: ScaledClock, tmp_path: Path) -> Iterator[Emulator]:
    emulator = Emulator(
        clock=clock, seed=7, processing_seconds=(5.0, 10.0), state=tmp_path / "emu.sqlite"
    )
    yield emulator
    emulator.close()


@pytest.fixture(params=["asgi", "socket"])
def transport(request: pytest.FixtureRequest) -> str:
    """Every emulator test runs in-process (ASGITransport) and over a real socket (uvicorn)."""
    return str(request.param)


@pytest.fixture
async def base(
    emu: Emulator, transport: str
) -> AsyncIterator[tuple[str, httpx.AsyncBaseTransport | None]]:
    if transport == "asgi":
        yield "https://api.x.com", httpx.ASGITransport(app=emu.app)
    else:
        with running(emu) as url:
            yield url, None


def make_client(
    base: tuple[str, httpx.AsyncBaseTransport | None],
    *,
    token: str | None = DEMO.user_token,
    auth: httpx.Auth | None = None,
) -> httpx.AsyncClient:
    url, transport = base
    headers = {"authorization": f"Bearer {token}"} if token and auth is None else {}
    return httpx.AsyncClient(
        base_url=url, transport=transport, headers=headers, auth=auth, timeout=30
    )


@pytest.fixture
async def client(
    base: tuple[str, httpx.AsyncBaseTransport | None],
) -> AsyncIterator[httpx.AsyncClient]:
    async with make_client(base) as c:
        yield c


@pytest.fixture
def media_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "media"
    folder.mkdir()
    return folder


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: takes minutes, runs in CI all the same")
    # Never let a test read the user's real cache directory.
    os.environ.setdefault("XDG_CACHE_HOME", str(Path(config.rootpath) / ".pytest_cache" / "xdg"))


@pytest.fixture(autouse=True)
def own_cache_dir(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each test its own cache: the default journal and the built-in emulator live there."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))
