"""The shared queue: PostgreSQL, for several `engine serve` nodes on one durable database.

Same semantics as `SQLiteQueue` (see docs/runner.md): one job per (event, instance), every `enqueue`
one transaction committed before it returns; leases taken with `FOR UPDATE SKIP LOCKED`, so nodes
never hand out the same job at once and never wait for each other; the messageId dedup window is a
table (`seen`) written with `INSERT ... ON CONFLICT`, so two nodes accepting the same messageId at the
same moment create one job; dead letters in a table with every `engine dlq` filter in SQL.

Durability. `durability: full` (default): the commits that make a promise (`enqueue`, `replay`) run
with the server's `synchronous_commit` (on: flushed, and with `synchronous_standby_names` also on a
standby, before they return); bookkeeping (`lease`, `ack`, `retry`, `dead_letter`, `renew`, `purge`)
runs with `synchronous_commit = off`: a server crash can undo the last of those, which only means a job
is delivered again. `durability: normal` runs everything with `synchronous_commit = off`.

Connections. A small psycopg pool (threads of one process share it). When the server goes away, the
calls fail with `QueueUnavailable` (a sentence naming the DSN without its password) after `timeout`
seconds at most; the pool reconnects in the background with exponential backoff.

Schema. Versioned (table `engine_schema`): created and upgraded when the queue opens (or by
`engine queue migrate`), under an advisory lock so that nodes starting together do it once; a schema
newer than this engine is refused with `QueueSchemaError`. Version 2 adds `tokens` (OAuth2 access tokens,
the `TokenStore` of engine/queue/tokens.py, so every node of an instance shares one token). `schema=NAME` keeps the tables in that
PostgreSQL schema (created if needed), e.g. one per environment or per test.

Retention. Delivered jobs are deleted when acked (one statement per worker round). Expired dedup rows
are deleted by a background thread in batches of `prune_batch` rows, each its own short transaction.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import replace
from typing import Any, Literal

import orjson

from engine.queue.base import (
    DEFAULT_DEDUP_WINDOW,
    JOB_COLUMNS,
    Event,
    Job,
    JobQueue,
    QueueError,
    TimeLike,
    job_from_row,
    verdict_reason,
)
from engine.queue.deadsql import SQLDeadLetters
from engine.queue.kept import KeptEvents, jobs_left

SCHEMA_VERSION = 2
PRUNE_EVERY = 60.0  # seconds between clean-ups of expired messageIds
PRUNE_BATCH = 1000  # rows per clean-up transaction

# MIGRATIONS[n] brings a schema at version n to version n + 1.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE jobs (
        id BIGSERIAL PRIMARY KEY,
        instance TEXT NOT NULL,
        message_id TEXT,
        event BYTEA NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        orphaned INTEGER NOT NULL DEFAULT 0,
        enqueued_at DOUBLE PRECISION NOT NULL,
        available_at DOUBLE PRECISION NOT NULL,
        leased_until DOUBLE PRECISION,
        due DOUBLE PRECISION NOT NULL,      -- available_at when waiting, leased_until when leased
        last_verdict BYTEA
    );
    CREATE INDEX jobs_due ON jobs (due, id);
    CREATE INDEX jobs_instance_due ON jobs (instance, due, id);
    CREATE TABLE seen (
        message_id TEXT PRIMARY KEY,
        accepted_at DOUBLE PRECISION NOT NULL
    );
    CREATE INDEX seen_time ON seen (accepted_at);
    CREATE TABLE dead (
        id BIGSERIAL PRIMARY KEY,
        job_id BIGINT NOT NULL,
        instance TEXT NOT NULL,
        message_id TEXT,
        event BYTEA NOT NULL,
        attempts INTEGER NOT NULL,
        reason TEXT NOT NULL,
        verdict BYTEA NOT NULL,
        enqueued_at DOUBLE PRECISION NOT NULL,
        failed_at DOUBLE PRECISION NOT NULL
    );
    CREATE INDEX dead_time ON dead (failed_at, id);
    CREATE INDEX dead_instance ON dead (instance, failed_at);
    """,
    # 2: OAuth2 access tokens (engine.queue.tokens.TokenStore), shared by every node of an instance
    """
    CREATE TABLE tokens (
        key TEXT PRIMARY KEY,
        token TEXT NOT NULL,
        expires_at DOUBLE PRECISION NOT NULL
    );
    """,
]
assert len(MIGRATIONS) == SCHEMA_VERSION

_LOCK_KEY = 0x656E67696E65  # pg_advisory_xact_lock key for migrations ("engine")
_RETURNING_JOBS = "RETURNING " + ", ".join(f"jobs.{c.strip()}" for c in JOB_COLUMNS.split(","))  # for `_lease`

_URL_PASSWORD = re.compile(r"(?P<head>^[a-z][a-z0-9+.-]*://[^:/?#@]*:)(?P<pw>[^@/?#]*)(?P<at>@)", re.I)
_PARAM_PASSWORD = re.compile(r"(?P<head>(?:^|[\s&?])password\s*=\s*)(?P<pw>'(?:[^'\\]|\\.)*'|[^\s&]+)", re.I)


def mask_dsn(dsn: str) -> str:
    """The DSN with its password (URL user:password@, ?password=, or password=... key) as ****."""
    out = _URL_PASSWORD.sub(lambda m: m.group("head") + ("****" if m.group("pw") else "") + m.group("at"), dsn)
    return _PARAM_PASSWORD.sub(lambda m: m.group("head") + "****", out)


def dsn_password(dsn: str) -> str | None:
    """The password a DSN carries, if any (so that messages can mask it wherever it appears)."""
    try:
        from psycopg.conninfo import conninfo_to_dict

        value = conninfo_to_dict(dsn).get("password")
    except Exception:
        match = _URL_PASSWORD.search(dsn) or _PARAM_PASSWORD.search(dsn)
        value = match.group("pw") if match else None
    return str(value) if value else None


class QueueUnavailable(QueueError):
    """The database cannot be reached (or went away): one sentence, the DSN without its password."""


class QueueSchemaError(QueueError):
    """The database holds a queue schema this engine cannot use (newer than the engine)."""


def check_postgres(dsn: str, schema: str | None = None, timeout: float = 5.0) -> str | None:
    """Why the PostgreSQL queue at `dsn` could not be used now (one sentence, password masked), or None.
    Creates nothing: connects, reads the schema version and checks that this user may write there."""
    import psycopg

    queue = PostgresQueue.__new__(PostgresQueue)
    queue._psycopg, queue.dsn, queue.shown_dsn, queue._password = psycopg, dsn, mask_dsn(dsn), dsn_password(dsn)
    queue.schema, queue.timeout = schema, timeout
    try:
        conn = psycopg.connect(dsn, connect_timeout=max(1, int(timeout)), autocommit=True)
    except psycopg.Error as exc:
        return str(queue._unavailable(exc))
    try:
        if schema:
            row = conn.execute("SELECT has_schema_privilege(current_user, %s, 'USAGE') "
                               "FROM pg_namespace WHERE nspname = %s", (schema, schema)).fetchone()
            if row is None:
                ok = conn.execute("SELECT has_database_privilege(current_user, current_database(), 'CREATE')"
                                  ).fetchone()[0]
                return None if ok else f"schema {schema} does not exist and this user may not create it"
            from psycopg import sql

            conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
        queue._check_version(conn)
    except QueueError as exc:
        return str(exc)
    except psycopg.Error as exc:
        return str(queue._unavailable(exc))
    finally:
        conn.close()
    return None


class PostgresQueue(JobQueue):
    """`JobQueue` on PostgreSQL at `dsn` (psycopg 3); `schema` keeps the tables in that schema."""

    def __init__(self, dsn: str, *, schema: str | None = None, clock: Callable[[], float] = time.time,
                 dedup_window: float = DEFAULT_DEDUP_WINDOW, durability: Literal["full", "normal"] = "full",
                 timeout: float = 5.0, pool_size: int = 8, migrate: bool = True, maintenance: bool = True,
                 prune_every: float = PRUNE_EVERY, prune_batch: int = PRUNE_BATCH, owner: bool = False) -> None:
        # `owner` (SQLite's single-owner lock) does not apply: any number of nodes share this queue, and a
        # node that dies leaves its leases to expire (the others take its jobs within one lease).
        if durability not in ("full", "normal"):
            raise ValueError(f"durability must be 'full' or 'normal', not {durability!r}")
        import psycopg
        from psycopg import sql
        from psycopg_pool import ConnectionPool

        self._psycopg = psycopg
        self.dsn = dsn
        self.shown_dsn = mask_dsn(dsn)
        self._password = dsn_password(dsn)
        self.schema = schema
        self.clock = clock
        self.dedup_window = float(dedup_window)
        self.durability = durability
        self.timeout = float(timeout)
        self.prune_every = float(prune_every)
        self.prune_batch = int(prune_batch)
        self._last_prune = float("-inf")
        self._kept = KeptEvents()  # the events this node stored lately, for its own leases (queue/kept.py)
        self._search_path = sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)) if schema else None
        self._closed = False
        self._stop = threading.Event()
        with self._connect() as conn:  # a clear error now if the server is not there, and the schema
            self.schema_version = self._migrate(conn) if migrate else self._check_version(conn)
        self._pool = ConnectionPool(dsn, min_size=1, max_size=max(1, pool_size), timeout=self.timeout,
                                    kwargs={"connect_timeout": max(1, int(self.timeout))},
                                    configure=self._configure, reconnect_timeout=3600.0, open=True,
                                    name="engine-queue")
        self.dlq: PostgresDeadLetters = PostgresDeadLetters(self)
        self._maintainer: threading.Thread | None = None
        if maintenance:
            self._maintainer = threading.Thread(target=self._maintain, name="engine-queue-retention", daemon=True)
            self._maintainer.start()

    def __repr__(self) -> str:
        return f"PostgresQueue({self.shown_dsn!r}" + (f", schema={self.schema!r})" if self.schema else ")")

    # -- plumbing -----------------------------------------------------------------------------

    def _mask(self, text: str) -> str:
        text = mask_dsn(text)
        return text.replace(self._password, "****") if self._password else text

    def _unavailable(self, exc: BaseException) -> QueueUnavailable:
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        reason = lines[0] if lines else type(exc).__name__  # psycopg's first line; the rest is advice
        return QueueUnavailable(self._mask(f"the PostgreSQL queue at {self.shown_dsn} is unavailable: {reason}"))

    @contextmanager
    def _connect(self) -> Iterator[Any]:
        """One connection of its own (start-up, migrations), closed afterwards."""
        try:
            conn = self._psycopg.connect(self.dsn, connect_timeout=max(1, int(self.timeout)), autocommit=True)
        except self._psycopg.Error as exc:
            raise self._unavailable(exc) from None
        try:
            if self._search_path is not None:
                from psycopg import sql

                conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(self.schema)))
                conn.execute(self._search_path)
            yield conn
        except self._psycopg.OperationalError as exc:
            raise self._unavailable(exc) from None
        finally:
            conn.close()

    def _configure(self, conn: Any) -> None:
        if self._search_path is not None:
            conn.execute(self._search_path)
        conn.execute("SET synchronous_commit = off")  # bookkeeping; promises set it back to the server's own
        conn.commit()

    @contextmanager
    def _tx(self, promise: bool = False) -> Iterator[Any]:
        """One transaction on a pooled connection; committed when the block ends without an error."""
        if self._closed:
            raise RuntimeError("the queue is closed")
        psycopg = self._psycopg
        from psycopg_pool import PoolTimeout

        try:
            with self._pool.connection() as conn:
                with conn.transaction():
                    if promise and self.durability == "full":
                        conn.execute("SET LOCAL synchronous_commit TO DEFAULT")  # the server's (on, or a standby's)
                    yield conn
        except PoolTimeout as exc:
            raise self._unavailable(exc) from None
        except psycopg.OperationalError as exc:
            raise self._unavailable(exc) from None

    def _check_version(self, conn: Any) -> int:
        row = conn.execute("SELECT to_regclass('engine_schema') IS NOT NULL").fetchone()
        version = conn.execute("SELECT max(version) FROM engine_schema").fetchone()[0] if row[0] else 0
        version = int(version or 0)
        if version > SCHEMA_VERSION:
            where = f"{self.shown_dsn}" + (f" (schema {self.schema})" if self.schema else "")
            raise QueueSchemaError(f"the queue in {where} has schema version {version}, newer than this engine's "
                                   f"{SCHEMA_VERSION}; upgrade the engine (or point queue.dsn at another database)")
        return version

    def _migrate(self, conn: Any) -> int:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
            conn.execute("CREATE TABLE IF NOT EXISTS engine_schema (version INTEGER PRIMARY KEY, "
                         "applied_at TIMESTAMPTZ NOT NULL DEFAULT now())")
            version = self._check_version(conn)
            for target in range(version, SCHEMA_VERSION):
                conn.execute(MIGRATIONS[target])
                conn.execute("INSERT INTO engine_schema (version) VALUES (%s)", (target + 1,))
        return SCHEMA_VERSION

    def migrate(self) -> tuple[int, int]:
        """Bring the schema to this engine's version: (version before, version after)."""
        with self._connect() as conn:
            before = self._check_version(conn)
            return before, self._migrate(conn)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._stop.set()
            if self._maintainer is not None:
                self._maintainer.join(5)
            self._pool.close()

    # -- retention ----------------------------------------------------------------------------

    def _maintain(self) -> None:
        while not self._stop.wait(min(self.prune_every, 5.0)):
            if self.clock() - self._last_prune < self.prune_every:
                continue
            try:
                self.prune()
            except Exception:  # noqa: S110 - unreachable now: the next round tries again
                pass

    def prune(self, max_batches: int | None = None) -> int:
        """Delete messageIds accepted before the dedup window, `prune_batch` rows per transaction (no long
        locks: rows another transaction holds are skipped); how many were deleted."""
        cutoff = self.clock() - self.dedup_window
        self._last_prune = self.clock()
        done = batches = 0
        while not self._stop.is_set() and (max_batches is None or batches < max_batches):
            with self._tx() as conn:
                cur = conn.execute("DELETE FROM seen WHERE message_id IN (SELECT message_id FROM seen "
                                   "WHERE accepted_at < %s LIMIT %s FOR UPDATE SKIP LOCKED)",
                                   (cutoff, self.prune_batch))
                removed = cur.rowcount
            done += removed
            batches += 1
            if removed < self.prune_batch:
                break
        return done

    # -- JobQueue -----------------------------------------------------------------------------

    def enqueue(self, events: list[Event], destinations: list[str]) -> int:
        return self.enqueue_taking(events, destinations, {}, 0.0)[0]

    def enqueue_taking(self, events: list[Event], destinations: list[str], take: Mapping[str, int],
                       lease_seconds: float, *, encoded: list[bytes] | None = None) -> tuple[int, dict[str, list[Job]]]:
        now = self.clock()
        mids: list[str | None] = []
        blobs: list[bytes] = []
        ids_in_batch: set[str] = set()
        kept: list[Event] = []
        for k, event in enumerate(events):
            mid = event.get("messageId")
            mid = mid if isinstance(mid, str) and mid else None
            if mid is not None:
                if mid in ids_in_batch:
                    continue
                ids_in_batch.add(mid)
            mids.append(mid)
            blobs.append(encoded[k] if encoded is not None else orjson.dumps(event))
            kept.append(event)
        if not blobs or not destinations:
            return 0, {}
        with self._tx(promise=True) as conn:
            fresh_ids: set[str] = set()
            if ids_in_batch:
                # new messageIds are inserted, expired ones refreshed; both come back. A concurrent
                # transaction inserting the same id waits for ours and then finds it (no second job).
                rows = conn.execute(
                    "INSERT INTO seen (message_id, accepted_at) SELECT m, %s FROM unnest(%s::text[]) AS m "
                    "ON CONFLICT (message_id) DO UPDATE SET accepted_at = EXCLUDED.accepted_at "
                    "WHERE seen.accepted_at < %s RETURNING message_id",
                    (now, sorted(ids_in_batch), now - self.dedup_window)).fetchall()
                fresh_ids = {r[0] for r in rows}
            keep = [i for i, mid in enumerate(mids) if mid is None or mid in fresh_ids]
            if not keep:
                return 0, {}
            rooms = {d: take.get(d, 0) for d in destinations} if lease_seconds > 0 else {}
            new_mids, new_blobs, new_events = [mids[i] for i in keep], [blobs[i] for i in keep], [kept[i] for i in keep]
            if any(rooms.values()):  # some created leased, returned with their ids
                result = self._insert_taking(conn, now, now + lease_seconds, new_mids, new_blobs, new_events,
                                             destinations, rooms)
                left = jobs_left(len(new_mids), (max(0, rooms.get(d, 0)) for d in destinations))
            else:
                cur = conn.execute(
                    "INSERT INTO jobs (instance, message_id, event, attempts, enqueued_at, available_at, due) "
                    "SELECT d.instance, e.mid, e.event, 0, %s, %s, %s "
                    "FROM unnest(%s::text[], %s::bytea[]) WITH ORDINALITY AS e(mid, event, n) "
                    "CROSS JOIN unnest(%s::text[]) WITH ORDINALITY AS d(instance, k) ORDER BY e.n, d.k",
                    (now, now, now, new_mids, new_blobs, list(destinations)))
                result = cur.rowcount, {}
                left = [len(destinations)] * len(new_mids)
        self._kept.keep(zip(new_mids, new_blobs, new_events, left, strict=True))  # committed: kept for the leases
        return result

    @staticmethod
    def _insert_taking(conn: Any, now: float, until: float, mids: list[str | None], blobs: list[bytes],
                       events: list[Event], destinations: list[str],
                       rooms: dict[str, int]) -> tuple[int, dict[str, list[Job]]]:
        """The jobs of (event, destination), the first `rooms[d]` of destination d's created leased until `until`
        (one insert each, in one pipelined round trip, for their ids), the others in one insert."""
        split = {d: min(max(0, rooms.get(d, 0)), len(mids)) for d in destinations}  # the first `split[d]` taken
        mine = [(d, n) for d in destinations for n in range(split[d])]
        rest = [(d, n) for d in destinations for n in range(split[d], len(mids))]
        taken: dict[str, list[Job]] = {}
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO jobs (instance, message_id, event, attempts, enqueued_at, available_at, "
                            "leased_until, due) VALUES (%s, %s, %s, 0, %s, %s, %s, %s) RETURNING id",
                            [(d, mids[n], blobs[n], now, now, until, until) for d, n in mine], returning=True)
            for d, n in mine:
                job_id = cur.fetchone()[0]  # type: ignore[index]
                taken.setdefault(d, []).append(Job(id=job_id, instance=d, message_id=mids[n], event=events[n],
                                                   attempts=0, enqueued_at=now, available_at=now, leased_until=until))
                cur.nextset()
        if rest:
            conn.execute(
                "INSERT INTO jobs (instance, message_id, event, attempts, enqueued_at, available_at, due) "
                "SELECT r.instance, r.mid, r.event, 0, %s, %s, %s "
                "FROM unnest(%s::text[], %s::text[], %s::bytea[], %s::int[]) AS r(instance, mid, event, n) "
                "ORDER BY r.n",
                (now, now, now, [d for d, _ in rest], [mids[n] for _, n in rest], [blobs[n] for _, n in rest],
                 list(range(len(rest)))))
        return len(mine) + len(rest), taken

    def lease(self, limit: int, lease_seconds: float, *, instance: str | None = None) -> list[Job]:
        if limit <= 0:
            return []
        with self._tx() as conn:
            return self._lease(conn, limit, lease_seconds, instance)

    def _lease(self, conn: Any, limit: int, lease_seconds: float, instance: str | None) -> list[Job]:
        now = self.clock()
        until = now + lease_seconds
        where, params = "due <= %s", [now]
        if instance is not None:
            where, params = "instance = %s AND due <= %s", [instance, now]
        rows = conn.execute(
            "WITH picked AS (SELECT id FROM jobs WHERE " + where + " ORDER BY due, id LIMIT %s FOR UPDATE SKIP LOCKED) "
            "UPDATE jobs SET orphaned = jobs.orphaned + (jobs.leased_until IS NOT NULL)::int, "
            "leased_until = %s, due = %s FROM picked WHERE jobs.id = picked.id "
            + _RETURNING_JOBS,
            (*params, limit, until, until)).fetchall()
        event = self._kept.event
        jobs = [job_from_row(r, event) for r in rows]
        jobs.sort(key=lambda j: (j.available_at, j.id))
        return jobs

    def renew(self, jobs: Iterable[Job], lease_seconds: float) -> list[Job]:
        """Extend the leases still held as given (same id and leased_until) to now + lease_seconds."""
        given = list(jobs)
        held = [(job.id, job.leased_until) for job in given if job.leased_until is not None]
        if not held:
            return []
        until = self.clock() + lease_seconds
        with self._tx() as conn:
            rows = conn.execute(
                "UPDATE jobs SET leased_until = %s, due = %s FROM unnest(%s::bigint[], %s::float8[]) AS h(id, lu) "
                "WHERE jobs.id = h.id AND jobs.leased_until = h.lu RETURNING jobs.id",
                (until, until, [h[0] for h in held], [h[1] for h in held])).fetchall()
        renewed = {r[0] for r in rows}
        return [replace(job, leased_until=until) for job in given if job.id in renewed]

    def ack(self, job_id: int) -> bool:
        """Remove the job; False when it no longer exists (acked already, or dead-lettered)."""
        return self.ack_many([job_id]) > 0

    def ack_many(self, job_ids: Iterable[int]) -> int:
        ids = [int(i) for i in job_ids]
        if not ids:
            return 0
        with self._tx() as conn:
            return conn.execute("DELETE FROM jobs WHERE id = ANY(%s)", (ids,)).rowcount

    def ack_and_lease(self, job_ids: Iterable[int], limit: int, lease_seconds: float, *,
                      instance: str | None = None) -> list[Job]:
        ids = [int(i) for i in job_ids]
        if not ids and limit <= 0:
            return []
        with self._tx() as conn:
            if ids:
                conn.execute("DELETE FROM jobs WHERE id = ANY(%s)", (ids,))
            return self._lease(conn, limit, lease_seconds, instance) if limit > 0 else []

    def release(self, jobs: Iterable[Job]) -> int:
        held = [(job.id, job.leased_until) for job in jobs if job.leased_until is not None]
        if not held:
            return 0
        with self._tx() as conn:
            return conn.execute(
                "UPDATE jobs SET leased_until = NULL, due = available_at "
                "FROM unnest(%s::bigint[], %s::float8[]) AS h(id, lu) WHERE jobs.id = h.id AND jobs.leased_until = h.lu",
                ([h[0] for h in held], [h[1] for h in held])).rowcount

    def retry(self, job_id: int, delay: float, verdict: dict[str, Any]) -> bool:
        """Back in the queue after `delay` seconds; False when the job no longer exists."""
        at = self.clock() + max(0.0, delay)
        with self._tx() as conn:
            return conn.execute("UPDATE jobs SET attempts = attempts + 1, available_at = %s, due = %s, "
                                "leased_until = NULL, last_verdict = %s WHERE id = %s",
                                (at, at, orjson.dumps(verdict), job_id)).rowcount > 0

    def dead_letter(self, job_id: int, verdict: dict[str, Any]) -> bool:
        """Move the job to the dead letters (attempts counts this last one); False when it no longer exists."""
        now = self.clock()
        with self._tx() as conn:
            return conn.execute(
                "WITH moved AS (DELETE FROM jobs WHERE id = %s RETURNING *) "
                "INSERT INTO dead (job_id, instance, message_id, event, attempts, reason, verdict, enqueued_at, failed_at) "
                "SELECT id, instance, message_id, event, attempts + 1, %s, %s, enqueued_at, %s FROM moved",
                (job_id, verdict_reason(verdict), orjson.dumps(verdict), now)).rowcount > 0

    def depth(self) -> dict[str, int]:
        with self._tx() as conn:
            return dict(conn.execute("SELECT instance, count(*) FROM jobs GROUP BY instance ORDER BY instance").fetchall())

    def next_due(self) -> float | None:
        """When the earliest job becomes due (now or in the past when one is ready); None when empty."""
        with self._tx() as conn:
            return conn.execute("SELECT min(due) FROM jobs").fetchone()[0]

    # -- OAuth2 tokens (engine.queue.tokens.TokenStore): shared by every node on this database --------

    def get_token(self, key: str) -> tuple[str, float] | None:
        with self._tx() as conn:
            row = conn.execute("SELECT token, expires_at FROM tokens WHERE key = %s", (key,)).fetchone()
        return None if row is None else (str(row[0]), float(row[1]))

    def put_token(self, key: str, token: str, expires_at: float) -> None:
        with self._tx() as conn:
            conn.execute("INSERT INTO tokens (key, token, expires_at) VALUES (%s, %s, %s) "
                         "ON CONFLICT (key) DO UPDATE SET token = excluded.token, expires_at = excluded.expires_at",
                         (key, token, expires_at))


class PostgresDeadLetters(SQLDeadLetters):
    MARK = "%s"
    CONTAINS = "strpos(lower(reason), lower(%s)) > 0"

    def __init__(self, queue: PostgresQueue) -> None:
        self._q = queue

    def _read(self) -> AbstractContextManager[Any]:
        return self._q._tx()

    def _ids_clause(self, ids: list[int]) -> tuple[str, list[Any]]:
        return "id = ANY(%s)", [ids]

    def counts(self) -> dict[str, int]:
        """Dead letters per instance, in one query (the /metrics gauge)."""
        with self._q._tx() as conn:
            return dict(conn.execute("SELECT instance, count(*) FROM dead GROUP BY instance").fetchall())

    def replay(self, ids: Iterable[int] | None = None, *, instance: str | None = None, reason: str | None = None,
               since: TimeLike | None = None, until: TimeLike | None = None) -> int:
        now = self._q.clock()
        where, params = self._where(ids, instance, reason, since, until)
        with self._q._tx(promise=True) as conn:
            return conn.execute(
                f"WITH moved AS (DELETE FROM dead{where} RETURNING *) "
                "INSERT INTO jobs (instance, message_id, event, attempts, enqueued_at, available_at, due, last_verdict) "
                "SELECT instance, message_id, event, 0, %s, %s, %s, verdict FROM moved ORDER BY id",
                (*params, now, now, now)).rowcount

    def purge(self, ids: Iterable[int] | None = None, *, instance: str | None = None, reason: str | None = None,
              since: TimeLike | None = None, until: TimeLike | None = None) -> int:
        where, params = self._where(ids, instance, reason, since, until)
        with self._q._tx() as conn:
            return conn.execute(f"DELETE FROM dead{where}", params).rowcount
