"""`mediakit emulator` through real subprocesses: flags, exit codes, signals, logs, secrets."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from mediakit.emulator import DEMO

from . import mediafactory as mf

COMMAND = [sys.executable, "-m", "mediakit", "emulator"]


@dataclass
class Server:
    proc: subprocess.Popen[str]
    url: str
    banner: str

    @property
    def state_path(self) -> Path:
        match = re.search(r"state:\s+(\S+)", self.banner)
        assert match, self.banner
        return Path(match.group(1))

    def stop(self, signum: int = signal.SIGINT) -> tuple[int, str]:
        """Send `signum`; the exit code and everything the server wrote to stderr."""
        self.proc.send_signal(signum)
        _out, err = self.proc.communicate(timeout=30)
        return self.proc.returncode, err


@pytest.fixture
def start(tmp_path: Path) -> Iterator[object]:
    procs: list[subprocess.Popen[str]] = []

    def run(*args: str, env: dict[str, str] | None = None) -> Server:
        proc = subprocess.Popen(
            [*COMMAND, "--port", "0", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **(env or {})},
        )
        procs.append(proc)
        assert proc.stdout is not None
        lines = [proc.stdout.readline()]
        match = re.search(r"listening on (\S+)", lines[0])
        assert match, lines[0] + proc.communicate(timeout=30)[1]
        while "Ctrl-C" not in lines[-1]:
            lines.append(proc.stdout.readline())
        return Server(proc, match.group(1), "".join(lines))

    yield run
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)


def refused(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*COMMAND, *args], capture_output=True, text=True, timeout=60)


# bad flag values: exit code 2, a clear message naming the flag, never a traceback


@pytest.mark.parametrize(
    ("flag", "value", "says"),
    [
        ("--port", "99999", "between 0 and 65535"),
        ("--port", "-1", "between 0 and 65535"),
        ("--fault", "APEND:503:0.5", "unknown command 'APEND'"),
        ("--fault", "APPEND:503:nan", "between 0 and 1"),
        ("--fault", "APPEND:200:0.5", "4xx or 5xx"),
        ("--processing-seconds", "nan", "0 <= LOW <= HIGH"),
        ("--processing-seconds", "-1", "0 <= LOW <= HIGH"),
        ("--processing-seconds", "5,2", "0 <= LOW <= HIGH"),
        ("--processing-failure-rate", "nan", "finite"),
        ("--processing-failure-rate", "-0.1", "between 0 and 1"),
        ("--processing-scale", "0", "> 0"),
        ("--processing-cost", "video=1,-2,0", "numbers >= 0"),
        ("--processing-cost", "image=1,1,1", "CATEGORY"),
        ("--drop-rate", "1.5", "between 0 and 1"),
        ("--latency", "nan", "latency like"),
        ("--latency", "-5ms", "latency like"),
        ("--latency", "200ms-50ms", "latency like"),
        ("--bandwidth", "nan", "bytes per second"),
        ("--rate-window", "nan", "finite"),
        ("--rate-window", "-60", "> 0"),
        ("--user-token-lifetime", "-1", "> 0"),
        ("--keep-alive", "inf", "finite"),
        ("--max-check-after", "0", ">= 1"),
    ],
)
def test_bad_values_are_refused(flag: str, value: str, says: str) -> None:
    answer = refused(f"{flag}={value}")  # the = form, so "-1" is a value, not a flag
    assert answer.returncode == 2, answer.stderr
    assert flag in answer.stderr and says in answer.stderr, answer.stderr
    assert "Traceback" not in answer.stderr


def test_a_state_file_that_is_not_sqlite(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("hello\n")
    answer = refused("--state", str(notes))
    assert answer.returncode == 2
    assert f"--state: {notes} is not a SQLite database" in answer.stderr
    assert "Traceback" not in answer.stderr and notes.read_text() == "hello\n"
    answer = refused("--state", str(tmp_path))
    assert answer.returncode == 2 and "is a directory" in answer.stderr


def test_half_credentials_from_the_environment(tmp_path: Path) -> None:
    answer = subprocess.run(
        COMMAND,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "MEDIAKIT_EMULATOR_CONSUMER_KEY": "k"},
    )
    assert answer.returncode == 2 and "MEDIAKIT_EMULATOR_CONSUMER_SECRET" in answer.stderr
    bad = tmp_path / "secrets.env"
    bad.write_text("X_API_KEY=oops\n")
    answer = refused("--secrets-file", str(bad))
    assert answer.returncode == 2 and f"{bad}:1" in answer.stderr and "oops" not in answer.stderr


# stopping: Ctrl-C and SIGTERM alike remove the temporary state


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_stop_signals_clean_the_temporary_folder(start, signum: int) -> None:
    server = start()
    folder = server.state_path.parent
    assert folder.name.startswith("mediakit-emulator-") and folder.exists()
    code, err = server.stop(signum)
    assert code == 0, err
    assert not folder.exists()
    assert "Traceback" not in err


RACE = """
import selectors, signal, sys
real = signal.signal
installed = 0
def racing(sig, handler):
    global installed
    previous = real(sig, handler)
    if sig == signal.SIGINT:
        installed += 1
        if installed == {when!r}:
            signal.raise_signal(signal.SIGINT)  # Ctrl-C at that very instant
    return previous
signal.signal = racing
polls = 0
real_select = selectors.DefaultSelector.select
def select(self, timeout=None):
    global polls
    polls += 1
    if {when!r} == "loop" and polls == 1:
        signal.raise_signal(signal.SIGINT)  # Ctrl-C on the event loop's first poll
    return real_select(self, timeout)
selectors.DefaultSelector.select = select
from mediakit.cli import main
sys.exit(main(["emulator", "--port", "0"]))
"""


@pytest.mark.parametrize("when", [1, 2, 3, "loop"])
def test_ctrl_c_at_any_moment_of_start_up_exits_cleanly(when: int | str, tmp_path: Path) -> None:
    """The flaky banner test's cause: Ctrl-C landing between asyncio.run installing its SIGINT
    handler and resetting its interrupt count let a bare CancelledError out (exit code 1).
    Here Ctrl-C lands right after each SIGINT handler change on the way to serving (the
    command's, `serve`'s, uvicorn's) and on the event loop's first poll. (A Ctrl-C raised as
    an exception into the event loop before uvicorn took over could also hang the shutdown:
    seen under CPU load, not reproducible on demand; `serve` now only sets uvicorn's flag.)"""
    script = tmp_path / "race.py"
    script.write_text(RACE.format(when=when))
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    answer = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60, env=env
    )
    assert answer.returncode == 0, answer.stdout + answer.stderr
    assert "Traceback" not in answer.stderr
    assert not list(tmp_path.glob("mediakit-emulator-*"))  # the temporary state is gone


# logs: quiet by default, one line per request with --log-requests


def _init(url: str, token: str = DEMO.user_token) -> httpx.Response:
    return httpx.post(
        f"{url}/2/media/upload/initialize",
        json={"total_bytes": 5, "media_type": "image/png"},
        headers={"authorization": f"Bearer {token}"},
    )


def test_requests_are_logged_one_line_each_on_request(start) -> None:
    quiet = start()
    assert _init(quiet.url).status_code == 200
    code, err = quiet.stop()
    assert code == 0 and err == ""
    loud = start("--log-requests")
    ids = [_init(loud.url).json()["data"]["id"] for _ in range(2)]
    assert httpx.get(f"{loud.url}/2/media/upload", params={"media_id": "1"}).status_code == 401
    code, err = loud.stop()
    lines = err.splitlines()
    assert code == 0 and len(lines) == 3, err
    for line, media_id in zip(lines, ids, strict=False):
        assert "POST /2/media/upload/initialize INIT 200" in line and f"media_id={media_id}" in line
    assert "GET /2/media/upload STATUS 401" in lines[2]
    assert DEMO.user_token not in err


def _wait_for(url: str, predicate, timeout: float = 20.0) -> list[dict]:
    """Poll the server's request log until `predicate` holds (synchronising on its state)."""
    deadline = time.monotonic() + timeout
    while True:
        log = httpx.get(f"{url}/_emulator/requests").json()
        if predicate(log) or time.monotonic() > deadline:
            return log
        time.sleep(0.05)


def test_a_client_that_goes_away_is_one_line_not_a_traceback(start) -> None:
    server = start()
    host, port = server.url.removeprefix("http://").split(":")
    auth = f"Authorization: Bearer {DEMO.user_token}\r\n"
    media_id = _init(server.url).json()["data"]["id"]
    partial = [
        # A JSON body cut short…
        f"POST /2/media/upload/initialize HTTP/1.1\r\nHost: x\r\n{auth}"
        'Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"total_',
        # …and a multipart APPEND cut short.
        f"POST /2/media/upload/{media_id}/append HTTP/1.1\r\nHost: x\r\n{auth}"
        "Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 100000\r\n\r\n"
        '--b\r\nContent-Disposition: form-data; name="media"; filename="x"\r\n\r\n0123',
    ]
    for request in partial:
        with socket.create_connection((host, int(port))) as sock:
            sock.sendall(request.encode())
    log = _wait_for(
        server.url, lambda log: sum(bool(r["extra"].get("client_disconnected")) for r in log) == 2
    )
    assert sum(bool(r["extra"].get("client_disconnected")) for r in log) == 2
    code, err = server.stop()
    assert code == 0
    assert "Traceback" not in err and "ClientDisconnect" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 2, err
    assert "client went away mid-request: POST /2/media/upload/initialize" in lines[0]
    assert f"client went away mid-request: POST /2/media/upload/{media_id}/append" in lines[1]


def test_lost_answer_fault_from_the_command_line(start, media_dir: Path) -> None:
    server = start("--fault", "FINALIZE:lost:1", "--log-requests")
    png = mf.make_png(media_dir / "p.png").read_bytes()
    headers = {"authorization": f"Bearer {DEMO.user_token}"}
    with httpx.Client(base_url=server.url, headers=headers) as c:
        init = c.post(
            "/2/media/upload/initialize",
            json={"total_bytes": len(png), "media_type": "image/png"},
        )
        media_id = init.json()["data"]["id"]
        appended = c.post(
            f"/2/media/upload/{media_id}/append",
            data={"segment_index": "0"},
            files={"media": ("p", png)},
        )
        assert appended.status_code == 200
        with pytest.raises(httpx.RemoteProtocolError):
            c.post(f"/2/media/upload/{media_id}/finalize")
    media = httpx.get(f"{server.url}/_emulator/media").json()
    assert [m["state"] for m in media] == ["ready"]  # finalized all the same
    code, err = server.stop()
    assert code == 0 and "Traceback" not in err
    assert "FINALIZE 200 (answer lost)" in err


# secrets: from the environment or a file, not only from flags (which ps shows)


def test_secrets_from_environment_file_and_flag(start, tmp_path: Path) -> None:
    env = {"MEDIAKIT_EMULATOR_USER_TOKEN": "TOPSECRET-from-env"}
    secrets_file = tmp_path / "secrets.env"
    secrets_file.write_text(
        "# the emulator's accepted token\nexport MEDIAKIT_EMULATOR_USER_TOKEN='TOPSECRET-from-file'\n"
    )
    cases = [
        ((), "TOPSECRET-from-env"),
        (("--secrets-file", str(secrets_file)), "TOPSECRET-from-file"),
        (
            ("--secrets-file", str(secrets_file), "--user-token", "TOPSECRET-from-flag"),
            "TOPSECRET-from-flag",
        ),
    ]
    for args, accepted in cases:
        server = start(*args, env=env)
        assert "TOPSECRET" not in server.banner and "(given)" in server.banner
        assert _init(server.url, accepted).status_code == 200
        for other in ("TOPSECRET-from-env", "TOPSECRET-from-file", DEMO.user_token):
            if other != accepted:
                assert _init(server.url, other).status_code == 401, (args, other)
        code, err = server.stop()
        assert code == 0 and "TOPSECRET" not in err


def test_help_lists_the_flags() -> None:
    answer = subprocess.run([*COMMAND, "--help"], capture_output=True, text=True, timeout=60)
    assert answer.returncode == 0
    for flag in ("--log-requests", "--processing-cost", "--keep-alive", "FINALIZE:lost:0.05"):
        assert flag in answer.stdout
