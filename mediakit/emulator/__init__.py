"""A faithful emulator of X's media upload API, in-process (ASGI) or over a socket."""

from ._app import Emulator, MediaRecord, builtin_state_path
from ._config import DEMO, DemoCredentials, EmulatorConfig, OAuth1Account, UserTokenGrant
from ._faults import AnswerLost
from ._log import RequestRecord
from ._processing import DEFAULT_PROCESSING_COSTS, ProcessingCost
from ._server import running, serve

__all__ = [
    "DEFAULT_PROCESSING_COSTS",
    "DEMO",
    "AnswerLost",
    "DemoCredentials",
    "Emulator",
    "EmulatorConfig",
    "MediaRecord",
    "OAuth1Account",
    "ProcessingCost",
    "RequestRecord",
    "UserTokenGrant",
    "builtin_state_path",
    "running",
    "serve",
]
