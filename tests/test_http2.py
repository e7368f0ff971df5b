"""HTTP/2 on request (`make_client(http2=True)`): negotiated where the server speaks it.

Batches stay on HTTP/1.1 by default: with httpx 0.28 and h2 4.4, a 41-file batch over HTTP/2
to this server met ReadTimeouts on concurrent streams, which HTTP/1.1 never does here.

The emulator's own server (uvicorn) speaks HTTP/1.1 only; here the same emulator app is served
by Hypercorn in another process, which negotiates HTTP/2 by ALPN, as X's API does. Against
uvicorn over TLS the same client falls back to HTTP/1.1.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

import mediakit as mk
from mediakit._http import has_http2, make_client
from mediakit.emulator import Emulator, running


@pytest.fixture
def tls(tmp_path: Path) -> dict[str, str]:
    ca = trustme.CA()
    issued = ca.issue_cert("127.0.0.1")
    paths = {name: str(tmp_path / f"{name}.pem") for name in ("ca", "cert", "key")}
    ca.cert_pem.write_to_path(paths["ca"])
    issued.cert_chain_pems[0].write_to_path(paths["cert"])
    issued.private_key_pem.write_to_path(paths["key"])
    return paths


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[Emulator]:
    emu = Emulator(clock=mk.ScaledClock(50), state=tmp_path / "h1.sqlite")
    yield emu
    emu.close()


APP = """
from pathlib import Path
from mediakit.emulator import Emulator

app = Emulator(state=Path(__file__).with_name("h2.sqlite"), processing_seconds=0.5).app
"""


@pytest.fixture
def h2_url(tmp_path: Path, tls: dict[str, str]) -> Iterator[str]:
    """The emulator app served by Hypercorn in another process, HTTP/2 offered by ALPN."""
    (tmp_path / "h2app.py").write_text(APP)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    root = Path(__file__).resolve().parents[1]
    server = subprocess.Popen(
        [
            *(sys.executable, "-m", "hypercorn", "--certfile", tls["cert"]),
            *("--keyfile", tls["key"], "--bind", f"127.0.0.1:{port}", "h2app:app"),
        ],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": f"{root}{os.pathsep}{tmp_path}"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert server.stdout is not None
        seen = []
        for line in server.stdout:  # until it says it listens (or ends)
            seen.append(line)
            if "Running on" in line:
                break
        else:
            raise AssertionError("hypercorn did not start: " + "".join(seen))
        yield f"https://127.0.0.1:{port}"
    finally:
        server.kill()
        server.wait()
        if server.stdout is not None:
            server.stdout.close()


async def test_http2_is_negotiated_where_the_server_speaks_it(
    h2_url: str, tls: dict[str, str]
) -> None:
    assert has_http2()
    async with make_client(h2_url, verify=tls["ca"], http2=True) as client:
        answer = await client.get("/2/media/upload", params={"media_id": "1"})
    assert answer.http_version == "HTTP/2"


async def test_http1_where_the_server_speaks_only_that(
    emulator: Emulator, tls: dict[str, str]
) -> None:
    with running(emulator, ssl_certfile=tls["cert"], ssl_keyfile=tls["key"]) as url:
        async with make_client(url, verify=tls["ca"], http2=True) as client:
            answer = await client.get("/2/media/upload", params={"media_id": "1"})
    assert answer.http_version == "HTTP/1.1"
