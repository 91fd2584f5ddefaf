"""The messageIds accepted lately, in memory: the unmerged tail of the SQLite queue's accept log (`seen_log`).

Deduplication used to write every accepted messageId into the `seen` table's B-tree at once. The ids are random,
so each one landed on its own leaf page, and every enqueue transaction wrote about one 4 KB page per event into the
write-ahead log (most of the log's volume, rewritten at every commit), and held the write lock meanwhile: taking it
out alone made `engine serve --workers 2` deliver about a quarter faster (docs/performance.md).

Now an enqueue appends one row to `seen_log` (the batch's new ids, in order of arrival: a sequential write of a few
dozen bytes per id) and the ids move into `seen` later, in bulk and in key order (`SQLiteQueue.merge_seen`, once a
second with the checkpoint), where a page receives every id of the second that falls on it at once. Until they
move, this structure answers for them: each process reads the rows the others appended since its last look, inside
its own write transaction (so nothing committed is missed), and forgets rows once they are merged (their rowids fall
below the log's smallest). The log's rowids only grow (AUTOINCREMENT), so "since its last look" is a rowid.

An id is a duplicate when its last acceptance, here or in `seen`, is within the window; exactly as before.
"""

from __future__ import annotations

import collections
import sqlite3
import threading

import orjson


class RecentIds:
    """messageId -> (accepted at, log rowid) for the log rows not yet merged; shared by a queue and its `nowait()`
    handle (their transactions are serialised by SQLite's write lock; the lock here guards the structure itself)."""

    def __init__(self) -> None:
        self._ids: dict[str, tuple[float, int]] = {}
        self._rows: collections.deque[tuple[int, list[str]]] = collections.deque()  # in rowid order
        self.last_rowid = 0  # the log rows up to this one are known here (or merged)
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._ids)

    def refresh(self, conn: sqlite3.Connection) -> None:
        """Inside a write transaction: forget what was merged since, learn what other connections appended."""
        low = conn.execute("SELECT min(rowid) FROM seen_log").fetchone()[0]
        rows = conn.execute("SELECT rowid, accepted_at, ids FROM seen_log WHERE rowid > ? ORDER BY rowid",
                            (self.last_rowid,)).fetchall()
        with self._lock:
            self._forget(self.last_rowid if low is None else low - 1)
            for rowid, at, ids in rows:
                self._add(int(rowid), float(at), orjson.loads(ids))

    def accepted_within(self, message_id: str, cutoff: float) -> bool:
        """Whether `message_id` was accepted at `cutoff` or later, as far as the unmerged log knows."""
        entry = self._ids.get(message_id)
        return entry is not None and entry[0] >= cutoff

    def add(self, rowid: int, at: float, ids: list[str]) -> None:
        """The ids of a log row this process committed (after the commit: a rolled-back row is never known)."""
        with self._lock:
            self._add(rowid, at, ids)

    def merged(self, upto: int) -> None:
        """The log rows up to `upto` are in `seen` now (committed): forget them."""
        with self._lock:
            self._forget(upto)

    def _add(self, rowid: int, at: float, ids: list[str]) -> None:
        if rowid <= self.last_rowid:
            return  # known already: read by a refresh of the other connection, or merged
        for mid in ids:
            self._ids[mid] = (at, rowid)
        self._rows.append((rowid, ids))
        self.last_rowid = rowid

    def _forget(self, upto: int) -> None:
        rows, known = self._rows, self._ids
        while rows and rows[0][0] <= upto:
            rowid, ids = rows.popleft()
            for mid in ids:
                entry = known.get(mid)
                if entry is not None and entry[1] == rowid:
                    del known[mid]
        self.last_rowid = max(self.last_rowid, upto)
