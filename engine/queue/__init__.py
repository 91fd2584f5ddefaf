"""The runner's durable job queue: the `JobQueue` interface and its embedded SQLite implementation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine.queue.base import (
    DEFAULT_DEDUP_WINDOW,
    DeadLetter,
    DeadLetterStore,
    Event,
    Job,
    JobQueue,
    QueueBusy,
    QueueError,
    QueueLocked,
    as_epoch,
    verdict_reason,
)
from engine.queue.sqlite import SQLiteQueue


def open_queue(path: str | Path | None = None, *, kind: str = "sqlite", dsn: str | None = None,
               **options: Any) -> JobQueue:
    """The queue of `kind`: "sqlite" stored under the data directory `path`, or "postgres" at `dsn`
    (`schema=` keeps its tables in that PostgreSQL schema)."""
    if kind == "postgres":
        if not dsn:
            raise QueueError("queue.kind is postgres but queue.dsn is not set; give a PostgreSQL URL such as "
                             "postgresql://user@host:5432/db")
        from engine.queue.postgres import PostgresQueue

        return PostgresQueue(dsn, **options)
    if kind != "sqlite":
        raise QueueError(f"queue.kind {kind!r} is not known; use sqlite or postgres")
    if path is None:
        raise QueueError("the SQLite queue needs a data folder (queue.path)")
    options.pop("schema", None)
    return SQLiteQueue(path, **options)


__all__ = [
    "DEFAULT_DEDUP_WINDOW",
    "DeadLetter",
    "DeadLetterStore",
    "Event",
    "Job",
    "JobQueue",
    "QueueBusy",
    "QueueError",
    "QueueLocked",
    "SQLiteQueue",
    "as_epoch",
    "open_queue",
    "verdict_reason",
]
