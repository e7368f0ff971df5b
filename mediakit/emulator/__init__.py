"""A faithful emulator of X's media upload API, in-process (ASGI) or over a socket."""

from ._app import Emulator, MediaRecord, builtin_state_path
from ._config import DEMO, DemoCredentials, EmulatorConfig, OAuth1Account, UserTokenGrant
from ._log import RequestRecord
from ._server import running, serve

__all__ = [
    "DEMO",
    "DemoCredentials",
    "Emulator",
    "EmulatorConfig",
    "MediaRecord",
    "OAuth1Account",
    "RequestRecord",
    "UserTokenGrant",
    "builtin_state_path",
    "running",
    "serve",
]
