"""The request log: every request the emulator answered, with clock timestamps.

Handlers `note()` what they learn (command, media id, segment) on the record of the request
being served; a test reads `Emulator.requests` to see, for example, whether a client polled
STATUS before the `check_after_secs` it was given.
"""

from __future__ import annotations

from collections import deque
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

__all__ = ["RequestLog", "RequestRecord", "current", "note"]


@dataclass
class RequestRecord:
    started_at: float
    method: str
    path: str
    query: str
    api: str
    finished_at: float | None = None
    status: int | None = None
    command: str | None = None
    media_id: str | None = None
    segment_index: int | None = None
    bytes: int | None = None
    user_id: str | None = None
    state: str | None = None
    client: str | None = None  # "host:port" over a socket: which connection carried it
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def elapsed_s(self) -> float | None:
        return None if self.finished_at is None else self.finished_at - self.started_at


_current: ContextVar[RequestRecord | None] = ContextVar("mediakit_emulator_request", default=None)


def current() -> RequestRecord | None:
    return _current.get()


def note(**fields: Any) -> None:
    """Add what a handler learned to the record of the request it is serving."""
    record = _current.get()
    if record is None:
        return
    for name, value in fields.items():
        if hasattr(record, name) and name != "extra":
            setattr(record, name, value)
        else:
            record.extra[name] = value


class RequestLog:
    def __init__(self, size: int) -> None:
        self._records: deque[RequestRecord] = deque(maxlen=size)

    def begin(self, record: RequestRecord) -> object:
        self._records.append(record)
        return _current.set(record)

    def end(self, token: object) -> None:
        _current.reset(token)  # type: ignore[arg-type]

    def records(self) -> list[RequestRecord]:
        return list(self._records)

    def clear(self) -> None:
        self._records.clear()
