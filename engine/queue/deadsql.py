"""The dead-letter store's reads and filters, shared by the SQL backends (SQLite and PostgreSQL).

Both keep dead letters in one `dead` table of the same columns; they differ only in the parameter mark,
the case-insensitive substring test, how a list of ids is matched and how a read is opened, which each
backend's subclass names. Replay and purge stay in the backends: they move rows in each one's own way.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterable
from contextlib import AbstractContextManager
from typing import Any

import orjson

from engine.queue.base import DeadLetter, DeadLetterStore, TimeLike, as_epoch

DEAD_COLUMNS = "id, job_id, instance, message_id, event, attempts, reason, verdict, enqueued_at, failed_at"


class SQLDeadLetters(DeadLetterStore):
    MARK: str  # the driver's parameter mark: "?" or "%s"
    CONTAINS: str  # SQL true when `reason` holds the parameter, case-insensitively

    @abstractmethod
    def _read(self) -> AbstractContextManager[Any]:
        """A connection (or transaction) to read the `dead` table with."""

    @abstractmethod
    def _ids_clause(self, ids: list[int]) -> tuple[str, list[Any]]:
        """The clause (and its parameters) matching rows whose id is in `ids`."""

    def _where(self, ids: Iterable[int] | None, instance: str | None, reason: str | None, since: TimeLike | None,
               until: TimeLike | None) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        if ids is not None:
            clause, values = self._ids_clause([int(i) for i in ids])
            clauses.append(clause)
            params += values
        mark = self.MARK
        if instance is not None:
            clauses.append(f"instance = {mark}")
            params.append(instance)
        if reason is not None:
            clauses.append(self.CONTAINS)
            params.append(reason)
        if since is not None:
            clauses.append(f"failed_at >= {mark}")
            params.append(as_epoch(since))
        if until is not None:
            clauses.append(f"failed_at < {mark}")
            params.append(as_epoch(until))
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params

    @staticmethod
    def _row(r: tuple[Any, ...]) -> DeadLetter:
        return DeadLetter(id=r[0], job_id=r[1], instance=r[2], message_id=r[3], event=orjson.loads(r[4]),
                          attempts=r[5], reason=r[6], verdict=orjson.loads(r[7]), enqueued_at=r[8], failed_at=r[9])

    def list(self, instance: str | None = None, reason: str | None = None, since: TimeLike | None = None,
             until: TimeLike | None = None, limit: int | None = 100) -> list[DeadLetter]:
        where, params = self._where(None, instance, reason, since, until)
        sql = f"SELECT {DEAD_COLUMNS} FROM dead{where} ORDER BY failed_at, id"
        if limit is not None:
            sql += f" LIMIT {self.MARK}"
            params.append(int(limit))
        with self._read() as conn:
            return [self._row(r) for r in conn.execute(sql, params).fetchall()]

    def get(self, dead_id: int) -> DeadLetter | None:
        with self._read() as conn:
            row = conn.execute(f"SELECT {DEAD_COLUMNS} FROM dead WHERE id = {self.MARK}", (int(dead_id),)).fetchone()
        return self._row(row) if row else None

    def count(self, instance: str | None = None, reason: str | None = None, since: TimeLike | None = None,
              until: TimeLike | None = None) -> int:
        where, params = self._where(None, instance, reason, since, until)
        with self._read() as conn:
            return int(conn.execute(f"SELECT count(*) FROM dead{where}", params).fetchone()[0])
