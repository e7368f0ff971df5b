"""Secrets stay secret: redaction of text, harmless hints for reprs, strict value checks.

Nothing mediakit prints, logs, raises or records may contain a secret. Reprs show at most the
first characters of an identifier (`_hint`); text that came from elsewhere (an answer, a log
record) is cleaned with `redact`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final
from urllib.parse import quote, quote_plus

from ._errors import CredentialsError

__all__ = ["REDACTED", "checked", "checked_optional", "hint", "redact"]

REDACTED: Final = "***"


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` with every secret (and its percent-encoded forms) replaced by ``***``."""
    forms: set[str] = set()
    for secret in secrets:
        if secret:
            forms.update((secret, quote(secret, safe=""), quote_plus(secret, safe="")))
    for form in sorted(forms, key=len, reverse=True):
        text = text.replace(form, REDACTED)
    return text


def hint(value: str | None) -> str | None:
    """A recognisable but harmless stand-in: the first 4 characters of a long value."""
    if value is None:
        return None
    return value[:4] + "…" if len(value) >= 12 else "…"


def checked(name: str, value: object) -> str:
    """`value` if it can go in a header; the error names the parameter, never the value."""
    if (
        not isinstance(value, str)
        or not value
        or any(c.isspace() for c in value)
        or any(ord(c) < 32 or ord(c) == 127 for c in value)
    ):
        raise CredentialsError(f"{name} must be a non-empty string without spaces or line breaks")
    return value


def checked_optional(name: str, value: object) -> str | None:
    return None if value is None else checked(name, value)
