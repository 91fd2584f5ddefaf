from __future__ import annotations

import datetime as dt
import sqlite3
import threading
from pathlib import Path

import orjson
import pytest

from engine.queue import JobQueue, SQLiteQueue, open_queue


class FakeClock:
    """A wall clock the test moves by hand."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def events(n: int, prefix: str = "m") -> list[dict]:
    return [{"type": "track", "event": "E", "messageId": f"{prefix}{i}"} for i in range(n)]


@pytest.fixture
def queue(tmp_path: Path, clock) -> SQLiteQueue:
    q = SQLiteQueue(tmp_path / "data", clock=clock)
    yield q
    q.close()


def test_creates_wal_database_under_data_dir(tmp_path: Path, clock) -> None:
    q = open_queue(tmp_path / "new" / "dir", clock=clock)
    assert isinstance(q, JobQueue)
    db = tmp_path / "new" / "dir" / "queue.db"
    assert db.exists()
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    q.close()


def test_one_job_per_event_and_destination(queue: SQLiteQueue) -> None:
    assert queue.enqueue(events(3), ["a", "b"]) == 6
    assert queue.depth() == {"a": 3, "b": 3}
    jobs = queue.lease(10, 30)
    assert len(jobs) == 6
    assert {(j.instance, j.message_id) for j in jobs} == {(d, f"m{i}") for d in "ab" for i in range(3)}
    assert all(j.attempts == 0 and j.event["event"] == "E" for j in jobs)


def test_lease_ack_removes_jobs(queue: SQLiteQueue) -> None:
    queue.enqueue(events(3), ["a"])
    first = queue.lease(2, 30)
    assert [j.message_id for j in first] == ["m0", "m1"]
    assert [j.message_id for j in queue.lease(10, 30)] == ["m2"]  # leased jobs are not handed out again
    assert queue.lease(10, 30) == []
    for job in first:
        assert queue.ack(job.id) is True
    assert queue.ack(first[0].id) is False
    assert queue.depth() == {"a": 1}


def test_lease_zero_and_per_instance(queue: SQLiteQueue) -> None:
    queue.enqueue(events(2), ["a", "b"])
    assert queue.lease(0, 30) == []
    jobs = queue.lease(10, 30, instance="b")
    assert {j.instance for j in jobs} == {"b"} and len(jobs) == 2


def test_expired_lease_is_delivered_again_after_crash(tmp_path: Path, clock) -> None:
    q = SQLiteQueue(tmp_path, clock=clock)
    q.enqueue(events(2), ["a"])
    leased = q.lease(10, 30)
    q.ack(leased[0].id)
    q.close()  # the process "dies" holding a lease on the second job

    again = SQLiteQueue(tmp_path, clock=clock)
    assert again.lease(10, 30) == []  # lease still running
    clock.advance(31)
    redelivered = again.lease(10, 30)
    assert [j.id for j in redelivered] == [leased[1].id]
    again.close()


def test_ack_and_enqueue_survive_reopen(tmp_path: Path, clock) -> None:
    q = SQLiteQueue(tmp_path, clock=clock)
    q.enqueue(events(5), ["a"])
    for job in q.lease(3, 30):
        q.ack(job.id)
    q.close()
    q2 = SQLiteQueue(tmp_path, clock=clock)
    assert q2.depth() == {"a": 2}
    q2.close()


def test_dedup_window(tmp_path: Path, clock) -> None:
    q = SQLiteQueue(tmp_path, clock=clock, dedup_window=3600)
    assert q.enqueue(events(2), ["a", "b"]) == 4
    clock.advance(3599)
    assert q.enqueue(events(3), ["a", "b"]) == 2  # m0, m1 are a client's retry; m2 is new
    # duplicates inside one batch count once; events without a messageId are never deduplicated
    assert q.enqueue([{"messageId": "x"}, {"messageId": "x"}, {"type": "t"}, {"type": "t"}], ["a"]) == 3
    q.close()
    q = SQLiteQueue(tmp_path, clock=clock, dedup_window=3600)  # remembered across restarts
    assert q.enqueue(events(1), ["a"]) == 0
    clock.advance(3601)  # m2 was accepted 3601 s ago: outside the window, accepted again
    assert q.enqueue(events(3), ["a"]) == 3
    assert q.enqueue(events(3), ["a"]) == 0
    q.close()


def test_dedup_keeps_acked_messages(queue: SQLiteQueue, clock) -> None:
    queue.enqueue(events(1), ["a"])
    for job in queue.lease(10, 30):
        queue.ack(job.id)
    clock.advance(600)
    assert queue.enqueue(events(1), ["a"]) == 0


def test_retry_with_delay(queue: SQLiteQueue, clock) -> None:
    queue.enqueue(events(1), ["a"])
    job = queue.lease(1, 30)[0]
    verdict = {"status": "failed", "reason": "HTTP 503 Service Unavailable"}
    assert queue.retry(job.id, 10, verdict) is True
    assert queue.lease(1, 30) == []
    clock.advance(9.5)
    assert queue.lease(1, 30) == []
    clock.advance(0.5)
    again = queue.lease(1, 30)
    assert len(again) == 1
    assert again[0].id == job.id and again[0].attempts == 1 and again[0].last_verdict == verdict
    assert again[0].available_at == pytest.approx(clock.now)


def test_next_due(queue: SQLiteQueue, clock) -> None:
    assert queue.next_due() is None
    queue.enqueue(events(1), ["a"])
    job = queue.lease(1, 30)[0]
    assert queue.next_due() == pytest.approx(clock.now + 30)
    queue.retry(job.id, 5, {"status": "failed"})
    assert queue.next_due() == pytest.approx(clock.now + 5)


def test_dead_letter_keeps_event_instance_and_verdict(queue: SQLiteQueue, clock) -> None:
    queue.enqueue([{"messageId": "m", "type": "identify", "userId": "u1"}], ["usermotion-prod"])
    job = queue.lease(1, 30)[0]
    queue.retry(job.id, 0, {"status": "failed", "reason": "HTTP 503"})
    job = queue.lease(1, 30)[0]
    verdict = {"status": "failed", "reason": "HTTP 400 Bad Request", "error": "permanent", "response_excerpt": "{\"x\":1}"}
    assert queue.dead_letter(job.id, verdict) is True
    assert queue.dead_letter(job.id, verdict) is False
    assert queue.depth() == {}
    [dead] = queue.dlq.list()
    assert dead.instance == "usermotion-prod" and dead.event["userId"] == "u1" and dead.message_id == "m"
    assert dead.verdict == verdict and dead.reason == "HTTP 400 Bad Request" and dead.attempts == 2
    assert dead.failed_at == pytest.approx(clock.now)
    assert queue.dlq.get(dead.id) == dead
    assert queue.dlq.get(dead.id + 100) is None
    assert dead.to_json()["failed_at"].endswith("Z")


def _dead(queue: SQLiteQueue, clock, specs: list[tuple[str, str]]) -> None:
    """One dead letter per (instance, reason), a minute apart."""
    for i, (instance, reason) in enumerate(specs):
        queue.enqueue([{"messageId": f"{instance}-{i}"}], [instance])
        job = queue.lease(1, 30)[0]
        queue.dead_letter(job.id, {"status": "failed", "reason": reason})
        clock.advance(60)


def test_dead_letter_filters(queue: SQLiteQueue, clock) -> None:
    start = clock.now
    _dead(queue, clock, [("a", "HTTP 400 Bad Request"), ("b", "HTTP 401 Unauthorized"),
                         ("a", "timeout"), ("a", "HTTP 400 Bad Request")])
    assert [d.instance for d in queue.dlq.list()] == ["a", "b", "a", "a"]
    assert len(queue.dlq.list(instance="a")) == 3
    assert [d.reason for d in queue.dlq.list(reason="http 4")] == ["HTTP 400 Bad Request", "HTTP 401 Unauthorized",
                                                                   "HTTP 400 Bad Request"]
    assert len(queue.dlq.list(instance="a", reason="400")) == 2
    assert len(queue.dlq.list(since=start + 60)) == 3
    assert len(queue.dlq.list(until=start + 60)) == 1
    assert len(queue.dlq.list(since=start + 60, until=start + 180)) == 2
    since = dt.datetime.fromtimestamp(start + 120, dt.UTC)
    assert len(queue.dlq.list(since=since)) == 2
    assert len(queue.dlq.list(limit=2)) == 2
    assert queue.dlq.count(instance="a") == 3


def test_replay_by_ids_and_filters(queue: SQLiteQueue, clock) -> None:
    _dead(queue, clock, [("a", "HTTP 400"), ("b", "HTTP 400"), ("a", "timeout")])
    first = queue.dlq.list()[0]
    assert queue.dlq.replay([first.id]) == 1
    jobs = queue.lease(10, 30)
    assert len(jobs) == 1 and jobs[0].instance == "a" and jobs[0].attempts == 0
    assert jobs[0].event == first.event and jobs[0].last_verdict == first.verdict
    assert queue.dlq.replay(reason="400") == 1  # b's
    assert queue.dlq.replay(instance="zzz") == 0
    assert [d.reason for d in queue.dlq.list()] == ["timeout"]
    assert queue.depth() == {"a": 1, "b": 1}


def test_replay_ignores_dedup(queue: SQLiteQueue, clock) -> None:
    _dead(queue, clock, [("a", "HTTP 400")])
    assert queue.dlq.replay() == 1
    assert queue.depth() == {"a": 1}


def test_purge(queue: SQLiteQueue, clock) -> None:
    _dead(queue, clock, [("a", "HTTP 400"), ("b", "HTTP 400"), ("a", "timeout"), ("c", "x")])
    ids = [d.id for d in queue.dlq.list()]
    assert queue.dlq.purge([ids[3]]) == 1
    assert queue.dlq.purge(instance="a", reason="timeout") == 1
    assert queue.dlq.purge([]) == 0
    assert queue.dlq.count() == 2
    assert queue.dlq.purge() == 2
    assert queue.dlq.list() == []
    assert queue.depth() == {}


def test_many_ids_are_chunked(queue: SQLiteQueue, clock) -> None:
    queue.enqueue(events(1200), ["a"])
    jobs = queue.lease(2000, 30)
    for job in jobs:
        queue.dead_letter(job.id, {"status": "failed", "reason": "r"})
    ids = [d.id for d in queue.dlq.list(limit=None)]
    assert len(ids) == 1200
    assert queue.dlq.replay(ids) == 1200
    assert queue.ack_many(j.id for j in queue.lease(2000, 30)) == 1200
    assert queue.depth() == {}


def test_batch_enqueue_dedups_against_large_history(queue: SQLiteQueue) -> None:
    assert queue.enqueue(events(1500), ["a"]) == 1500
    assert queue.enqueue(events(1600), ["a"]) == 100


def test_threads_share_one_queue_without_double_leasing(queue: SQLiteQueue) -> None:
    queue.enqueue(events(400), ["a"])
    got: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        while True:
            jobs = queue.lease(7, 30)
            if not jobs:
                return
            for job in jobs:
                queue.ack(job.id)
            with lock:
                got.extend(j.id for j in jobs)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == 400 and len(set(got)) == 400
    assert queue.depth() == {}


def test_closed_queue_refuses_work(tmp_path: Path) -> None:
    q = SQLiteQueue(tmp_path)
    q.close()
    q.close()
    with pytest.raises(RuntimeError, match="closed"):
        q.enqueue(events(1), ["a"])


def test_durability_option_checked(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="durability"):
        SQLiteQueue(tmp_path, durability="fast")  # type: ignore[arg-type]
    q = SQLiteQueue(tmp_path, durability="normal")
    assert q.enqueue(events(2), ["a"]) == 2
    q.close()


def test_context_manager_closes(tmp_path: Path) -> None:
    with SQLiteQueue(tmp_path) as q:
        q.enqueue(events(1), ["a"])
    with pytest.raises(RuntimeError):
        q.depth()


def test_nowait_handle_works_on_the_same_file_and_follows_the_queue_clock(queue: SQLiteQueue, clock) -> None:
    fast = queue.nowait()
    assert queue.nowait() is fast  # one per queue
    queue.enqueue(events(3), ["a"])
    jobs = fast.ack_and_lease([], 10, 30.0, instance="a")
    assert len(jobs) == 3 and all(j.leased_until == clock.now + 30.0 for j in jobs)
    clock.advance(100.0)  # the handle's clock is the queue's: the leases have now run out
    again = fast.lease(10, 30.0)
    assert len(again) == 3 and all(j.orphaned == 1 for j in again)
    fast.ack_many([j.id for j in again])
    assert queue.depth() == {}


def test_nowait_handle_refuses_at_once_while_another_connection_writes(tmp_path: Path, clock) -> None:
    from engine.queue import QueueBusy

    queue = SQLiteQueue(tmp_path / "data", clock=clock)
    try:
        queue.enqueue(events(2), ["a"])
        [job, _] = queue.lease(2, 30.0)
        other = sqlite3.connect(queue.file, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # holds SQLite's write lock, as an enqueue committing in a thread does
        try:
            with pytest.raises(QueueBusy):
                queue.nowait().ack_many([job.id])
            with pytest.raises(QueueBusy):
                queue.nowait().ack_and_lease([], 5, 30.0)
        finally:
            other.execute("ROLLBACK")
            other.close()
        assert queue.depth() == {"a": 2}  # the refused calls did nothing
        assert queue.nowait().ack_many([job.id]) == 1  # and the handle works again once the lock is free
        assert queue.depth() == {"a": 1}
    finally:
        queue.close()
    assert queue._nowait_handle is None  # closed with the queue


def test_the_nowait_handle_leaves_checkpoints_to_the_queue(tmp_path: Path, clock) -> None:
    """The handle's commits never copy the write-ahead log back (that would pause the event loop on an fsync);
    `checkpoint` does, so the log is reused instead of growing while a backlog is drained through the handle."""
    with SQLiteQueue(tmp_path / "data", clock=clock) as queue:
        queue.enqueue([{**e, "properties": {"text": "x" * 3000}} for e in events(3000)], ["a"])
        queue.checkpoint()
        fast = queue.nowait()
        wal = Path(str(queue.file) + "-wal")

        def drain(n: int) -> None:
            ids: list[int] = []
            for _ in range(n):
                jobs = fast.ack_and_lease(ids, 50, 30.0, instance="a")
                ids = [j.id for j in jobs]
            fast.ack_many(ids)

        drain(20)  # 1,000 jobs leased and acked through the handle
        frames = queue.checkpoint()
        assert frames > 1000  # no automatic checkpoint ran at the handle's commits (SQLite's default is 1,000)
        size = wal.stat().st_size
        drain(20)
        assert queue.checkpoint() > 0 and wal.stat().st_size <= size  # the log was reused from its start
        assert queue.depth() == {"a": 1000}


def test_checkpoints_keep_the_log_bounded_while_commits_never_pause(tmp_path: Path) -> None:
    """Under a steady stream of commits (`engine serve` under load) a checkpoint that only copies what it finds
    never catches up: new frames land while it copies, so the log is never reset and grows without bound (it
    reached 300 MB for 30,000 events). `checkpoint` ends by waiting briefly for a moment with no writer, so the
    next commit starts the log from its beginning again."""
    with SQLiteQueue(tmp_path / "data") as queue:
        fast = queue.nowait()
        wal = Path(str(queue.file) + "-wal")
        stop = threading.Event()
        appended = 0

        def write() -> None:  # enqueue and ack through the handle, as the loop thread does, without a pause
            nonlocal appended
            n = 0
            while not stop.is_set():
                try:
                    _, taken = fast.enqueue_taking(events(20, prefix=f"w{n}-"), ["a"], {"a": 20}, 30.0)
                    fast.ack_many([job.id for jobs in taken.values() for job in jobs])
                except Exception:  # QueueBusy while the checkpoint holds the log: try again
                    continue
                n += 1
            appended = n

        writer = threading.Thread(target=write)
        writer.start()
        held: list[int] = []  # frames the log held at each checkpoint
        try:
            for _ in range(40):
                stop.wait(0.05)
                held.append(queue.checkpoint())
        finally:
            stop.set()
            writer.join()
        held.append(queue.checkpoint())  # the frames written since the last one
        assert appended > 100
        restarts = sum(1 for before, after in zip(held, held[1:], strict=False) if after < before)
        assert restarts >= 10, held  # the log went back to its start again and again (never, without the fix)
        size = wal.stat().st_size
        page = queue._conn.execute("PRAGMA page_size").fetchone()[0]
        assert size <= (max(held) + 1) * (page + 24) + 32  # the file is no larger than the most it held at once


def test_enqueue_taking_hands_over_jobs_created_leased(queue: SQLiteQueue, clock) -> None:
    batch = events(5)
    created, taken = queue.enqueue_taking(batch, ["a", "b"], {"a": 3}, 30.0)
    assert created == 10 and list(taken) == ["a"]
    jobs = taken["a"]
    assert [j.message_id for j in jobs] == ["m0", "m1", "m2"]  # the first ones, up to the room given
    assert all(j.event is e for j, e in zip(jobs, batch, strict=False))  # the very objects: nothing read back
    assert all(j.leased_until == clock.now + 30.0 and j.attempts == 0 and j.orphaned == 0 for j in jobs)
    assert len({j.id for j in jobs}) == 3
    leased = queue.lease(20, 30.0)  # the taken ones are leased: nobody else gets them
    assert sorted((j.instance, j.message_id) for j in leased) == (
        [("a", "m3"), ("a", "m4")] + [("b", f"m{i}") for i in range(5)])
    assert queue.ack_many([j.id for j in jobs]) == 3  # their ids are the rows' ids
    assert queue.depth() == {"a": 2, "b": 5}


def test_a_taken_job_whose_holder_died_is_leased_again(queue: SQLiteQueue, clock) -> None:
    _, taken = queue.enqueue_taking(events(2), ["a"], {"a": 5}, 10.0)
    assert len(taken["a"]) == 2 and queue.lease(5, 10.0) == []
    assert [j.id for j in queue.renew(taken["a"], 10.0)] == [j.id for j in taken["a"]]  # renewed like any lease
    clock.now += 11.0  # the holder stopped renewing: the lease ends
    again = queue.lease(5, 10.0)
    assert [j.event for j in again] == events(2) and all(j.orphaned == 1 for j in again)


def test_enqueue_taking_skips_duplicates_and_stores_the_given_encoding(queue: SQLiteQueue) -> None:
    queue.enqueue(events(1), ["a"])
    batch = events(3)
    encoded = [b'{"type":"track","messageId":"m%d","stored":true}' % i for i in range(3)]
    created, taken = queue.enqueue_taking(batch, ["a"], {"a": 5}, 30.0, encoded=encoded)
    assert created == 2 and [j.message_id for j in taken["a"]] == ["m1", "m2"]  # m0 was accepted before
    queue.ack_many([j.id for j in taken["a"]])
    [first] = queue.lease(5, 30.0)
    assert first.message_id == "m0" and "stored" not in first.event
    queue.release([first])
    with sqlite3.connect(queue.file) as conn:
        stored = [r[0] for r in conn.execute("SELECT event FROM jobs")]
    assert stored == [orjson.dumps(events(1)[0])]


def test_the_default_enqueue_taking_takes_none(tmp_path: Path, clock) -> None:
    class Plain(SQLiteQueue):
        enqueue_taking = JobQueue.enqueue_taking  # the interface's default: enqueue, hand nothing over

        def enqueue(self, events: list[dict], destinations: list[str]) -> int:
            return SQLiteQueue.enqueue_taking(self, events, destinations, {}, 0.0)[0]

    with Plain(tmp_path / "plain", clock=clock) as queue:
        assert queue.enqueue_taking(events(2), ["a"], {"a": 5}, 30.0) == (2, {})
        assert len(queue.lease(5, 30.0)) == 2


def test_enqueue_fsyncs_the_log_after_its_commit_without_holding_the_write_lock(tmp_path: Path, monkeypatch) -> None:
    import os

    import engine.queue.sqlite as sqlite_module

    synced: list[str] = []
    others: list[str] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        other = sqlite3.connect(q.file, isolation_level=None, timeout=0)
        try:
            other.execute("BEGIN IMMEDIATE")  # another writer gets in while the disk is being waited for
            others.append("in")
            other.execute("ROLLBACK")
        finally:
            other.close()
        real_fsync(fd)

    with SQLiteQueue(tmp_path / "data") as q:
        monkeypatch.setattr(sqlite_module.os, "fsync", fsync)
        assert q.enqueue(events(3), ["a"]) == 3
        assert synced == [f"{q.file}-wal"] and others == ["in"]  # synced before it returned, lock already free
        handle = q.nowait()
        synced.clear()
        handle.enqueue_taking(events(2, "n"), ["a"], {}, 0.0)
        assert synced == []  # the loop-thread handle never waits for the disk ...
        q.make_durable()
        assert synced == [f"{q.file}-wal"]  # ... its caller makes the commit durable, in a thread
    with SQLiteQueue(tmp_path / "normal", durability="normal") as q:
        synced.clear()
        q.enqueue(events(1), ["a"])
        q.make_durable()
        assert synced == []  # durability normal: no fsync at all


def test_a_damaged_file_is_described_in_one_line_even_when_sqlite_reports_several(tmp_path: Path) -> None:
    from engine.queue.sqlite import describe_sqlite_error

    findings = sqlite3.DatabaseError("*** in database main ***\nPage 155: btreeInitPage() returns error code 11")
    text = describe_sqlite_error(tmp_path / "queue.db", findings)
    assert "\n" not in text
    assert "is damaged (*** in database main *** Page 155: btreeInitPage() returns error code 11)" in text


def test_due_order_across_instances_without_a_global_index(tmp_path: Path, clock) -> None:
    """Schema 3 keeps one due index, per instance: `lease` without an instance and `next_due` still see every
    instance's jobs in (due, id) order, and a schema 2 file loses its global index when opened."""
    q = SQLiteQueue(tmp_path, clock=clock)
    q._conn.execute("CREATE INDEX jobs_due ON jobs (due, id)")  # as schema 2 had it
    q.close()
    q = SQLiteQueue(tmp_path, clock=clock)
    names = {r[0] for r in q._conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert "jobs_due" not in names and "jobs_instance_due" in names
    assert q.next_due() is None
    q.enqueue([{"messageId": "c0"}], ["c"])
    clock.advance(1)
    q.enqueue([{"messageId": "a0"}, {"messageId": "a1"}], ["a"])
    clock.advance(1)
    q.enqueue([{"messageId": "b0"}], ["b"])
    assert q.next_due() == clock.now - 2
    assert [j.message_id for j in q.lease(3, 30)] == ["c0", "a0", "a1"]
    assert q.next_due() == clock.now  # b0; the leased ones are due when their leases end
    clock.advance(40)
    assert [(j.message_id, j.orphaned) for j in q.lease(10, 30)] == [("c0", 1), ("a0", 1), ("a1", 1), ("b0", 0)]
    q.close()
