"""The journal: every batch, file and HTTP attempt in SQLite, written as it happens.

WAL mode, one commit per write: a killed process loses nothing the server had answered before
the kill, and `open_journal` reads the same `UploadResult` back in another process. Resume
reads it too: which files already succeeded (and until when their media ids are valid), which
are still processing, and which APPEND segments X acknowledged in a live session.

The journal holds no tokens or secrets: events keep X's media answers, never request headers.
Old journals stay readable: the schema carries a version, and new columns are added, never
renamed.

A journal that cannot be used is a `JournalError` naming the file, the problem and what to do:
a folder, a file that is not SQLite, a SQLite database that is not a journal, a damaged one,
one that cannot be written. `open_journal` opens journals read-only, so a read-only file (or
one in a read-only folder) still reads. A batch writes through `_journaling.JournalWriter`,
which keeps in memory what it could not write (a full disk), retries, and says which files'
outcomes are missing. Leases (`claim`, `heartbeat`, `release`: see `_lease`) let two
processes share one journal without uploading the same file twice.
"""

from __future__ import annotations

import json
import logging
import operator
import os
import sqlite3
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any
from urllib.parse import quote

import platformdirs

from ._errors import JournalError
from ._records import Event, FileRecord, display_path

__all__ = ["Journal", "Lease", "PriorUpload", "default_journal_path", "shown_path"]

log = logging.getLogger("mediakit")

SCHEMA_VERSION = 2  # 2: leases
SQLITE_MAGIC = b"SQLite format 3\x00"
BUSY_TIMEOUT_S = 10.0  # a write waits this long for another process's write to finish
_JOURNAL_TABLES = frozenset({"meta", "batches", "files"})  # what every version had

_EVENT_FIELDS = [f.name for f in fields(Event)]
_FILE_FIELDS = [f.name for f in fields(FileRecord) if f.name != "user_columns"]
_PATH = _FILE_FIELDS.index("path")
_EVENT_PATH = _EVENT_FIELDS.index("path")
# Built once: a batch writes several rows per file, each in a transaction of its own.
_FILE_VALUES = operator.attrgetter(*_FILE_FIELDS)
_EVENT_VALUES = operator.attrgetter(*_EVENT_FIELDS)
_FILE_COLUMNS = [*_FILE_FIELDS, "user_columns", "target_key", "account", "path_bytes"]
_FILE_SQL = (
    f"INSERT OR REPLACE INTO files ({', '.join(_FILE_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in _FILE_COLUMNS)})"
)
_EVENT_SQL = (
    f"INSERT INTO events ({', '.join(_EVENT_FIELDS)}) "
    f"VALUES ({', '.join('?' for _ in _EVENT_FIELDS)})"
)


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
    # Who is uploading which file now (see `_lease`): one row per file being worked on.
    """CREATE TABLE IF NOT EXISTS leases (
        file_key TEXT PRIMARY KEY, holder TEXT NOT NULL, pid INTEGER NOT NULL,
        host TEXT NOT NULL, batch_id TEXT NOT NULL, taken_at REAL NOT NULL,
        heartbeat REAL NOT NULL)""",
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
    error_code: str | None = None
    error_name: str | None = None
    error_message: str | None = None
    # What X's FINALIZE answer said: a processing state, or None for media ready at once.
    finalize_state: str | None = None
    finalize_expires_at: float | None = None

    # What was uploaded for the file: with fix=True a repaired copy, not the original.
    bytes: int | None = None
    media_type: str | None = None
    media_category: str | None = None
    segments: int | None = None
    repaired: bool = False
    repair: str | None = None
    repaired_path: str | None = None


@dataclass(frozen=True)
class Lease:
    """Who holds a file of the journal: a process (pid on host) running batch `batch_id`."""

    holder: str
    pid: int
    host: str
    batch_id: str
    taken_at: float
    heartbeat: float


class Journal:
    """A journal file, open for a batch (read and write) or, with `read_only`, for reading.

    Raises:
        JournalError: the file cannot be used as a journal (the message says why and what
            to do).
    """

    def __init__(self, path: str | os.PathLike[str], *, read_only: bool = False) -> None:
        self.path = Path(path)
        self.read_only = read_only
        self._lock = threading.Lock()
        _check_file(self.path)
        try:
            self._db = self._connect_read_only() if read_only else self._connect()
        except sqlite3.Error as exc:
            raise self.error(exc, "opened") from None

    def _connect(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise JournalError(
                shown_path(self.path),
                f"its folder cannot be made ({exc.strerror or exc}): pass journal= a file in a "
                "folder you can write, or journal=False to upload without one (no resume)",
            ) from None
        db = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_S
        )
        db.row_factory = sqlite3.Row
        try:
            db.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
            _check_is_journal(self.path, db)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("BEGIN IMMEDIATE")
            for statement in _SCHEMA:
                db.execute(statement)
            db.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)",
                (str(SCHEMA_VERSION),),
            )
            self._db = db
            self._add_missing_columns()
            db.execute("COMMIT")
        except BaseException:
            db.close()
            raise
        return db

    def _connect_read_only(self) -> sqlite3.Connection:
        """Read without writing anything: a read-only file or folder still reads.

        A WAL journal in a folder that cannot be written needs `immutable` (SQLite cannot make
        its shared-memory file there); a journal closed cleanly has no WAL left, so nothing
        is missed.
        """
        if not self.path.exists():
            raise JournalError(shown_path(self.path), "no such journal")
        uri = "file:" + quote(os.fsdecode(self.path.absolute()))
        for suffix in ("?mode=ro", "?mode=ro&immutable=1"):
            db = sqlite3.connect(
                uri + suffix,
                uri=True,
                isolation_level=None,
                check_same_thread=False,
                timeout=BUSY_TIMEOUT_S,
            )
            db.row_factory = sqlite3.Row
            try:
                _check_is_journal(self.path, db)
                return db
            except JournalError:
                db.close()
                raise
            except sqlite3.OperationalError:
                db.close()
                if suffix.endswith("immutable=1"):
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def error(self, exc: BaseException, doing: str) -> JournalError:
        """The `JournalError` for a SQLite failure: the file, the problem, what to do."""
        return JournalError(shown_path(self.path), _reason(exc, doing))

    def _add_missing_columns(self) -> None:
        # A journal written by an older mediakit lacks newer columns: add them, keep the rows.
        for table, wanted in (("files", [*_FILE_FIELDS, "path_bytes"]), ("events", _EVENT_FIELDS)):
            have = {row[1] for row in self._db.execute(f"PRAGMA table_info({table})")}
            for name in wanted:
                if name not in have:
                    self._db.execute(f"ALTER TABLE {table} ADD COLUMN {name}")
        # `prior` looks files up by exact name once per file: unindexed, each look-up scanned
        # every file ever journaled (1.9 ms at 10,000 rows; 0.03 ms indexed).
        self._db.execute("CREATE INDEX IF NOT EXISTS files_path_bytes ON files (path_bytes)")

    @property
    def schema_version(self) -> int:
        row = self._read(
            lambda db: db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        )
        return int(row[0]) if row else SCHEMA_VERSION

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _read(self, query: Callable[[sqlite3.Connection], Any]) -> Any:
        """Run a read; a SQLite failure becomes a `JournalError` that says what to do."""
        with self._lock:
            try:
                return query(self._db)
            except sqlite3.Error as exc:
                raise self.error(exc, "read") from None

    def _write(self, work: Callable[[sqlite3.Connection], Any]) -> Any:
        """Run writes in one transaction; a failure rolls back and becomes a `JournalError`."""
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    result = work(self._db)
                    self._db.execute("COMMIT")
                except BaseException:
                    if self._db.in_transaction:
                        self._db.execute("ROLLBACK")
                    raise
                return result
            except sqlite3.Error as exc:
                raise self.error(exc, "written") from None

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
        self.write(batches=[(batch_id, target, target_key, account, api, started_at)])

    def finish_batch(self, batch_id: str, finished_at: float) -> None:
        self.write(finished=[(batch_id, finished_at)])

    def write_file(self, record: FileRecord, *, target_key: str, account: str) -> None:
        self.write(files=[record], target_key=target_key, account=account)

    def write_files(self, records: Iterable[FileRecord], *, target_key: str, account: str) -> None:
        self.write(files=records, target_key=target_key, account=account)

    def write_event(self, event: Event) -> None:
        self.write(events=[event])

    def write(
        self,
        *,
        batches: Sequence[tuple[Any, ...]] = (),
        files: Iterable[FileRecord] = (),
        events: Iterable[Event] = (),
        finished: Sequence[tuple[str, float]] = (),
        target_key: str = "",
        account: str = "",
    ) -> None:
        """Write batches, files, events and batch ends in one transaction (all or nothing).

        Raises:
            JournalError: the write failed (a full disk, a read-only file…); nothing of it
                was written.
        """

        def work(db: sqlite3.Connection) -> None:
            for batch in batches:
                db.execute("INSERT OR REPLACE INTO batches VALUES (?, ?, ?, ?, ?, ?, NULL)", batch)
            if files:
                db.executemany(_FILE_SQL, [_file_row(r, target_key, account) for r in files])
            if events:
                db.executemany(_EVENT_SQL, [_event_row(e) for e in events])
            for batch_id, finished_at in finished:
                db.execute(
                    "UPDATE batches SET finished_at = ? WHERE batch_id = ?",
                    (finished_at, batch_id),
                )

        self._write(work)

    # leases: which process uploads which file now (the rules live in `_lease`)

    def claim(
        self, file_key: str, lease: Lease, *, free: Callable[[Lease], bool]
    ) -> tuple[bool, Lease | None]:
        """Take the lease on `file_key` unless someone else holds it and is not `free`.

        One transaction, so two processes never both take it. Returns (taken, the previous
        holder if any): taken over from a dead holder is (True, that holder).
        """

        def work(db: sqlite3.Connection) -> tuple[bool, Lease | None]:
            row = db.execute("SELECT * FROM leases WHERE file_key = ?", (file_key,)).fetchone()
            held = _lease(row) if row is not None else None
            if held is not None and held.holder != lease.holder and not free(held):
                return False, held
            db.execute(
                "INSERT OR REPLACE INTO leases VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    file_key,
                    lease.holder,
                    lease.pid,
                    lease.host,
                    lease.batch_id,
                    lease.taken_at,
                    lease.heartbeat,
                ),
            )
            return True, held if held is not None and held.holder != lease.holder else None

        result: tuple[bool, Lease | None] = self._write(work)
        return result

    def lease_of(self, file_key: str) -> Lease | None:
        row = self._read(
            lambda db: db.execute("SELECT * FROM leases WHERE file_key = ?", (file_key,)).fetchone()
        )
        return _lease(row) if row is not None else None

    def heartbeat(self, holder: str, now: float) -> None:
        self._write(
            lambda db: db.execute("UPDATE leases SET heartbeat = ? WHERE holder = ?", (now, holder))
        )

    def release(self, holder: str, file_keys: Sequence[str] | None = None) -> None:
        """Give up `holder`'s leases on `file_keys` (None: all of them)."""
        if file_keys is None:
            self._write(lambda db: db.execute("DELETE FROM leases WHERE holder = ?", (holder,)))
            return
        self._write(
            lambda db: db.executemany(
                "DELETE FROM leases WHERE file_key = ? AND holder = ?",
                [(key, holder) for key in file_keys],
            )
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

        def query(db: sqlite3.Connection) -> PriorUpload | None:
            # The exact bytes of the name where they are kept; older journals have text only.
            row = db.execute(
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
            final = None
            media_id = row["media_id"]
            if media_id:
                acks = db.execute(
                    "SELECT DISTINCT segment_index FROM events WHERE media_id = ? "
                    "AND command = 'APPEND' AND ok = 1",
                    (media_id,),
                ).fetchall()
                acknowledged = frozenset(int(a[0]) for a in acks if a[0] is not None)
                init = db.execute(
                    "SELECT expires_at FROM events WHERE media_id = ? AND command = 'INIT' "
                    "AND ok = 1 ORDER BY seq DESC LIMIT 1",
                    (media_id,),
                ).fetchone()
                session_expires_at = init[0] if init else None
                final = db.execute(
                    "SELECT state, expires_at FROM events WHERE media_id = ? "
                    "AND command = 'FINALIZE' AND ok = 1 ORDER BY seq DESC LIMIT 1",
                    (media_id,),
                ).fetchone()
                finalized = final is not None
            return PriorUpload(
                state=row["state"],
                media_id=media_id,
                media_key=row["media_key"],
                expires_at=row["expires_at"],
                session_expires_at=session_expires_at,
                acknowledged=acknowledged,
                finalized=finalized,
                batch_id=row["batch_id"],
                error_code=row["error_code"],
                error_name=row["error_name"],
                error_message=row["error_message"],
                finalize_state=final["state"] if final is not None else None,
                finalize_expires_at=final["expires_at"] if final is not None else None,
                bytes=row["bytes"],
                media_type=row["media_type"],
                media_category=row["media_category"],
                segments=row["segments"],
                repaired=bool(row["repaired"]),
                repair=row["repair"],
                repaired_path=row["repaired_path"],
            )

        found: PriorUpload | None = self._read(query)
        return found

    def batch_ids(self) -> list[str]:
        rows = self._read(
            lambda db: db.execute("SELECT batch_id FROM batches ORDER BY started_at").fetchall()
        )
        return [str(r[0]) for r in rows]

    def batch_info(self, batch_id: str) -> dict[str, Any] | None:
        row = self._read(
            lambda db: db.execute(
                "SELECT * FROM batches WHERE batch_id = ?", (batch_id,)
            ).fetchone()
        )
        return dict(row) if row else None

    def load(self, batch_ids: Sequence[str]) -> tuple[list[FileRecord], list[Event]]:
        """The files and events of `batch_ids`; columns an older journal lacks get defaults."""
        marks = ", ".join("?" for _ in batch_ids)

        def query(db: sqlite3.Connection) -> tuple[list[Any], list[Any]]:
            file_rows = db.execute(
                f"SELECT f.* FROM files f JOIN batches b ON b.batch_id = f.batch_id "
                f"WHERE f.batch_id IN ({marks}) ORDER BY b.started_at, f.file_id",
                tuple(batch_ids),
            ).fetchall()
            event_rows = db.execute(
                f"SELECT * FROM events WHERE batch_id IN ({marks}) ORDER BY seq", tuple(batch_ids)
            ).fetchall()
            return file_rows, event_rows

        file_rows, event_rows = self._read(query)
        records = []
        for row in file_rows:
            have = set(row.keys())
            data = {name: row[name] for name in _FILE_FIELDS if name in have}
            if "path_bytes" in have and row["path_bytes"] is not None:
                data["path"] = os.fsdecode(bytes(row["path_bytes"]))
            user = row["user_columns"] if "user_columns" in have else None
            data["user_columns"] = json.loads(user) if user else {}
            data["repaired"] = bool(data.get("repaired"))  # 0/1; NULL or absent in older journals
            records.append(FileRecord(**data))
        events = []
        for row in event_rows:
            have = set(row.keys())
            data = {name: row[name] for name in _EVENT_FIELDS if name in have}
            if data.get("ok") is not None:
                data["ok"] = bool(data["ok"])
            events.append(Event(**data))
        return records, events


def _file_row(record: FileRecord, target_key: str, account: str) -> tuple[Any, ...]:
    values = list(_FILE_VALUES(record))
    values[_PATH] = display_path(record.path)  # SQLite text must be valid UTF-8
    user = json.dumps(record.user_columns, default=str) if record.user_columns else None
    return (*values, user, target_key, account, _exact(record.path))


def _event_row(event: Event) -> list[Any]:
    values = list(_EVENT_VALUES(event))
    if event.path is not None:
        values[_EVENT_PATH] = display_path(event.path)
    return values


def _lease(row: sqlite3.Row) -> Lease:
    return Lease(
        holder=row["holder"],
        pid=int(row["pid"]),
        host=row["host"],
        batch_id=row["batch_id"],
        taken_at=float(row["taken_at"]),
        heartbeat=float(row["heartbeat"]),
    )


def shown_path(path: Path) -> str:
    """A journal's path as text any output can hold."""
    return display_path(os.fsdecode(path))


def _check_file(path: Path) -> None:
    """Refuse, before SQLite sees it, a path that is a folder or a file that is not SQLite."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(len(SQLITE_MAGIC))
    except FileNotFoundError:
        return
    except IsADirectoryError:
        raise JournalError(
            shown_path(path), "is a folder, not a journal file: pass journal= a file's path"
        ) from None
    except PermissionError:
        raise JournalError(
            shown_path(path),
            "cannot be read (permission denied): make it readable, or pass journal= another file",
        ) from None
    except OSError as exc:
        raise JournalError(shown_path(path), f"cannot be read ({exc.strerror or exc})") from None
    if head and head != SQLITE_MAGIC:
        raise JournalError(
            shown_path(path),
            "is not a mediakit journal (not a SQLite database): move it away, or pass "
            "journal= another file",
        )


def _check_is_journal(path: Path, db: sqlite3.Connection) -> None:
    """Refuse a SQLite database that holds tables, but not a journal's."""
    tables = {str(r[0]) for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    tables.discard("sqlite_sequence")
    if tables and not tables >= _JOURNAL_TABLES:
        shown = ", ".join(sorted(tables)[:5]) + (", …" if len(tables) > 5 else "")
        raise JournalError(
            shown_path(path),
            f"is a SQLite database but not a mediakit journal (its tables: {shown}): pass "
            "journal= another file",
        )


def _reason(exc: BaseException, doing: str) -> str:
    """What a SQLite failure means for a journal, and what to do about it."""
    text = str(exc) or type(exc).__name__
    lower = text.lower()
    if "not a database" in lower:
        return (
            "is not a mediakit journal (not a SQLite database): move it away, or pass journal= "
            "another file"
        )
    if "malformed" in lower or "corrupt" in lower:
        return (
            f"is damaged ({text}): move it aside with its -wal and -shm files, and mediakit "
            "starts a new journal (a rerun then cannot skip what the old one recorded)"
        )
    if "readonly" in lower or "read-only" in lower:
        return (
            "is read-only: an upload writes its journal as it goes, so make the file and its "
            "folder writable, pass journal= another file, or journal=False to upload without "
            "one (no resume); mk.open_journal reads it as it is"
        )
    if "full" in lower:
        return f"cannot be written: the disk is full ({text})"
    if "locked" in lower or "busy" in lower:
        return f"is locked by another program for more than {BUSY_TIMEOUT_S:.0f} s ({text})"
    if "unable to open" in lower:
        return (
            f"cannot be opened ({text}): check that its folder exists and can be written, or "
            "pass journal= another file"
        )
    return f"cannot be {doing} ({text})"
