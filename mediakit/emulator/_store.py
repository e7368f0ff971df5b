"""The emulator's durable state: SQLite for records, one spool file per uploaded segment.

Every change is committed before the request that caused it is answered, so a killed
process loses nothing it acknowledged, and two processes pointed at the same state file see
one emulator. Uploaded bytes never sit whole in memory: APPEND streams each segment to its
own file (a retry replaces it atomically), FINALIZE joins them on disk and hashes them.

OAuth 2.0 tokens are kept only as SHA-256 digests: the emulator only ever compares a presented
token with the ones it knows, and the tokens are random (or public demo values), so a fast
hash is enough. The state has an identity (`state_id`, a UUID made with the state), so a
client can tell a restarted emulator on the same state from a fresh one.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import tempfile
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from .._errors import ConfigurationError

__all__ = ["MediaRow", "NotAStateFile", "Store", "token_digest"]

# 2: tokens stored as digests, content hashes, shared rate-limit windows, state_id.
SCHEMA_VERSION = 2
SQLITE_MAGIC = b"SQLite format 3\x00"
TWITTER_EPOCH_MS = 1_288_834_974_657

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS media (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    additional_owners TEXT NOT NULL DEFAULT '[]',
    api TEXT NOT NULL,
    media_type TEXT,
    media_category TEXT,
    media_key TEXT NOT NULL,
    total_bytes INTEGER NOT NULL,
    shared INTEGER NOT NULL DEFAULT 0,
    phase TEXT NOT NULL,
    created_at REAL NOT NULL,
    session_expires_at REAL NOT NULL,
    finalized_at REAL,
    media_expires_at REAL,
    size INTEGER,
    detected_type TEXT,
    kind TEXT,
    width INTEGER,
    height INTEGER,
    duration_s REAL,
    processing_s REAL,
    outcome TEXT,
    error_code INTEGER,
    error_name TEXT,
    error_message TEXT,
    fail_progress INTEGER,
    metadata TEXT NOT NULL DEFAULT '{}',
    subtitles TEXT NOT NULL DEFAULT '[]',
    spool_removed INTEGER NOT NULL DEFAULT 0,
    content_sha256 TEXT,
    decoder TEXT,
    attempt INTEGER
);
CREATE TABLE IF NOT EXISTS segments (
    media_id TEXT NOT NULL,
    segment_index INTEGER NOT NULL,
    size INTEGER NOT NULL,
    received_at REAL NOT NULL,
    PRIMARY KEY (media_id, segment_index)
);
CREATE TABLE IF NOT EXISTS rate_windows (
    scope TEXT NOT NULL,
    command TEXT NOT NULL,
    who TEXT NOT NULL,
    start REAL NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (scope, command, who)
);
CREATE TABLE IF NOT EXISTS tokens (
    access_token TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    scopes TEXT NOT NULL,
    expires_at REAL,
    client_id TEXT
);
CREATE TABLE IF NOT EXISTS refresh_tokens (
    token TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    scopes TEXT NOT NULL,
    client_id TEXT,
    valid INTEGER NOT NULL DEFAULT 1
);
"""


@dataclass(frozen=True)
class MediaRow:
    """One media id as the emulator holds it (a row of the `media` table)."""

    id: str
    owner: str
    additional_owners: tuple[str, ...]
    api: str
    media_type: str | None
    media_category: str | None
    media_key: str
    total_bytes: int
    shared: bool
    phase: str  # "initialized" | "finalized"
    created_at: float
    session_expires_at: float
    finalized_at: float | None
    media_expires_at: float | None
    size: int | None
    detected_type: str | None
    kind: str | None
    width: int | None
    height: int | None
    duration_s: float | None
    processing_s: float | None
    outcome: str | None  # "succeeded" | "failed" once finalized
    error_code: int | None
    error_name: str | None
    error_message: str | None
    fail_progress: int | None
    metadata: dict[str, Any]
    subtitles: list[dict[str, Any]]
    spool_removed: bool
    content_sha256: str | None = None
    # Set while the decode that processing starts with has not ended: the pid decoding it.
    decoder: str | None = None
    attempt: int | None = None  # how many earlier uploads of this content, at FINALIZE

    @property
    def decoding(self) -> bool:
        return self.decoder is not None

    def owned_by(self, user_id: str) -> bool:
        return user_id == self.owner or user_id in self.additional_owners

    @classmethod
    def from_sql(cls, row: sqlite3.Row) -> MediaRow:
        data = dict(row)
        data["additional_owners"] = tuple(json.loads(data["additional_owners"]))
        data["shared"] = bool(data["shared"])
        data["spool_removed"] = bool(data["spool_removed"])
        data["metadata"] = json.loads(data["metadata"])
        data["subtitles"] = json.loads(data["subtitles"])
        return cls(**data)


class NotAStateFile(ConfigurationError):
    """The state path exists but is not an emulator state file (not SQLite, or unreadable)."""


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def check_state_file(path: Path) -> None:
    """Raise `NotAStateFile` unless `path` is missing, empty, or a SQLite database."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(len(SQLITE_MAGIC))
    except FileNotFoundError:
        return
    except IsADirectoryError:
        raise NotAStateFile(f"{path} is a directory, not a state file") from None
    except OSError as exc:
        raise NotAStateFile(f"cannot read {path}: {exc.strerror or exc}") from None
    if head and head != SQLITE_MAGIC:
        raise NotAStateFile(f"{path} is not a SQLite database (not an emulator state file)")


class Store:
    """SQLite records plus a spool directory of segment files."""

    def __init__(self, state_path: Path | None, spool_dir: Path | None) -> None:
        self._owned_tmp: str | None = None
        if state_path is None:
            # An emulator of its own: a private temporary directory, removed on close.
            self._owned_tmp = tempfile.mkdtemp(prefix="mediakit-emulator-")
            state_path = Path(self._owned_tmp) / "state.sqlite"
        try:
            self._open(Path(state_path), spool_dir)
        except BaseException:
            # Even Ctrl-C halfway: a temporary state must not outlive a failed start.
            if self._owned_tmp is not None:
                shutil.rmtree(self._owned_tmp, ignore_errors=True)
            raise

    def _open(self, state_path: Path, spool_dir: Path | None) -> None:
        self.state_path = state_path
        check_state_file(self.state_path)
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        self.spool_dir = Path(spool_dir) if spool_dir else self.state_path.with_suffix(".spool")
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(
            self.state_path, isolation_level=None, check_same_thread=False, timeout=30
        )
        self._db.row_factory = sqlite3.Row
        self._db.create_function("token_digest", 1, token_digest, deterministic=True)
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            # WAL + NORMAL survives a killed process; only a power cut loses the last commit.
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA busy_timeout=30000")
            with self.transaction() as db:
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        db.execute(statement)
                _migrate(db)
                db.execute(
                    "INSERT OR IGNORE INTO meta(key, value) VALUES ('state_id', ?)",
                    (str(uuid.uuid4()),),
                )
                row = db.execute("SELECT value FROM meta WHERE key='state_id'").fetchone()
        except BaseException as exc:
            self._db.close()
            if isinstance(exc, sqlite3.DatabaseError):
                raise NotAStateFile(
                    f"{self.state_path} is not a usable state file: {exc}"
                ) from None
            raise
        self.state_id = str(row[0])

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken at once so concurrent processes queue, not deadlock."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            else:
                self._db.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._db.close()
        if self._owned_tmp is not None:
            shutil.rmtree(self._owned_tmp, ignore_errors=True)

    # ids

    def next_media_id(self, now: float) -> str:
        """A 19-digit snowflake-like id, monotonic across every process sharing the state."""
        candidate = (int(now * 1000) - TWITTER_EPOCH_MS) << 22
        with self.transaction() as db:
            row = db.execute("SELECT value FROM meta WHERE key='last_media_id'").fetchone()
            last = int(row[0]) if row else 0
            media_id = max(candidate, last + 1)
            db.execute(
                "INSERT OR REPLACE INTO meta(key, value) VALUES ('last_media_id', ?)",
                (str(media_id),),
            )
        return str(media_id)

    # media

    def insert_media(self, **fields: Any) -> None:
        fields = dict(fields)
        fields["additional_owners"] = json.dumps(list(fields.get("additional_owners", ())))
        names = ", ".join(fields)
        marks = ", ".join("?" for _ in fields)
        with self.transaction() as db:
            db.execute(f"INSERT INTO media ({names}) VALUES ({marks})", tuple(fields.values()))

    def update_media(self, media_id: str, **fields: Any) -> None:
        for key in ("metadata", "subtitles"):
            if key in fields:
                fields[key] = json.dumps(fields[key])
        assignments = ", ".join(f"{name} = ?" for name in fields)
        with self.transaction() as db:
            db.execute(f"UPDATE media SET {assignments} WHERE id = ?", (*fields.values(), media_id))

    def claim_decode(self, media_id: str, old: str, new: str) -> bool:
        """Take over the decode of `media_id` from `old` (a process gone); False if it ended."""
        with self.transaction() as db:
            cursor = db.execute(
                "UPDATE media SET decoder = ? WHERE id = ? AND decoder = ?", (new, media_id, old)
            )
        return cursor.rowcount == 1

    def finish_decode(self, media_id: str, **fields: Any) -> bool:
        """Store what the decode found, once: False when another decoder stored it first."""
        assignments = ", ".join(f"{name} = ?" for name in fields)
        with self.transaction() as db:
            cursor = db.execute(
                f"UPDATE media SET {assignments}, decoder = NULL "
                "WHERE id = ? AND decoder IS NOT NULL",
                (*fields.values(), media_id),
            )
        return cursor.rowcount == 1

    def joined_path(self, media_id: str) -> Path:
        return self.spool_dir / media_id / "media.bin"

    def get_media(self, media_id: str) -> MediaRow | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM media WHERE id = ?", (media_id,)).fetchone()
        return MediaRow.from_sql(row) if row else None

    def all_media(self) -> list[MediaRow]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM media ORDER BY created_at, id").fetchall()
        return [MediaRow.from_sql(row) for row in rows]

    # segments

    def segment_path(self, media_id: str, segment_index: int) -> Path:
        return self.spool_dir / media_id / f"{segment_index:04d}.part"

    def new_segment_file(self, media_id: str) -> tuple[int, str]:
        """A temporary file beside the segments of `media_id`, renamed into place when whole."""
        folder = self.spool_dir / media_id
        folder.mkdir(parents=True, exist_ok=True)
        return tempfile.mkstemp(dir=folder, suffix=".incoming")

    def commit_segment(
        self, media_id: str, segment_index: int, temp_path: str, size: int, now: float
    ) -> None:
        # The rename is atomic: a retried segment replaces the old one whole, never half.
        target = self.segment_path(media_id, segment_index)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(temp_path, target)
        with self.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO segments(media_id, segment_index, size, received_at) "
                "VALUES (?, ?, ?, ?)",
                (media_id, segment_index, size, now),
            )

    def segments(self, media_id: str) -> list[tuple[int, int]]:
        """(segment_index, size) pairs in index order."""
        with self._lock:
            rows = self._db.execute(
                "SELECT segment_index, size FROM segments WHERE media_id = ? "
                "ORDER BY segment_index",
                (media_id,),
            ).fetchall()
        return [(int(r[0]), int(r[1])) for r in rows]

    def assemble(self, media_id: str) -> tuple[Path, str]:
        """Join the segments in index order into one file; its path and SHA-256."""
        target = self.join_segments(media_id)
        return target, file_sha256(target)

    def join_segments(self, media_id: str) -> Path:
        """Join the segments in index order into one file, copied inside the kernel."""
        target = self.joined_path(media_id)
        # Unbuffered: the copy moves the descriptors' offsets behind a buffered file's back.
        with open(target, "wb", buffering=0) as out:
            for segment_index, _size in self.segments(media_id):
                with open(self.segment_path(media_id, segment_index), "rb", buffering=0) as part:
                    _copy_file(part, out)
        return target

    def earlier_uploads(self, content_sha256: str, media_id: str) -> int:
        """How many other media ids of this state were finalized with the same content."""
        with self._lock:
            row = self._db.execute(
                "SELECT COUNT(*) FROM media WHERE content_sha256 = ? AND id != ? "
                "AND phase = 'finalized'",
                (content_sha256, media_id),
            ).fetchone()
        return int(row[0])

    def remove_spool(self, media_id: str) -> None:
        shutil.rmtree(self.spool_dir / media_id, ignore_errors=True)
        self.update_media(media_id, spool_removed=1)

    def expired_spools(self, now: float) -> list[str]:
        """Media ids whose bytes are still on disk although their session or media expired."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id FROM media WHERE spool_removed = 0 AND ("
                "(phase = 'initialized' AND session_expires_at <= ?) OR "
                "(media_expires_at IS NOT NULL AND media_expires_at <= ?))",
                (now, now),
            ).fetchall()
        return [str(r[0]) for r in rows]

    # OAuth 2.0 tokens issued by the emulator's token endpoint

    def put_token(
        self,
        access_token: str,
        user_id: str,
        scopes: frozenset[str],
        expires_at: float | None,
        client_id: str | None,
        *,
        replace: bool = True,
    ) -> None:
        verb = "INSERT OR REPLACE" if replace else "INSERT OR IGNORE"
        with self.transaction() as db:
            db.execute(
                f"{verb} INTO tokens(access_token, user_id, scopes, expires_at, client_id) "
                "VALUES (?, ?, ?, ?, ?)",
                (
                    token_digest(access_token),
                    user_id,
                    " ".join(sorted(scopes)),
                    expires_at,
                    client_id,
                ),
            )

    def get_token(self, access_token: str) -> tuple[str, frozenset[str], float | None] | None:
        with self._lock:
            row = self._db.execute(
                "SELECT user_id, scopes, expires_at FROM tokens WHERE access_token = ?",
                (token_digest(access_token),),
            ).fetchone()
        if row is None:
            return None
        return str(row[0]), frozenset(str(row[1]).split()), row[2]

    def put_refresh_token(
        self, token: str, user_id: str, scopes: frozenset[str], client_id: str | None
    ) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO refresh_tokens(token, user_id, scopes, client_id, valid) "
                "VALUES (?, ?, ?, ?, 1)",
                (token_digest(token), user_id, " ".join(sorted(scopes)), client_id),
            )

    def rotate_refresh_token(
        self, old: str, new: str, client_id: str
    ) -> tuple[str, frozenset[str]] | None:
        """Spend `old` and store `new` in its place; None when `old` is unknown or spent."""
        with self.transaction() as db:
            row = db.execute(
                "SELECT user_id, scopes, client_id FROM refresh_tokens "
                "WHERE token = ? AND valid = 1",
                (token_digest(old),),
            ).fetchone()
            if row is None or (row["client_id"] and row["client_id"] != client_id):
                return None
            db.execute("UPDATE refresh_tokens SET valid = 0 WHERE token = ?", (token_digest(old),))
            db.execute(
                "INSERT INTO refresh_tokens(token, user_id, scopes, client_id, valid) "
                "VALUES (?, ?, ?, ?, 1)",
                (token_digest(new), row["user_id"], row["scopes"], client_id),
            )
        return str(row["user_id"]), frozenset(str(row["scopes"]).split())

    # rate-limit windows, shared by every process on this state

    def count_request(
        self, windows: list[tuple[str, str, str, float, int]], now: float
    ) -> tuple[list[tuple[int, float]], int | None]:
        """Count one request in each (scope, command, who, length, limit) window, atomically.

        Returns each window's (count before this request, start) and the index of the first
        full window, which refuses the request (then nothing is counted), or None.
        """
        with self.transaction() as db:
            seen: list[tuple[int, float]] = []
            for scope, command, who, length, _limit in windows:
                row = db.execute(
                    "SELECT start, count FROM rate_windows WHERE scope=? AND command=? AND who=?",
                    (scope, command, who),
                ).fetchone()
                fresh = row is None or now >= float(row[0]) + length
                seen.append((0, now) if fresh else (int(row[1]), float(row[0])))
            for index, ((count, _start), window) in enumerate(zip(seen, windows, strict=True)):
                if count >= window[4]:
                    return seen, index
            for (count, begun), (scope, command, who, _length, _limit) in zip(
                seen, windows, strict=True
            ):
                db.execute(
                    "INSERT OR REPLACE INTO rate_windows(scope, command, who, start, count) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (scope, command, who, begun, count + 1),
                )
        return seen, None

    def reset_rate_windows(self) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM rate_windows")


def _migrate(db: sqlite3.Connection) -> None:
    """Bring an older state file up to SCHEMA_VERSION, in the open transaction."""
    row = db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
    version = int(row[0]) if row else SCHEMA_VERSION
    columns = {r[1] for r in db.execute("PRAGMA table_info(media)")}
    # Added within version 2 (an older emulator never reads them): the deferred decode.
    for name, kind in (("decoder", "TEXT"), ("attempt", "INTEGER")):
        if name not in columns:
            db.execute(f"ALTER TABLE media ADD COLUMN {name} {kind}")
    if version < 2:
        if "content_sha256" not in columns:
            db.execute("ALTER TABLE media ADD COLUMN content_sha256 TEXT")
        # Version 1 kept tokens in plain text: keep only their digests from now on.
        db.execute("UPDATE tokens SET access_token = token_digest(access_token)")
        db.execute("UPDATE refresh_tokens SET token = token_digest(token)")
    db.execute(
        "INSERT OR REPLACE INTO meta(key, value) VALUES ('schema_version', ?)",
        (str(max(version, SCHEMA_VERSION)),),
    )


_BLOCK = 1024 * 1024  # a read's worth: hashlib drops the GIL for it, memory stays a chunk


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file, read into one reused buffer (no new bytes object per read)."""
    digest = hashlib.sha256()
    buffer = bytearray(_BLOCK)
    view = memoryview(buffer)
    with open(path, "rb", buffering=0) as f:
        while count := f.readinto(buffer):
            digest.update(view[:count])
    return digest.hexdigest()


def _copy_file(source: BinaryIO, out: BinaryIO) -> None:
    """Append all of `source` to `out`: copy_file_range where the OS has it, no user copy."""
    copy_range = getattr(os, "copy_file_range", None)
    if copy_range is not None:
        try:
            while copy_range(source.fileno(), out.fileno(), 64 * _BLOCK):
                pass
            return
        except OSError:  # e.g. EXDEV/EINVAL where the file system cannot; both offsets
            pass  # stand where the failed call left them, so the rest is copied by hand
    shutil.copyfileobj(source, out, _BLOCK)
