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
    QueueError,
    QueueLocked,
    as_epoch,
    verdict_reason,
)
from engine.queue.sqlite import SQLiteQueue


def open_queue(path: str | Path, **options: Any) -> JobQueue:
    """The queue stored under the data directory `path` (the embedded SQLite queue for now)."""
    return SQLiteQueue(path, **options)


__all__ = [
    "DEFAULT_DEDUP_WINDOW",
    "DeadLetter",
    "DeadLetterStore",
    "Event",
    "Job",
    "JobQueue",
    "QueueError",
    "QueueLocked",
    "SQLiteQueue",
    "as_epoch",
    "open_queue",
    "verdict_reason",
]
