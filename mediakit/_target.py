"""Where uploads go. Targets are explicit: the built-in emulator unless a call says otherwise.

Credentials lying in the environment never turn a call into a real upload by themselves:
only `target="x"` or `credentials=` reaches X; `base_url=` reaches the server it names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ._auth import Credentials
from ._clock import Clock
from ._errors import ConfigurationError
from ._http import httpx, is_loopback
from ._protocol import DIALECTS

if TYPE_CHECKING:
    from .emulator import Emulator

__all__ = ["Target", "demo_credentials", "resolve_target"]


def demo_credentials() -> Credentials:
    """The emulator's public demo keys (OAuth 1.0a: they work on v2 and v1.1 alike)."""
    from .emulator import DEMO

    return Credentials.oauth1(
        DEMO.consumer_key, DEMO.consumer_secret, DEMO.access_token, DEMO.access_token_secret
    )


@dataclass
class Target:
    label: str  # "emulator", "x", or the base URL
    base_url: str
    transport: httpx.AsyncBaseTransport | None
    credentials: Credentials
    emulator: Emulator | None = None  # owned: closed with the target
    clock: Clock | None = None
    borrowed_emulator: Emulator | None = None  # given by the caller: not closed here

    @property
    def is_x(self) -> bool:
        return self.label == "x"

    @property
    def key(self) -> str:
        """Which server's media ids these are: never mix the emulator's and X's."""
        emulator = self.emulator or self.borrowed_emulator
        if emulator is not None:
            return f"emulator:{emulator.state_path}"
        return f"{self.label}:{self.base_url}" if self.label == "x" else self.base_url

    @property
    def account(self) -> str:
        """Who uploads: enough to keep one account's media ids apart from another's."""
        return self.credentials.user_id or self.credentials.kind

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
    dialect = DIALECTS[api]
    if target not in (None, "emulator", "x"):
        raise ConfigurationError(f"target must be 'emulator' or 'x', not {target!r}")
    if target is None and credentials is not None and base_url is None and transport is None:
        target = "x"  # credentials given for X mean X (DESIGN: target="x" or credentials=)
    if target == "x":
        if transport is not None or emulator is not None:
            raise ConfigurationError("target='x' talks to X: drop transport= and emulator=")
        creds = credentials or Credentials.from_env()
        return Target("x", base_url or dialect.default_base_url, None, creds, clock=clock)
    if emulator is not None:
        return Target(
            "emulator",
            dialect.default_base_url,
            httpx.ASGITransport(app=emulator.app),
            credentials or demo_credentials(),
            clock=clock or emulator.clock,
            borrowed_emulator=emulator,
        )
    if transport is not None:
        url = base_url or dialect.default_base_url
        return Target(url, url, transport, credentials or demo_credentials(), clock=clock)
    if base_url is not None:
        if credentials is None:
            # A local server is an emulator until proven otherwise; anything else needs keys.
            credentials = demo_credentials() if is_loopback(base_url) else Credentials.from_env()
        return Target(base_url.rstrip("/"), base_url, None, credentials, clock=clock)
    from .emulator import Emulator

    builtin = Emulator.builtin(**({"clock": clock} if clock is not None else {}))
    return Target(
        "emulator",
        dialect.default_base_url,
        httpx.ASGITransport(app=builtin.app),
        demo_credentials(),
        emulator=builtin,
        clock=builtin.clock,
    )
