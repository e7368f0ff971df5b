"""Log records that may see request details are cleaned of every live client's secrets.

One filter on the `mediakit`, `httpx` and `httpcore` loggers (and oauthlib's, which logs the
signature base string at DEBUG) blanks the secrets of every credentials object in use before
any handler sees a record. A logger's filters see only the records logged to it, not those of
its children (`oauthlib.oauth1.rfc5849`, where oauthlib logs, `httpcore.http11`,
`mediakit.emulator`), so the filter goes on every existing child as well, again each time a
client starts watching (by then the libraries it uses have made their loggers).
"""

from __future__ import annotations

import logging
import weakref
from typing import Protocol

from ._secrets import redact

__all__ = ["forget", "watch"]

# Loggers that may see request details.
_WATCHED_LOGGERS = ("mediakit", "httpx", "httpcore", "oauthlib")
MIN_SECRET_LEN = 6  # shorter "secrets" (test values) would shred every log line


class HasSecrets(Protocol):
    def secrets(self) -> tuple[str, ...]: ...


class _Redactor(logging.Filter):
    """Blanks the secrets of watched credentials out of log records."""

    def __init__(self) -> None:
        super().__init__()
        self.holders: weakref.WeakSet[HasSecrets] = weakref.WeakSet()

    def filter(self, record: logging.LogRecord) -> bool:
        secrets = tuple(
            secret
            for holder in list(self.holders)
            for secret in holder.secrets()
            if len(secret) >= MIN_SECRET_LEN
        )
        if secrets:
            text = record.getMessage()
            cleaned = redact(text, secrets)
            if cleaned != text:
                record.msg, record.args = cleaned, None
        return True


_REDACTOR = _Redactor()


def _filter_every_watched_logger() -> None:
    """Put the filter on the watched loggers and on each of their children that exists."""
    names = [name for name in list(logging.Logger.manager.loggerDict) if _watched(name)]
    for name in {*_WATCHED_LOGGERS, *names}:
        logger = logging.getLogger(name)
        if _REDACTOR not in logger.filters:
            logger.addFilter(_REDACTOR)


def _watched(name: str) -> bool:
    return any(name == root or name.startswith(root + ".") for root in _WATCHED_LOGGERS)


_filter_every_watched_logger()


def watch(holder: HasSecrets) -> None:
    """Redact `holder.secrets()` from log records while `holder` lives (or until `forget`)."""
    _REDACTOR.holders.add(holder)
    _filter_every_watched_logger()


def forget(holder: HasSecrets) -> None:
    _REDACTOR.holders.discard(holder)
