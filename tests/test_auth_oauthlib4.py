"""The OAuth 1.0a signer and verifier under oauthlib 4.

mediakit allows oauthlib>=3.2, but tweepy pins oauthlib<4, so the test environment has 3.x.
This test installs oauthlib 4.0.1 on its own (`pip install --target`, no dependencies) and runs
the known-answer signature and a verifier round trip in a subprocess that imports it first.
The directory is cached under the pytest cache, or taken from `MEDIAKIT_OAUTHLIB4_DIR` (which
CI may fill beforehand). If pip cannot install it, the test fails: CI can reach PyPI.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

OAUTHLIB4 = "4.0.1"
REPO_ROOT = Path(__file__).resolve().parents[1]

CHECK = textwrap.dedent(
    """
    import os
    import warnings

    import httpx
    import oauthlib

    from mediakit._oauth1 import OAuth1Signer
    from mediakit.emulator._verify import verify_oauth1
    from mediakit._clock import ManualClock

    assert oauthlib.__version__.startswith("4"), oauthlib.__version__
    assert os.path.realpath(oauthlib.__file__).startswith(TARGET), oauthlib.__file__
    warnings.simplefilter("error")

    KEYS = (
        "xvz1evFS4wEEPTGEFPHBog",
        "kAcSOqF21Fu85e7zjz7ZN2U4ZRhfV3WpwPAoE3Z7kBw",
        "370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb",
        "LswwdoUaIvS8ltyTt5jkRh4J50vUPVVHtR2YPi5kE",
    )
    NONCE = "kYjzVBB8Y0ZFabxSWbWovY3uYSQ2pTgmZeNu2VS4cg"
    TIMESTAMP = 1318622958


    def signature(signer, request):
        flow = signer.sync_auth_flow(request)
        next(flow)
        header = request.headers["Authorization"]
        value = header.split('oauth_signature="', 1)[1].split('"', 1)[0]
        return value


    signer = OAuth1Signer(*KEYS, clock=ManualClock(TIMESTAMP), nonce_factory=lambda: NONCE)
    for path, expected in (
        ("/1/statuses/update.json", "tnnArxj06cWHq44gCs1OSKk%2FjLY%3D"),
        ("/1.1/statuses/update.json", "hCtSmYh%2BiHYCEqBWrE7C7hYmtUk%3D"),
    ):
        request = httpx.Request(
            "POST",
            "https://api.twitter.com" + path + "?include_entities=true",
            content=b"status=Hello%20Ladies%20%2b%20Gentlemen%2c%20a%20signed%20OAuth%20request%21",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert signature(signer, request) == expected, (path, request.headers["Authorization"])

    now = 1_750_000_000
    signer = OAuth1Signer(*KEYS, clock=ManualClock(now))
    url = "http://127.0.0.1:8765/1.1/media/upload.json"
    request = httpx.Request(
        "POST", url, params={"command": "APPEND"}, data={"media_id": "1", "segment_index": "0"},
        files={"media": ("blob", b"chunk-bytes", "application/octet-stream")},
    )
    signature(signer, request)

    def verdict(form):
        return verify_oauth1(
            method="POST",
            urls=[url],
            authorization=request.headers["Authorization"],
            query=[("command", "APPEND")],
            form=form,
            consumer_secret_for=lambda key: KEYS[1] if key == KEYS[0] else None,
            token_secret_for=lambda token: KEYS[3] if token == KEYS[2] else None,
            now=now,
        )

    assert verdict(None).ok, verdict(None)
    assert verdict([("media_id", "1")]).reason == "bad_signature"
    print("oauthlib", oauthlib.__version__, "ok")
    """
)


def _installed_version(target: Path) -> str | None:
    init = target / "oauthlib" / "__init__.py"
    if not init.is_file():
        return None
    for line in init.read_text(encoding="utf-8").splitlines():
        if line.startswith("__version__"):
            return line.split("=", 1)[1].strip().strip("'\"")
    return None


@pytest.fixture(scope="module")
def oauthlib4_dir(pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory) -> Path:
    configured = os.environ.get("MEDIAKIT_OAUTHLIB4_DIR")
    cache = getattr(pytestconfig, "cache", None)  # absent under -p no:cacheprovider
    if configured:
        target = Path(configured)
    elif cache is not None:
        target = cache.mkdir("oauthlib4")
    else:
        target = tmp_path_factory.mktemp("oauthlib4")
    if _installed_version(target) == OAUTHLIB4:
        return target
    target.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-deps",
            "--upgrade",
            "--target",
            str(target),
            f"oauthlib=={OAUTHLIB4}",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if result.returncode != 0 or _installed_version(target) != OAUTHLIB4:
        pytest.fail(
            f"could not install oauthlib=={OAUTHLIB4} into {target} "
            f"(pip exit {result.returncode}):\n{result.stdout}\n{result.stderr}"
        )
    return target


def test_signer_and_verifier_work_with_oauthlib_4(oauthlib4_dir: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = os.pathsep.join([str(oauthlib4_dir), str(REPO_ROOT)])
    script = f"TARGET = {os.path.realpath(oauthlib4_dir)!r}\n{CHECK}"
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=REPO_ROOT,
        env=env,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"oauthlib {OAUTHLIB4} ok" in result.stdout
