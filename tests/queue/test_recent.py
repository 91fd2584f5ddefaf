"""Deduplication through the accept log (`seen_log`, engine.queue.recent) and its merge into `seen`."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from engine.queue import SQLiteQueue
from engine.queue import sqlite as sqlite_module
from engine.queue.recent import RecentIds


class FakeClock:
    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


def events(ids: list[str] | range, prefix: str = "m") -> list[dict]:
    return [{"type": "track", "event": "E", "messageId": f"{prefix}{i}"} for i in ids]


def table(path: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(path / "queue.db") as conn:
        return conn.execute(sql).fetchall()


def test_two_connections_dedup_against_each_other_before_and_after_the_merge(tmp_path: Path) -> None:
    clock = FakeClock()
    one = SQLiteQueue(tmp_path, clock=clock, dedup_window=100)
    two = SQLiteQueue(tmp_path, clock=clock, dedup_window=100)  # another process would hold its own memory
    assert one.enqueue(events(range(5)), ["a"]) == 5
    assert two.enqueue(events(range(3, 8)), ["a"]) == 3  # m3, m4 from the log `one` wrote: m5..m7 are new
    assert table(tmp_path, "SELECT count(*) FROM seen") == [(0,)]  # all of it still in the log
    assert two.merge_seen() == 8
    assert table(tmp_path, "SELECT count(*) FROM seen_log") == [(0,)]
    assert sorted(r[0] for r in table(tmp_path, "SELECT message_id FROM seen")) == [f"m{i}" for i in range(8)]
    # `one` still remembered m0..m4 in memory: it forgets them (merged) and finds all eight in `seen`
    assert one.enqueue(events(range(10)), ["a"]) == 2
    assert len(one._recent) == 2
    one.close()
    two.close()


def test_window_is_exact_in_the_log_and_in_seen(tmp_path: Path) -> None:
    clock = FakeClock()
    q = SQLiteQueue(tmp_path, clock=clock, dedup_window=100)
    q.enqueue(events(["log"]), ["a"])
    q.enqueue(events(["merged"]), ["a"])
    clock.now += 50
    q.merge_seen()  # both into seen, accepted at the start
    q.enqueue(events(["late"]), ["a"])  # stays in the log
    clock.now += 50  # exactly the window since the first two: still duplicates
    assert q.enqueue(events(["log", "merged"]), ["a"]) == 0
    clock.now += 0.5  # just outside: accepted again, the new acceptance starting a new window
    assert q.enqueue(events(["log", "merged", "late"]), ["a"]) == 2
    clock.now += 99
    assert q.enqueue(events(["log", "merged"]), ["a"]) == 0
    q.merge_seen()  # the later acceptance replaces the older one in seen
    assert dict(table(tmp_path, "SELECT message_id, accepted_at FROM seen")) == {
        "mlog": clock.now - 99, "mmerged": clock.now - 99, "mlate": clock.now - 149.5}
    clock.now += 51  # m-late was accepted 200.5 s ago (in seen): new; the others 150 s ago: new too
    assert q.enqueue(events(["log", "merged", "late"]), ["a"]) == 3
    q.close()


def test_a_rolled_back_enqueue_leaves_its_ids_unseen(tmp_path: Path) -> None:
    """The ids become known only once the transaction commits: a failed enqueue (answered 503) is retried by
    its client, and that retry must create the jobs, not be taken for a duplicate."""
    q = SQLiteQueue(tmp_path)
    assert q.enqueue(events(["before"]), ["a"]) == 1  # a committed row stays in the log meanwhile
    with sqlite3.connect(tmp_path / "queue.db") as conn:
        conn.execute("CREATE TRIGGER fail BEFORE INSERT ON jobs WHEN NEW.instance = 'boom' "
                     "BEGIN SELECT RAISE(ABORT, 'disk trouble'); END")
    with pytest.raises(sqlite3.DatabaseError, match="disk trouble"):
        q.enqueue(events(range(3)), ["boom"])
    assert table(tmp_path, "SELECT count(*) FROM seen_log") == [(1,)]
    assert q.enqueue(events(range(3)), ["a"]) == 3
    assert q.depth() == {"a": 4}
    q.close()


def test_memory_stays_bounded_without_checkpoints(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sqlite_module, "MERGE_AT", 250)
    q = SQLiteQueue(tmp_path)
    for k in range(10):
        assert q.enqueue(events(range(k * 100, k * 100 + 100)), ["a"]) == 100
        assert len(q._recent) <= 250
    assert table(tmp_path, "SELECT count(*) FROM seen")[0][0] >= 750
    assert q.enqueue(events(range(1000)), ["a"]) == 0  # wherever each id is now
    q.close()


def test_checkpoint_merges_and_a_restart_reads_the_log(tmp_path: Path) -> None:
    q = SQLiteQueue(tmp_path)
    q.enqueue(events(range(4)), ["a"])
    q.close()
    q = SQLiteQueue(tmp_path)  # a new process: its memory starts empty, the log is read at its first enqueue
    assert q.enqueue(events(range(6)), ["a"]) == 2
    q.checkpoint()
    assert table(tmp_path, "SELECT count(*) FROM seen_log") == [(0,)]
    assert table(tmp_path, "SELECT count(*) FROM seen") == [(6,)]
    assert q.enqueue(events(range(6)), ["a"]) == 0
    q.close()


def test_a_schema_2_file_keeps_its_seen_ids(tmp_path: Path) -> None:
    q = SQLiteQueue(tmp_path)
    q.close()
    with sqlite3.connect(tmp_path / "queue.db") as conn:  # as an engine of schema 2 left it
        conn.execute("DROP TABLE seen_log")
        conn.execute("PRAGMA user_version=2")
        conn.execute("INSERT INTO seen (message_id, accepted_at) VALUES ('mold', ?)", (FakeClock()(),))
    q = SQLiteQueue(tmp_path, clock=FakeClock())
    assert table(tmp_path, "PRAGMA user_version") == [(3,)]
    assert q.enqueue(events(["old", "new"]), ["a"]) == 1
    q.close()


def test_recent_ids_know_a_row_once() -> None:
    recent = RecentIds()
    recent.add(3, 10.0, ["x", "y"])
    recent.add(3, 10.0, ["x", "y"])  # read back by the other connection's refresh first: not twice
    recent.add(5, 20.0, ["x"])  # accepted again later
    assert len(recent) == 2 and recent.accepted_within("x", 15.0) and not recent.accepted_within("y", 15.0)
    recent.merged(3)  # the first row moved into seen; x's later acceptance is still only here
    assert len(recent) == 1 and recent.accepted_within("x", 20.0)
    recent.merged(5)
    assert len(recent) == 0 and recent.last_rowid == 5


@contextmanager
def write_lock_held(path: Path) -> Iterator[None]:
    """Another connection holds SQLite's write lock on the queue file for the duration."""
    writer = sqlite3.connect(path / "queue.db", isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        writer.execute("ROLLBACK")
        writer.close()


def test_merge_with_an_empty_log_takes_no_write_lock(tmp_path: Path) -> None:
    """An idle server checkpoints once a second: with nothing to merge it must not queue for the write lock (a
    `nowait()` handle would raise QueueBusy while another process writes, a blocking connection would wait)."""
    q = SQLiteQueue(tmp_path, dedup_window=100)
    q.enqueue(events(range(3)), ["a"])
    handle = q.nowait()
    assert handle.merge_seen() == 3  # the log had ids: merged through a write transaction
    with write_lock_held(tmp_path):
        assert handle.merge_seen() == 0  # nothing in the log: no transaction, so no QueueBusy
    q.enqueue(events(["new"]), ["a"])
    with write_lock_held(tmp_path), pytest.raises(sqlite_module.QueueBusy):
        handle.merge_seen()  # with ids waiting the merge needs the lock, and says so instead of waiting
    assert handle.merge_seen() == 1
    q.close()
