"""Where uploads go, decided once. Targets are explicit: the built-in emulator unless a call says
otherwise.

Credentials lying in the environment never turn a call into a real upload by themselves:
only `target="x"` or `credentials=` reaches X; `base_url=` reaches the server it names. This is
the one target factory: the upload functions and `MediaClient()` both resolve through
`resolve_target`, and a batch resolves once and hands its client the result.

A target's identity (`Target.key`) says whose media ids a journal entry holds, so resume never
mixes servers: X is "x"; an emulator is its state's UUID (a restart on the same state file is
the same server, a fresh temporary state is not); any other server is its normalised base URL
(`http://127.0.0.1:8765/` and `HTTP://127.0.0.1:8765` are one server). A server reached by
URL or transport that answers `/_emulator/health` with a state id is an emulator
(`identify`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

from ._clock import Clock
from ._credentials import Credentials
from ._errors import ConfigurationError
from ._http import asgi_transport, httpx, is_loopback
from ._protocol import DIALECTS

if TYPE_CHECKING:
    from .emulator import Emulator

__all__ = ["Target", "demo_credentials", "normalize_base_url", "resolve_target"]

_DEFAULT_PORTS = {"http": 80, "https": 443}


def demo_credentials() -> Credentials:
    """The emulator's public demo keys (OAuth 1.0a: they work on v2 and v1.1 alike)."""
    from .emulator._config import DEMO

    return Credentials.oauth1(
        DEMO.consumer_key, DEMO.consumer_secret, DEMO.access_token, DEMO.access_token_secret
    )


def normalize_base_url(url: str) -> str:
    """`url` in one spelling: lower-case scheme and host, no default port, no trailing slash.

    Raises:
        ConfigurationError: not an http(s) URL, or one with a query or fragment.
    """
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise ConfigurationError(
            f"base_url must be an http:// or https:// URL with a host, not {url!r}"
        )
    if parts.query or parts.fragment:
        raise ConfigurationError(f"base_url must not have a query or fragment: {url!r}")
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        raise ConfigurationError(f"base_url has an invalid port: {url!r}") from None
    netloc = host if port is None or port == _DEFAULT_PORTS[scheme] else f"{host}:{port}"
    return urlunsplit((scheme, netloc, parts.path.rstrip("/"), "", ""))


@dataclass
class Target:
    """A resolved destination: what the client sends through, as whom, and its identity."""

    label: str  # "emulator", "x", or the normalised base URL: what results say
    base_url: str
    transport: httpx.AsyncBaseTransport | None
    credentials: Credentials
    clock: Clock | None = None
    emulator: Emulator | None = None  # owned: closed with the target
    borrowed_emulator: Emulator | None = None  # given by the caller: not closed here
    server_id: str | None = None  # an emulator's state id, learned by `identify`

    @property
    def is_x(self) -> bool:
        return self.label == "x"

    @property
    def key(self) -> str:
        """Which server's media ids these are: never mix the emulator's and X's."""
        emulator = self.emulator or self.borrowed_emulator
        if emulator is not None:
            return f"emulator:{emulator.state_id}"
        if self.is_x:
            return "x"
        if self.server_id is not None:
            return f"emulator:{self.server_id}"
        return self.base_url

    @property
    def account(self) -> str:
        """Who uploads: enough to keep one account's media ids apart from another's."""
        return self.credentials.user_id or self.credentials.kind

    async def identify(self, http: httpx.AsyncClient) -> None:
        """Ask a server reached by URL or transport whether it is an emulator, and which.

        One GET of `/_emulator/health` (not part of X; X is never asked). Any failure means
        "not an emulator": the base URL stays the identity.
        """
        if self.is_x or self.emulator is not None or self.borrowed_emulator is not None:
            return
        try:
            answer = await http.get("/_emulator/health", timeout=5.0, auth=None)
            body = json.loads(answer.text) if answer.status_code == 200 else None
        except (httpx.HTTPError, ValueError):
            return
        state_id = body.get("state_id") if isinstance(body, dict) else None
        if isinstance(state_id, str) and state_id:
            self.server_id = state_id

    def close(self) -> None:
        if self.emulator is not None:
            self.emulator.close()
            self.emulator = None


def resolve_target(
    *,
    target: str | None = None,
    credentials: Credentials | None = None,
    base_url: str | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    api: str = "v2",
    clock: Clock | None = None,
    emulator: Emulator | None = None,
) -> Target:
    """The one target factory (see the module docstring for the rules).

    Raises:
        ConfigurationError: a target other than "emulator"/"x", or settings that contradict
            each other (X with a transport or an emulator).
        CredentialsError: X without usable credentials.
    """
    if api not in DIALECTS:
        raise ConfigurationError(f"api must be one of 'v2', 'v1.1', not {api!r}")
    default_url = DIALECTS[api].default_base_url
    if target not in (None, "emulator", "x"):
        raise ConfigurationError(f"target must be one of 'emulator', 'x', not {target!r}")
    if (
        target is None
        and credentials is not None
        and base_url is None
        and transport is None
        and emulator is None
    ):
        target = "x"  # credentials given for X mean X (DESIGN: target="x" or credentials=)
    url = normalize_base_url(base_url) if base_url is not None else None
    if target == "x":
        if transport is not None or emulator is not None:
            raise ConfigurationError("target='x' talks to X: drop transport= and emulator=")
        creds = credentials or Credentials.from_env()
        return Target("x", url or default_url, None, creds, clock=clock)
    if emulator is not None:
        return Target(
            "emulator",
            default_url,
            asgi_transport(emulator.app),
            credentials or demo_credentials(),
            clock=clock or emulator.clock,
            borrowed_emulator=emulator,
        )
    if transport is not None:
        url = url or default_url
        return Target(url, url, transport, credentials or demo_credentials(), clock=clock)
    if url is not None:
        if credentials is None:
            # A local server is an emulator until proven otherwise; anything else needs keys.
            credentials = demo_credentials() if is_loopback(url) else Credentials.from_env()
        return Target(url, url, None, credentials, clock=clock)
    from .emulator import Emulator

    builtin = Emulator.builtin(**({"clock": clock} if clock is not None else {}))
    return Target(
        "emulator",
        default_url,
        asgi_transport(builtin.app),
        demo_credentials(),  # the built-in emulator accepts its demo keys, and only those
        emulator=builtin,
        clock=builtin.clock,
    )
