"""The embedded queue: SQLite in WAL mode, one file `<data dir>/queue.db`, zero set-up.

Durability. The commits that make a promise (`enqueue`, dead-letter `replay`) have the write-ahead log
fsynced before they return, so an event answered with 200 survives a `kill -9` and a power loss: `replay`
with `synchronous=FULL`, `enqueue` by an fsync of the log right after its commit (`make_durable`), outside
SQLite's write lock, so that the other writers do not wait for the disk. Bookkeeping commits (`lease`, `ack`, `retry`,
`dead_letter`, `purge`) run with `synchronous=NORMAL`: in WAL mode a committed transaction is in the
log file before the call returns, so a killed process loses nothing, and a power loss can at worst
undo the last acks or retries, which only means a job is delivered again (at-least-once).
`durability="normal"` uses NORMAL for everything: still safe against a killed process, not against
power loss. See docs/runner.md.

Ownership. The process that delivers (`engine serve`) opens the queue with `owner=True`: it takes an
exclusive OS lock (`flock`) on `queue.db.lock` beside the file, so a second owner is refused with
`QueueLocked` naming the process that holds it (the kernel drops the lock when that process dies,
however it dies), and the leases of the previous owner (a process that died, or hung and was replaced) are then due at once,
and each counts as orphaned when leased again (`Job.orphaned`). Readers (`engine dlq`) open it
without ownership and reclaim nothing.

Threads. One connection guarded by a lock; every operation is one `BEGIN IMMEDIATE` transaction,
which also makes leasing safe between processes sharing the file (the write lock is taken first).
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import os
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, Literal

import orjson

from engine.queue.base import (
    DEFAULT_DEDUP_WINDOW,
    JOB_COLUMNS,
    Event,
    Job,
    JobQueue,
    QueueBusy,
    QueueError,
    QueueLocked,
    TimeLike,
    job_from_row,
    verdict_reason,
)
from engine.queue.deadsql import SQLDeadLetters
from engine.queue.kept import KeptEvents, jobs_left
from engine.queue.recent import RecentIds

DB_NAME = "queue.db"
LOCK_NAME = "queue.db.lock"  # held (flock) by the owner for as long as it has the queue open
SCHEMA_VERSION = 3  # 2: jobs.orphaned; 3: seen_log, no jobs_due
_CHUNK = 500  # bound for `IN (...)` lists
_PRUNE_EVERY = 60.0  # seconds between clean-ups of expired messageIds
MERGE_AT = 50_000  # unmerged messageIds in memory beyond which an enqueue merges them itself (`merge_seen`)
RESTART_WAIT = 0.2  # seconds a checkpoint waits for a moment without a writer to restart the log (`checkpoint`)

# the instances that have jobs, one index seek each (a skip-scan of jobs_instance_due)
_INSTANCES = """WITH RECURSIVE inst(i) AS (SELECT min(instance) FROM jobs UNION ALL
    SELECT (SELECT min(instance) FROM jobs WHERE instance > i) FROM inst WHERE i IS NOT NULL)
    SELECT i FROM inst WHERE i IS NOT NULL"""

# a lease of the jobs the WHERE that follows picks (parameters: the lease's end twice, then the WHERE's)
_LEASE = "UPDATE jobs SET leased_until = ?, due = ?, orphaned = orphaned + (leased_until IS NOT NULL) WHERE"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    instance TEXT NOT NULL,
    message_id TEXT,
    event BLOB NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    enqueued_at REAL NOT NULL,
    available_at REAL NOT NULL,
    leased_until REAL,
    due REAL NOT NULL,              -- available_at when waiting, leased_until when leased
    last_verdict BLOB,
    orphaned INTEGER NOT NULL DEFAULT 0  -- leases that expired (holder died or hung), counted at the next lease
);
-- one index for the due order, per instance: every job written is one B-tree entry fewer to insert, move at its
-- lease and delete at its ack than with a second, global (due, id) index (schema 2 had one: dropped at open)
CREATE INDEX IF NOT EXISTS jobs_instance_due ON jobs (instance, due, id);
DROP INDEX IF EXISTS jobs_due;
CREATE TABLE IF NOT EXISTS seen (
    message_id TEXT PRIMARY KEY,
    accepted_at REAL NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS seen_time ON seen (accepted_at);
CREATE TABLE IF NOT EXISTS seen_log (  -- messageIds accepted, not yet merged into seen (engine.queue.recent)
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    accepted_at REAL NOT NULL,
    ids TEXT NOT NULL                    -- JSON array of the batch's new messageIds
);
CREATE TABLE IF NOT EXISTS dead (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id INTEGER NOT NULL,
    instance TEXT NOT NULL,
    message_id TEXT,
    event BLOB NOT NULL,
    attempts INTEGER NOT NULL,
    reason TEXT NOT NULL,
    verdict BLOB NOT NULL,
    enqueued_at REAL NOT NULL,
    failed_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS dead_time ON dead (failed_at, id);
CREATE INDEX IF NOT EXISTS dead_instance ON dead (instance, failed_at);
CREATE TABLE IF NOT EXISTS tokens (
    key TEXT PRIMARY KEY,
    token TEXT NOT NULL,
    expires_at REAL NOT NULL
) WITHOUT ROWID;
"""


def describe_sqlite_error(file: Path, exc: BaseException) -> str:
    """One sentence for a SQLite error met at open: damaged file, read-only or missing folder, full disk."""
    text = " ".join(str(exc).split())  # quick_check's findings span lines ("*** in database main ***\nPage 155: ...")
    lower = text.lower()
    if isinstance(exc, sqlite3.DatabaseError) and not isinstance(exc, sqlite3.OperationalError) \
            or any(word in lower for word in ("malformed", "not a database", "corrupt")):
        return (f"{file} is damaged ({text[:200]}); stop every engine using it, move it (with its -wal and -shm "
                "files) aside and restore a backup, or salvage what is readable with `sqlite3 queue.db .recover "
                "| sqlite3 new.db` (see docs/runner.md)")
    if "readonly" in lower or "read-only" in lower:
        return f"{file} is read-only ({text}); make the file and its folder writable by this user or set queue.path"
    if "unable to open" in lower:
        return (f"cannot open {file} ({text}): the folder must exist and be writable by this user; fix its "
                "permissions or set queue.path")
    if "disk is full" in lower or "disk i/o" in lower:
        return f"{file}: {text}; free some space on its disk (or move queue.path) and start again"
    return f"{file}: {text}"


def check_queue_path(path: str | Path) -> str | None:
    """Why the queue in the data folder `path` could not be used (one sentence), or None; creates nothing:
    a missing folder is fine when it can be created, an existing file is opened and checked."""
    folder = Path(path)
    probe = folder
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        return f"cannot create the queue folder {folder}: {probe} is not a folder; set queue.path to a folder"
    try:
        with tempfile.TemporaryFile(dir=probe):
            pass
    except OSError as exc:
        what = "the queue folder" if probe == folder else f"the queue folder {folder} cannot be created:"
        return (f"{what} {probe} is not writable ({exc.strerror or exc}); fix its permissions or set queue.path "
                "to a writable folder")
    if not (folder / DB_NAME).exists():
        return None
    try:
        queue = SQLiteQueue(folder, busy_timeout=2.0)
    except QueueError as exc:
        return str(exc)
    try:
        queue.check_writable()
    except QueueError as exc:
        return str(exc)
    finally:
        queue.close()
    return None


def _chunks(values: list[Any], size: int = _CHUNK) -> Iterator[list[Any]]:
    for i in range(0, len(values), size):
        yield values[i:i + size]


class SQLiteQueue(JobQueue):
    """`JobQueue` on a SQLite file under `path` (a data directory, created if needed)."""

    def __init__(self, path: str | Path, *, clock: Callable[[], float] = time.time,
                 dedup_window: float = DEFAULT_DEDUP_WINDOW, durability: Literal["full", "normal"] = "full",
                 busy_timeout: float = 30.0, owner: bool = False) -> None:
        if durability not in ("full", "normal"):
            raise ValueError(f"durability must be 'full' or 'normal', not {durability!r}")
        self._init_state(Path(path), clock, dedup_window, durability, nowait=False)
        try:
            self._open(busy_timeout, owner)
        except BaseException:
            self.close()
            raise
        self.dlq: SQLiteDeadLetters = SQLiteDeadLetters(self)

    def _init_state(self, folder: Path, clock: Callable[[], float], dedup_window: float, durability: str, *,
                    nowait: bool, kept: KeptEvents | None = None, recent: RecentIds | None = None) -> None:
        """The state of a queue object before its connection opens (the queue's and its `nowait()` handle's)."""
        self.dir = folder
        self.file = folder / DB_NAME
        self.clock = clock
        self.dedup_window = float(dedup_window)
        self.durability = durability
        self._lock = threading.RLock()
        self._sync: str | None = None
        self._last_prune = float("-inf")
        self._lock_fd: int | None = None
        self._conn: sqlite3.Connection | None = None
        self._nowait = nowait  # True on the handle `nowait()` makes
        self._nowait_handle: SQLiteQueue | None = None
        self._busy_timeout = 0.0  # seconds its connection waits for another's write lock (set when it opens)
        # the events this process stored lately, for its own leases (the handle shares the queue's)
        self._kept = kept if kept is not None else KeptEvents()
        # the messageIds accepted and not yet merged into `seen` (shared with the handle, like `_kept`)
        self._recent = recent if recent is not None else RecentIds()

    def __repr__(self) -> str:
        return f"SQLiteQueue({str(self.dir)!r})"

    def _open(self, busy_timeout: float, owner: bool) -> None:
        """Create the folder, take ownership, open and check the file, create or migrate the schema; every
        failure of the environment becomes one `QueueError` sentence saying what to do."""
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise QueueError(f"cannot create the queue folder {self.dir}: {exc.strerror or exc}; create it or set "
                             "queue.path to a writable folder") from None
        try:
            self._open_file(busy_timeout, owner)
        except QueueError:
            raise
        except OSError as exc:
            raise QueueError(f"cannot open the queue in {self.dir}: {exc.strerror or exc}; the folder must be "
                             "writable by this user (fix its permissions or set queue.path)") from None
        except sqlite3.DatabaseError as exc:
            raise QueueError(describe_sqlite_error(self.file, exc)) from None

    def _open_file(self, busy_timeout: float, owner: bool) -> None:
        if owner:
            self._take_ownership()
        self._conn = sqlite3.connect(self.file, isolation_level=None, check_same_thread=False, timeout=busy_timeout)
        conn = self._conn
        mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise QueueError(f"{self.file}: SQLite refused WAL mode (got {mode}); is the folder on a network share?")
        conn.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
        self._busy_timeout = busy_timeout
        problems = [r[0] for r in conn.execute("PRAGMA quick_check(5)")]
        if problems != ["ok"]:
            raise sqlite3.DatabaseError("; ".join(str(p) for p in problems)[:300])
        with self._tx("FULL"):
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            columns = {r[1] for r in conn.execute("PRAGMA table_info(jobs)")}
            if "orphaned" not in columns:  # a file of schema 1
                conn.execute("ALTER TABLE jobs ADD COLUMN orphaned INTEGER NOT NULL DEFAULT 0")
            conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            if owner:
                self._reclaim(conn)

    def _take_ownership(self) -> None:
        path = self.dir / LOCK_NAME
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip()
            os.close(fd)
            who = f"process {holder}" if holder.isdigit() else "another process"
            raise QueueLocked(f"{self.file} is in use by {who} (another engine serve holds {path}); stop it, or give "
                              "this one another queue.path") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._lock_fd = fd

    def nowait(self) -> SQLiteQueue:
        """The handle for calls on the event loop's thread (`JobQueue.nowait`): a second connection to the same
        file whose busy timeout is 0, so a write transaction that would wait for another connection (an enqueue
        committing in a thread, another process) raises `QueueBusy` at once instead; reads never wait in WAL
        mode. One per queue, opened on first use, closed with the queue. Its clock is the queue's. Its
        `enqueue_taking` returns once committed, before the log is fsynced (which waits for the disk): the caller
        then calls the queue's `make_durable` in a thread before it answers for the events."""
        handle = self._nowait_handle
        if handle is not None:
            return handle
        if self._conn is None:
            raise RuntimeError("the queue is closed")
        handle = object.__new__(SQLiteQueue)
        # its clock follows the queue's, also when a test replaces it
        handle._init_state(self.dir, lambda: self.clock(), self.dedup_window, self.durability, nowait=True,
                           kept=self._kept, recent=self._recent)
        try:
            handle._conn = sqlite3.connect(self.file, isolation_level=None, check_same_thread=False, timeout=0)
            handle._conn.execute("PRAGMA busy_timeout=0")
            # its commits never copy the WAL back into the file (an fsync'ing pause of the event loop): the
            # queue's own connection does, at its commits and at `checkpoint`, in threads
            handle._conn.execute("PRAGMA wal_autocheckpoint=0")
        except sqlite3.DatabaseError as exc:
            raise QueueError(describe_sqlite_error(self.file, exc)) from None
        handle.dlq = SQLiteDeadLetters(handle)
        self._nowait_handle = handle
        return handle

    def merge_seen(self) -> int:
        """Move the accept log's messageIds into `seen`, in key order, in one transaction (engine.queue.recent), and
        forget them in memory; how many ids moved. The worker calls it with each `checkpoint`, and an enqueue when
        too many are waiting. An empty log takes no write transaction (an idle server's checkpoints stay reads)."""
        with self._read() as conn:
            if conn.execute("SELECT 1 FROM seen_log LIMIT 1").fetchone() is None:
                return 0
        with self._tx() as conn:
            upto = conn.execute("SELECT max(id) FROM seen_log").fetchone()[0]
            if upto is None:
                return 0
            moved = conn.execute(
                "INSERT INTO seen (message_id, accepted_at) SELECT j.value, l.accepted_at FROM seen_log AS l, "
                "json_each(l.ids) AS j WHERE l.id <= ? ORDER BY j.value "
                "ON CONFLICT (message_id) DO UPDATE SET accepted_at = excluded.accepted_at "
                "WHERE excluded.accepted_at > seen.accepted_at", (upto,)).rowcount
            conn.execute("DELETE FROM seen_log WHERE id <= ?", (upto,))
        self._recent.merged(int(upto))
        return int(moved)

    def checkpoint(self) -> int:
        """Copy what the write-ahead log holds back into the database file and have the next commit start the log
        from its beginning. First SQLite's PASSIVE checkpoint (writers are not blocked) copies what it finds; under
        a steady stream of commits that never catches up (frames land while it copies), so the log would never be
        reset and would grow without bound. Then a RESTART checkpoint copies the few frames added meanwhile while it
        holds writers off, waiting at most `RESTART_WAIT` for the writer and readers of the moment to finish (it
        gives up otherwise, and the next call tries again). The `nowait()` handle leaves this to the queue's own
        connection; the worker calls it, in a thread, once a second while it uses the handle. The accepted
        messageIds waiting in their log are merged first (`merge_seen`). Returns the frames the log held at the
        end (before the next commit restarts it)."""
        self.merge_seen()
        with self._read() as conn:
            _, frames, _ = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            if frames > 0:
                conn.execute(f"PRAGMA busy_timeout={int(RESTART_WAIT * 1000)}")
                try:
                    _, after, _ = conn.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()
                    frames = max(frames, after)
                finally:
                    conn.execute(f"PRAGMA busy_timeout={int(self._busy_timeout * 1000)}")
        return int(frames)

    def detach_lock(self) -> int | None:
        """Hand the owner's lock descriptor to the caller (it stays held after `close`, until the caller closes
        it): `engine serve --workers N` keeps it in the supervisor while the workers open the queue unowned."""
        fd, self._lock_fd = self._lock_fd, None
        return fd

    def _reclaim(self, conn: sqlite3.Connection) -> int:
        """The previous owner's leases end now: due at once, each counted as orphaned when leased again."""
        now = self.clock()
        return conn.execute("UPDATE jobs SET due = ? WHERE leased_until IS NOT NULL AND due > ?", (now, now)).rowcount

    # -- OAuth2 tokens (engine.queue.tokens.TokenStore): shared by every process on this file --------

    def get_token(self, key: str) -> tuple[str, float] | None:
        with self._lock:
            if self._conn is None:
                raise RuntimeError("the queue is closed")
            row = self._conn.execute("SELECT token, expires_at FROM tokens WHERE key = ?", (key,)).fetchone()
        return None if row is None else (str(row[0]), float(row[1]))

    def put_token(self, key: str, token: str, expires_at: float) -> None:
        with self._tx() as conn:
            conn.execute("INSERT INTO tokens (key, token, expires_at) VALUES (?, ?, ?) "
                         "ON CONFLICT (key) DO UPDATE SET token = excluded.token, expires_at = excluded.expires_at",
                         (key, token, expires_at))

    # -- plumbing -----------------------------------------------------------------------------

    @contextmanager
    def _tx(self, sync: str = "NORMAL") -> Iterator[sqlite3.Connection]:
        """One write transaction, holding the thread lock and SQLite's write lock from the start."""
        if self.durability == "normal":
            sync = "NORMAL"
        with self._lock:
            conn = self._conn
            if conn is None:
                raise RuntimeError("the queue is closed")
            if self._sync != sync:
                conn.execute(f"PRAGMA synchronous={sync}")
                self._sync = sync
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                if self._nowait and getattr(exc, "sqlite_errorcode", None) in (sqlite3.SQLITE_BUSY,
                                                                               sqlite3.SQLITE_LOCKED):
                    raise QueueBusy(f"{self.file} is being written by another connection") from None
                raise
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:  # SQLite rolls back by itself on some errors (SQLITE_FULL): keep that error
                    conn.execute("ROLLBACK")
                raise

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._conn is None:
                raise RuntimeError("the queue is closed")
            yield self._conn

    def close(self) -> None:
        if self._nowait_handle is not None:
            self._nowait_handle.close()
            self._nowait_handle = None
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
            if self._lock_fd is not None:
                os.close(self._lock_fd)  # closing the descriptor drops the flock
                self._lock_fd = None

    # -- JobQueue -----------------------------------------------------------------------------

    def enqueue(self, events: list[Event], destinations: list[str]) -> int:
        return self.enqueue_taking(events, destinations, {}, 0.0)[0]

    def enqueue_taking(self, events: list[Event], destinations: list[str], take: Mapping[str, int],
                       lease_seconds: float, *, encoded: list[bytes] | None = None) -> tuple[int, dict[str, list[Job]]]:
        now = self.clock()
        prepared: list[tuple[str | None, bytes, Event]] = []
        ids_in_batch: set[str] = set()
        for k, event in enumerate(events):
            mid = event.get("messageId")
            mid = mid if isinstance(mid, str) and mid else None
            if mid is not None:
                if mid in ids_in_batch:
                    continue
                ids_in_batch.add(mid)
            prepared.append((mid, encoded[k] if encoded is not None else orjson.dumps(event), event))
        taken: dict[str, list[Job]] = {}
        logged: list[str] = []
        log_row = 0
        recent = self._recent
        with self._tx() as conn:  # NORMAL: the log is fsynced after the commit, outside the write lock
            cutoff = now - self.dedup_window
            if now - self._last_prune >= _PRUNE_EVERY:
                conn.execute("DELETE FROM seen WHERE accepted_at < ?", (cutoff,))
                self._last_prune = now
            new_ids: set[str] = set()
            if ids_in_batch:
                # new: accepted neither in the unmerged log (memory, brought up to date first) nor in `seen` within
                # the window; `seen` is only read here (one index probe per id), the new ids go to the log in one row
                recent.refresh(conn)
                asked = [m for m in ids_in_batch if not recent.accepted_within(m, cutoff)]
                if asked:
                    known = {r[0] for r in conn.execute(
                        "SELECT value FROM json_each(?) WHERE EXISTS (SELECT 1 FROM seen WHERE message_id = value "
                        "AND accepted_at >= ?)", (orjson.dumps(asked), cutoff))}
                    logged = [m for m in asked if m not in known]
                    new_ids = set(logged)
                if logged:
                    log_row = conn.execute("INSERT INTO seen_log (accepted_at, ids) VALUES (?, ?)",
                                           (now, orjson.dumps(logged).decode())).lastrowid or 0
            fresh = [item for item in prepared if item[0] is None or item[0] in new_ids]
            rows_out = []
            until = now + lease_seconds
            rooms = [max(0, take.get(dest, 0)) if lease_seconds > 0 else 0 for dest in destinations]
            for dest, room in zip(destinations, rooms, strict=True):
                for mid, blob, event in fresh[:room]:  # created leased: one insert each, for its id
                    cur = conn.execute("INSERT INTO jobs (instance, message_id, event, attempts, enqueued_at, "
                                       "available_at, leased_until, due) VALUES (?, ?, ?, 0, ?, ?, ?, ?)",
                                       (dest, mid, blob, now, now, until, until))
                    taken.setdefault(dest, []).append(Job(cur.lastrowid, dest, event, mid,  # type: ignore[arg-type]
                                                          0, now, now, until))
                rows_out.extend((dest, mid, blob, now, now, now) for mid, blob, _ in fresh[room:])
            conn.executemany("INSERT INTO jobs (instance, message_id, event, attempts, enqueued_at, available_at, due) "
                             "VALUES (?, ?, ?, 0, ?, ?, ?)", rows_out)
        if logged:  # committed: known as accepted from now on (a rolled-back batch is not)
            recent.add(log_row, now, logged)
            if len(recent) > MERGE_AT:  # nobody merged lately (no worker's checkpoints): keep the memory bounded
                with contextlib.suppress(QueueBusy, sqlite3.Error):  # the events are stored: a later call merges
                    self.merge_seen()
        if rows_out:  # committed: kept parsed for the leases to come
            left = jobs_left(len(fresh), rooms)
            self._kept.keep((mid, blob, event, n) for (mid, blob, event), n in zip(fresh, left, strict=True))
        if not self._nowait:  # the handle's caller makes it durable, in a thread
            self.make_durable()
        return len(fresh) * len(destinations), taken

    def make_durable(self) -> None:
        """With `durability: full`, fsync the write-ahead log: every transaction committed so far (this thread's
        last one among them) is then on disk, as `synchronous=FULL` would have made it at the commit, but without
        holding SQLite's write lock meanwhile, so the other connections (leases and acks, other processes) do not
        wait for the disk. Frames a checkpoint already copied into the database file are on disk too: a
        checkpoint syncs the file before the log is reused."""
        if self.durability != "full":
            return
        try:
            fd = os.open(f"{self.file}-wal", os.O_RDONLY)
        except FileNotFoundError:  # no log (all of it checkpointed and removed): the database file holds it
            fd = os.open(self.file, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def lease(self, limit: int, lease_seconds: float, *, instance: str | None = None) -> list[Job]:
        if limit <= 0:
            return []
        with self._tx() as conn:
            return self._lease(conn, limit, lease_seconds, instance)

    def _lease(self, conn: sqlite3.Connection, limit: int, lease_seconds: float, instance: str | None) -> list[Job]:
        now = self.clock()
        until = now + lease_seconds
        if instance is not None:
            rows = conn.execute(
                f"{_LEASE} id IN (SELECT id FROM jobs WHERE instance = ? AND due <= ? ORDER BY due, id LIMIT ?) "
                f"RETURNING {JOB_COLUMNS}", (until, until, instance, now, limit)).fetchall()
        else:  # the earliest due of every instance's earliest due (the index is per instance)
            due = sorted(row for (name,) in conn.execute(_INSTANCES).fetchall() for row in conn.execute(
                "SELECT due, id FROM jobs WHERE instance = ? AND due <= ? ORDER BY due, id LIMIT ?", (name, now, limit)))
            ids = [job_id for _, job_id in due[:limit]]
            rows = [row for chunk in _chunks(ids) for row in conn.execute(
                f"{_LEASE} id IN ({','.join('?' * len(chunk))}) RETURNING {JOB_COLUMNS}", (until, until, *chunk))]
        event = self._kept.event
        jobs = [job_from_row(r, event) for r in rows]
        jobs.sort(key=lambda j: (j.available_at, j.id))
        return jobs

    def ack(self, job_id: int) -> bool:
        """Remove the job; False when it no longer exists (acked already, or dead-lettered)."""
        with self._tx() as conn:
            return conn.execute("DELETE FROM jobs WHERE id = ?", (job_id,)).rowcount > 0

    def ack_many(self, job_ids: Iterable[int]) -> int:
        """Remove several jobs in one transaction; how many existed."""
        ids = list(job_ids)
        if not ids:
            return 0
        with self._tx() as conn:
            return self._delete(conn, ids)

    @staticmethod
    def _delete(conn: sqlite3.Connection, ids: list[int]) -> int:
        done = 0
        for chunk in _chunks(ids):
            done += conn.execute(f"DELETE FROM jobs WHERE id IN ({','.join('?' * len(chunk))})", chunk).rowcount
        return done

    def ack_and_lease(self, job_ids: Iterable[int], limit: int, lease_seconds: float, *,
                      instance: str | None = None) -> list[Job]:
        """`ack_many` and `lease` in one transaction (nothing to do: no transaction)."""
        ids = list(job_ids)
        if not ids and limit <= 0:
            return []
        with self._tx() as conn:
            if ids:
                self._delete(conn, ids)
            return self._lease(conn, limit, lease_seconds, instance) if limit > 0 else []

    def release(self, jobs: Iterable[Job]) -> int:
        leases = [(job.id, job.leased_until) for job in jobs if job.leased_until is not None]
        if not leases:
            return 0
        with self._tx() as conn:
            return sum(conn.execute("UPDATE jobs SET leased_until = NULL, due = available_at "
                                    "WHERE id = ? AND leased_until = ?", lease).rowcount for lease in leases)

    def renew(self, jobs: Iterable[Job], lease_seconds: float) -> list[Job]:
        leases = [job for job in jobs if job.leased_until is not None]
        if not leases:
            return []
        until = self.clock() + lease_seconds
        renewed: list[Job] = []
        with self._tx() as conn:
            for job in leases:
                if conn.execute("UPDATE jobs SET leased_until = ?, due = ? WHERE id = ? AND leased_until = ?",
                                (until, until, job.id, job.leased_until)).rowcount:
                    renewed.append(dataclasses.replace(job, leased_until=until))
        return renewed

    def retry(self, job_id: int, delay: float, verdict: dict[str, Any]) -> bool:
        """Back in the queue after `delay` seconds; False when the job no longer exists."""
        at = self.clock() + max(0.0, delay)
        with self._tx() as conn:
            cur = conn.execute("UPDATE jobs SET attempts = attempts + 1, available_at = ?, due = ?, leased_until = NULL, "
                               "last_verdict = ? WHERE id = ?", (at, at, orjson.dumps(verdict), job_id))
            return cur.rowcount > 0

    def dead_letter(self, job_id: int, verdict: dict[str, Any]) -> bool:
        """Move the job to the dead letters (attempts counts this last one); False when it no longer exists."""
        now = self.clock()
        with self._tx() as conn:
            cur = conn.execute(
                "INSERT INTO dead (job_id, instance, message_id, event, attempts, reason, verdict, enqueued_at, failed_at) "
                "SELECT id, instance, message_id, event, attempts + 1, ?, ?, enqueued_at, ? FROM jobs WHERE id = ?",
                (verdict_reason(verdict), orjson.dumps(verdict), now, job_id))
            if cur.rowcount == 0:
                return False
            conn.execute("DELETE FROM jobs WHERE id = ?", (job_id,))
            return True

    def check_writable(self) -> None:
        """Raise `QueueError` when a write transaction cannot be started (read-only folder or file, locked)."""
        for path in (self.dir, self.file):
            if path.exists() and not os.access(path, os.W_OK):
                raise QueueError(f"{path} is not writable by this user; fix its permissions or set queue.path")
        try:
            with self._lock:
                if self._conn is None:
                    raise QueueError(f"{self.file}: the queue is closed")
                self._conn.execute("BEGIN IMMEDIATE")
                self._conn.execute("ROLLBACK")
        except sqlite3.Error as exc:
            raise QueueError(f"{self.file} cannot be written: {exc}") from None

    def depth(self) -> dict[str, int]:
        with self._read() as conn:
            return dict(conn.execute("SELECT instance, count(*) FROM jobs GROUP BY instance ORDER BY instance").fetchall())

    def next_due(self) -> float | None:
        """When the earliest job becomes due (now or in the past when one is ready); None when empty."""
        with self._read() as conn:
            row = conn.execute(f"SELECT min((SELECT min(due) FROM jobs WHERE instance = i)) FROM ({_INSTANCES})").fetchone()
        return row[0]


class SQLiteDeadLetters(SQLDeadLetters):
    MARK = "?"
    CONTAINS = "instr(lower(reason), lower(?)) > 0"

    def __init__(self, queue: SQLiteQueue) -> None:
        self._q = queue

    def _read(self) -> AbstractContextManager[sqlite3.Connection]:
        return self._q._read()

    def _ids_clause(self, ids: list[int]) -> tuple[str, list[Any]]:
        return (f"id IN ({','.join('?' * len(ids))})" if ids else "0"), list(ids)

    def _ids(self, conn: sqlite3.Connection, ids: Iterable[int] | None, instance: str | None, reason: str | None,
             since: TimeLike | None, until: TimeLike | None) -> list[int]:
        id_list = None if ids is None else [int(i) for i in ids]
        if id_list is not None and len(id_list) > _CHUNK:
            return [i for chunk in _chunks(id_list) for i in self._ids(conn, chunk, instance, reason, since, until)]
        where, params = self._where(id_list, instance, reason, since, until)
        return [r[0] for r in conn.execute(f"SELECT id FROM dead{where} ORDER BY id", params)]

    def replay(self, ids: Iterable[int] | None = None, *, instance: str | None = None, reason: str | None = None,
               since: TimeLike | None = None, until: TimeLike | None = None) -> int:
        now = self._q.clock()
        with self._q._tx("FULL") as conn:
            found = self._ids(conn, ids, instance, reason, since, until)
            for chunk in _chunks(found):
                marks = ",".join("?" * len(chunk))
                conn.execute(
                    "INSERT INTO jobs (instance, message_id, event, attempts, enqueued_at, available_at, due, last_verdict) "
                    f"SELECT instance, message_id, event, 0, ?, ?, ?, verdict FROM dead WHERE id IN ({marks}) ORDER BY id",
                    (now, now, now, *chunk))
                conn.execute(f"DELETE FROM dead WHERE id IN ({marks})", chunk)
        return len(found)

    def purge(self, ids: Iterable[int] | None = None, *, instance: str | None = None, reason: str | None = None,
              since: TimeLike | None = None, until: TimeLike | None = None) -> int:
        with self._q._tx() as conn:
            found = self._ids(conn, ids, instance, reason, since, until)
            for chunk in _chunks(found):
                conn.execute(f"DELETE FROM dead WHERE id IN ({','.join('?' * len(chunk))})", chunk)
        return len(found)
