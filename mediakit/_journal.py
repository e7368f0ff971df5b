"""The journal: every batch, file and HTTP attempt in SQLite, written as it happens.

WAL mode, one commit per write: a killed process loses nothing the server had answered before
the kill, and `open_journal` reads the same `UploadResult` back in another process. Resume
reads it too: which files already succeeded (and until when their media ids are valid), which
are still processing, and which APPEND segments X acknowledged in a live session.

The journal holds no tokens or secrets: events keep X's media answers, never request headers.
Old journals stay readable: the schema carries a version, and new columns are added, never
renamed.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import platformdirs

from ._records import Event, FileRecord, display_path

__all__ = ["Journal", "PriorUpload", "default_journal_path"]

SCHEMA_VERSION = 1

_EVENT_FIELDS = [f.name for f in fields(Event)]
_FILE_FIELDS = [f.name for f in fields(FileRecord) if f.name != "user_columns"]
_PATH = _FILE_FIELDS.index("path")
_EVENT_PATH = _EVENT_FIELDS.index("path")


def _exact(path: str) -> bytes:
    """A file name's exact bytes (a name that is not valid UTF-8 included)."""
    return os.fsencode(path)


_SCHEMA = [
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE IF NOT EXISTS batches (
        batch_id TEXT PRIMARY KEY, target TEXT NOT NULL, target_key TEXT NOT NULL,
        account TEXT NOT NULL, api TEXT NOT NULL, started_at REAL, finished_at REAL)""",
    f"""CREATE TABLE IF NOT EXISTS files (
        {", ".join(_FILE_FIELDS)}, user_columns TEXT, target_key TEXT, account TEXT,
        path_bytes BLOB, PRIMARY KEY (batch_id, file_id))""",
    f"""CREATE TABLE IF NOT EXISTS events (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, {", ".join(_EVENT_FIELDS)})""",
    "CREATE INDEX IF NOT EXISTS files_identity ON files (path, target_key, account)",
    "CREATE INDEX IF NOT EXISTS events_media ON events (media_id, command)",
    "CREATE INDEX IF NOT EXISTS events_batch ON events (batch_id)",
]


def default_journal_path() -> Path:
    """Where every batch is journaled unless `journal=` says otherwise."""
    return Path(platformdirs.user_cache_dir("mediakit")) / "journal.sqlite"


@dataclass(frozen=True)
class PriorUpload:
    """The newest journaled outcome of the same file (path, size, mtime) on the same target."""

    state: str
    media_id: str | None
    media_key: str | None
    expires_at: float | None
    session_expires_at: float | None
    acknowledged: frozenset[int]  # APPEND segments X answered 2xx for `media_id`
    finalized: bool  # X answered a FINALIZE for `media_id`
    batch_id: str
    # What was uploaded for the file: with fix=True a repaired copy, not the original.
    bytes: int | None = None
    media_type: str | None = None
    media_category: str | None = None
    segments: int | None = None
    repaired: bool = False
    repair: str | None = None
    repaired_path: str | None = None


class Journal:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=30
        )
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=30000")
        with self._lock:
            for statement in _SCHEMA:
                self._db.execute(statement)
            self._db.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)",
                (str(SCHEMA_VERSION),),
            )
            self._add_missing_columns()

    def _add_missing_columns(self) -> None:
        # A journal written by an older mediakit lacks newer columns: add them, keep the rows.
        for table, wanted in (("files", [*_FILE_FIELDS, "path_bytes"]), ("events", _EVENT_FIELDS)):
            have = {row[1] for row in self._db.execute(f"PRAGMA table_info({table})")}
            for name in wanted:
                if name not in have:
                    self._db.execute(f"ALTER TABLE {table} ADD COLUMN {name}")

    @property
    def schema_version(self) -> int:
        row = self._db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        return int(row[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # writing, as things happen

    def start_batch(
        self,
        batch_id: str,
        *,
        target: str,
        target_key: str,
        account: str,
        api: str,
        started_at: float,
    ) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO batches VALUES (?, ?, ?, ?, ?, ?, NULL)",
                (batch_id, target, target_key, account, api, started_at),
            )

    def finish_batch(self, batch_id: str, finished_at: float) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE batches SET finished_at = ? WHERE batch_id = ?", (finished_at, batch_id)
            )

    def write_file(self, record: FileRecord, *, target_key: str, account: str) -> None:
        values = [getattr(record, name) for name in _FILE_FIELDS]
        values[_PATH] = display_path(record.path)  # SQLite text must be valid UTF-8
        user = json.dumps(record.user_columns, default=str) if record.user_columns else None
        names = [*_FILE_FIELDS, "user_columns", "target_key", "account", "path_bytes"]
        with self._lock:
            self._db.execute(
                f"INSERT OR REPLACE INTO files ({', '.join(names)}) "
                f"VALUES ({', '.join('?' for _ in names)})",
                (*values, user, target_key, account, _exact(record.path)),
            )

    def write_files(self, records: Iterable[FileRecord], *, target_key: str, account: str) -> None:
        with self._lock:
            self._db.execute("BEGIN")
        try:
            for record in records:
                self.write_file(record, target_key=target_key, account=account)
        finally:
            with self._lock:
                self._db.execute("COMMIT")

    def write_event(self, event: Event) -> None:
        values = [getattr(event, name) for name in _EVENT_FIELDS]
        if event.path is not None:
            values[_EVENT_PATH] = display_path(event.path)
        with self._lock:
            self._db.execute(
                f"INSERT INTO events ({', '.join(_EVENT_FIELDS)}) "
                f"VALUES ({', '.join('?' for _ in _EVENT_FIELDS)})",
                values,
            )

    # reading

    def prior(
        self,
        path: str,
        size: int | None,
        mtime: float | None,
        *,
        target_key: str,
        account: str,
        sha256: str | None = None,
    ) -> PriorUpload | None:
        """The newest outcome of the same file: same path and size, and the same mtime, or
        with `sha256` the same content (a restored copy with new mtimes is still the same).
        `size` is the original's: a file uploaded as a repaired copy keeps it in
        `source_bytes` (journals from before fix=True have only `bytes`)."""
        same, value = ("f.sha256 = ?", sha256) if sha256 is not None else ("f.mtime IS ?", mtime)
        with self._lock:
            # The exact bytes of the name where they are kept; older journals have text only.
            row = self._db.execute(
                "SELECT f.* FROM files f JOIN batches b ON b.batch_id = f.batch_id "
                "WHERE (f.path_bytes = ? OR (f.path_bytes IS NULL AND f.path = ?)) "
                f"AND COALESCE(f.source_bytes, f.bytes) IS ? AND {same} AND f.target_key = ? "
                "AND f.account = ? AND f.state NOT IN ('queued', 'invalid') "
                "ORDER BY b.started_at DESC, f.rowid DESC LIMIT 1",
                (_exact(path), display_path(path), size, value, target_key, account),
            ).fetchone()
            if row is None:
                return None
            acknowledged: frozenset[int] = frozenset()
            session_expires_at = None
            finalized = False
            media_id = row["media_id"]
            if media_id:
                acks = self._db.execute(
                    "SELECT DISTINCT segment_index FROM events WHERE media_id = ? "
                    "AND command = 'APPEND' AND ok = 1",
                    (media_id,),
                ).fetchall()
                acknowledged = frozenset(int(a[0]) for a in acks if a[0] is not None)
                init = self._db.execute(
                    "SELECT expires_at FROM events WHERE media_id = ? AND command = 'INIT' "
                    "AND ok = 1 ORDER BY seq DESC LIMIT 1",
                    (media_id,),
                ).fetchone()
                session_expires_at = init[0] if init else None
                finalized = (
                    self._db.execute(
                        "SELECT 1 FROM events WHERE media_id = ? AND command = 'FINALIZE' "
                        "AND ok = 1 LIMIT 1",
                        (media_id,),
                    ).fetchone()
                    is not None
                )
        return PriorUpload(
            state=row["state"],
            media_id=media_id,
            media_key=row["media_key"],
            expires_at=row["expires_at"],
            session_expires_at=session_expires_at,
            acknowledged=acknowledged,
            finalized=finalized,
            batch_id=row["batch_id"],
            bytes=row["bytes"],
            media_type=row["media_type"],
            media_category=row["media_category"],
            segments=row["segments"],
            repaired=bool(row["repaired"]),
            repair=row["repair"],
            repaired_path=row["repaired_path"],
        )

    def batch_ids(self) -> list[str]:
        with self._lock:
            rows = self._db.execute("SELECT batch_id FROM batches ORDER BY started_at").fetchall()
        return [str(r[0]) for r in rows]

    def batch_info(self, batch_id: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute(
                "SELECT * FROM batches WHERE batch_id = ?", (batch_id,)
            ).fetchone()
        return dict(row) if row else None

    def load(self, batch_ids: Sequence[str]) -> tuple[list[FileRecord], list[Event]]:
        marks = ", ".join("?" for _ in batch_ids)
        with self._lock:
            file_rows = self._db.execute(
                f"SELECT f.* FROM files f JOIN batches b ON b.batch_id = f.batch_id "
                f"WHERE f.batch_id IN ({marks}) ORDER BY b.started_at, f.file_id",
                tuple(batch_ids),
            ).fetchall()
            event_rows = self._db.execute(
                f"SELECT * FROM events WHERE batch_id IN ({marks}) ORDER BY seq", tuple(batch_ids)
            ).fetchall()
        records = []
        for row in file_rows:
            data = {name: row[name] for name in _FILE_FIELDS}
            if row["path_bytes"] is not None:
                data["path"] = os.fsdecode(bytes(row["path_bytes"]))
            data["user_columns"] = json.loads(row["user_columns"]) if row["user_columns"] else {}
            data["repaired"] = bool(data["repaired"])  # SQLite's 0/1, NULL in older journals
            records.append(FileRecord(**data))
        events = []
        for row in event_rows:
            data = {name: row[name] for name in _EVENT_FIELDS}
            if data["ok"] is not None:
                data["ok"] = bool(data["ok"])
            events.append(Event(**data))
        return records, events
