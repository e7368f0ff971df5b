"""Leases: two processes on one journal never upload the same file twice.

Before a batch uploads a file it claims it in the journal, in one transaction: a lease with
its holder (host, pid, batch) and a heartbeat it renews while it works. A file another live
process holds is not uploaded: the batch waits for it (holding no upload slot, so its other
files go on), then reports it with the holder's outcome, read from the journal (`skipped` with
the holder's media id when it succeeded). The lease of a holder that died (its pid is gone on
this host, or its heartbeat is older than `LEASE_TTL_S`) is taken over, and the file resumes
from what the journal recorded, as after any crash.

Leases use wall-clock time (`time.time()`), not the batch's clock: they are shared between
processes, whose clocks only agree on real time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from dataclasses import dataclass, field

from ._batch import BatchInput
from ._errors import JournalError
from ._journal import Journal, Lease, PriorUpload
from ._records import FAILED_STATES, OK_STATES, FileRecord
from ._resume import prior_of, resume_from
from ._target import Target

__all__ = ["HEARTBEAT_S", "HOST", "LEASE_TTL_S", "Leases", "holder_gone"]

log = logging.getLogger("mediakit")

LEASE_TTL_S = 120.0
"""A holder that has not renewed its leases for this long is gone (on another host, or a pid
reused by another program)."""
HEARTBEAT_S = 15.0
"""How often a batch renews its leases."""
WAIT_POLL_S = 0.25
"""How often a batch waiting for another process's file looks at the journal."""

HOST = socket.gethostname()


def pid_alive(pid: int) -> bool:
    """Whether a process with this id runs on this host (a zombie does not count)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    try:  # a killed child not yet reaped by its parent is still listed
        with open(f"/proc/{pid}/stat", "rb") as handle:
            return handle.read().split(b") ", 1)[-1][:1] != b"Z"
    except OSError:
        return True


# The holders of the batches running in this process: a lease of this process held by any
# other batch is left over (its release failed, a full disk say) and is free.
_RUNNING: set[str] = set()


def holder_gone(lease: Lease, now: float | None = None) -> bool:
    """Whether the process holding `lease` is gone, so the lease can be taken over."""
    now = time.time() if now is None else now
    if now - lease.heartbeat > LEASE_TTL_S:
        return True
    if lease.host != HOST:
        return False
    if lease.pid == os.getpid():
        return lease.holder not in _RUNNING
    return not pid_alive(lease.pid)


@dataclass
class Leases:
    """One batch's leases in its journal: claim, wait for other holders, renew, release."""

    book: Journal
    target: Target
    batch_id: str
    force: bool = False
    # The batch each file's planned resume came from (None: nothing was journaled for it).
    planned: dict[int, str | None] = field(default_factory=dict)
    _held: set[str] = field(default_factory=set)
    _broken: bool = False  # the journal refused a lease write: go on without coordinating

    def __post_init__(self) -> None:
        self.holder = f"{HOST}:{os.getpid()}:{self.batch_id}"
        _RUNNING.add(self.holder)

    def key(self, record: FileRecord) -> str:
        """The file's identity across processes: target, account and the exact path."""
        return f"{self.target.key}\n{self.target.account}\n{os.fsencode(record.path).hex()}"

    def _lease(self) -> Lease:
        now = time.time()
        return Lease(self.holder, os.getpid(), HOST, self.batch_id, now, now)

    def take(self, item: BatchInput) -> Lease | None:
        """Claim the file; None when it is this batch's now, else the live holder's lease."""
        if self._broken:
            return None
        key = self.key(item.record)
        try:
            taken, previous = self.book.claim(key, self._lease(), free=holder_gone)
        except JournalError as exc:
            # The journal writer warns about the journal itself, once; this is a detail.
            self._broken = True
            log.info("%s: files are not claimed in the journal for the rest of the batch", exc)
            return None
        if not taken:
            return previous
        self._held.add(key)
        self._since_planned(item, time.time())
        if previous is not None:
            log.info(
                "%s: took over from process %d (batch %s), which is gone",
                item.record.path,
                previous.pid,
                previous.batch_id,
            )
        return None

    async def settle(self, item: BatchInput, holder: Lease, now: float) -> None:
        """Wait until `holder` no longer works on the file, then take up what it did.

        Ends the record with the holder's outcome when it finished the file (succeeded:
        `skipped` with its media id; failed or invalid: the same, with its reason); else the
        file is left to this batch, resumed from the journal where the holder stopped.
        """
        key = self.key(item.record)
        while True:
            lease = self.book.lease_of(key)
            if lease is None or lease.holder == self.holder or holder_gone(lease):
                break
            holder = lease
            await asyncio.sleep(WAIT_POLL_S)
        prior = None if self.force else prior_of(item, self.book, self.target)
        if prior is None or prior.batch_id != holder.batch_id:
            return  # the holder recorded nothing for it: upload it here
        self._adopt(item, prior, f"process {holder.pid} (batch {holder.batch_id})", now)

    def _adopt(self, item: BatchInput, prior: PriorUpload, by: str, now: float) -> None:
        """Take up another process's outcome for the file (see `settle`)."""
        record = item.record
        if prior.state in OK_STATES:
            if resume_from(item, prior, now) and record.state == "skipped":
                record.error_message = f"uploaded by another {by}"
            return
        if prior.state in FAILED_STATES:
            record.state = prior.state
            record.media_id = prior.media_id
            record.error_code, record.error_name = prior.error_code, prior.error_name
            record.error_message = f"another {by} tried it: {prior.error_message or prior.state}"
            return
        resume_from(item, prior, now)  # the holder stopped half way: continue from there

    def _since_planned(self, item: BatchInput, now: float) -> None:
        """Just claimed: another process may have finished the file since this batch planned
        (and released it before this claim). Its outcome then stands, as if waited for."""
        if self.force:
            return
        prior = prior_of(item, self.book, self.target)
        if prior is None or prior.batch_id in (
            self.batch_id,
            self.planned.get(item.record.file_id),
        ):
            return
        self._adopt(item, prior, f"process (batch {prior.batch_id})", now)

    def release(self, record: FileRecord) -> None:
        """Give up the file (its outcome is journaled): a waiting process may read it now."""
        key = self.key(record)
        if key not in self._held or self._broken:
            return
        self._held.discard(key)
        with contextlib.suppress(JournalError):  # else it expires with this process
            self.book.release(self.holder, [key])

    def release_all(self) -> None:
        """The batch is over: give up every lease it holds."""
        _RUNNING.discard(self.holder)
        self._held.clear()
        with contextlib.suppress(JournalError):
            self.book.release(self.holder)

    async def keep_alive(self) -> None:
        """Renew this batch's leases every `HEARTBEAT_S` until cancelled."""
        while True:
            await asyncio.sleep(HEARTBEAT_S)
            if self._held and not self._broken:
                try:
                    self.book.heartbeat(self.holder, time.time())
                except JournalError as exc:
                    log.info("%s: leases not renewed", exc)
