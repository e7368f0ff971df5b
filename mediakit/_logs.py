"""Log records that may see request details are cleaned of every live client's secrets.

One filter on the `mediakit`, `httpx` and `httpcore` loggers (and oauthlib's, which logs the
signature base string at DEBUG) blanks the secrets of every credentials object in use before
any handler sees a record.
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
for _name in _WATCHED_LOGGERS:
    logging.getLogger(_name).addFilter(_REDACTOR)


def watch(holder: HasSecrets) -> None:
    """Redact `holder.secrets()` from log records while `holder` lives (or until `forget`)."""
    _REDACTOR.holders.add(holder)


def forget(holder: HasSecrets) -> None:
    _REDACTOR.holders.discard(holder)
