"""Lease renewal (the worker's heartbeat) and orphaned leases (the holder died mid-delivery)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from engine.queue import SQLiteQueue


class FakeClock:
    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def events(n: int) -> list[dict]:
    return [{"type": "track", "event": "E", "messageId": f"m{i}"} for i in range(n)]


def test_renewed_job_is_not_leased_by_another_before_its_new_expiry(tmp_path: Path, clock) -> None:
    q = SQLiteQueue(tmp_path, clock=clock)
    other = SQLiteQueue(tmp_path, clock=clock)  # another caller on the same file
    q.enqueue(events(2), ["a"])
    jobs = q.lease(10, 30)
    assert len(jobs) == 2
    clock.advance(25)
    renewed = q.renew(jobs, 30)
    assert [j.id for j in renewed] == [j.id for j in jobs]
    assert all(j.leased_until == clock.now + 30 for j in renewed)
    clock.advance(10)  # 35 s after the first lease: expired without the renewal
    assert other.lease(10, 30) == []
    clock.advance(19)  # 54 s: still within the renewed lease (until 55)
    assert other.lease(10, 30) == []
    again = q.renew(renewed, 30)  # a second heartbeat renews from the renewed leases
    assert len(again) == 2
    clock.advance(31)
    assert {j.id for j in other.lease(10, 30)} == {j.id for j in jobs}  # the renewals stopped: leased again
    q.close()
    other.close()


def test_stale_renew_is_skipped(tmp_path: Path, clock) -> None:
    q = SQLiteQueue(tmp_path, clock=clock)
    q.enqueue(events(3), ["a"])
    first = q.lease(10, 30)
    clock.advance(31)
    (taken,) = q.lease(1, 30)  # the first lease of one job expired: another caller holds it now
    renewed = q.renew(first, 30)
    assert {j.id for j in renewed} == {j.id for j in first} - {taken.id}
    assert [j.id for j in q.renew([taken], 30)] == [taken.id]  # the new holder's lease still renews
    acked, retried = [j for j in renewed]
    q.ack(acked.id)
    q.retry(retried.id, 0, {"status": "failed"})
    assert q.renew([acked, retried], 30) == []  # acked or retried: their leases ended, nothing to renew
    assert q.renew([], 30) == []
    q.close()


def test_orphaned_counts_expired_leases_not_ended_ones(tmp_path: Path, clock) -> None:
    q = SQLiteQueue(tmp_path, clock=clock)
    q.enqueue(events(1), ["a"])
    (job,) = q.lease(1, 30)
    assert job.orphaned == 0
    clock.advance(31)  # the holder died: the lease expired
    (job,) = q.lease(1, 30)
    assert job.orphaned == 1
    q.release([job])  # ended on purpose: not an orphan
    (job,) = q.lease(1, 30)
    assert job.orphaned == 1
    q.retry(job.id, 0, {"status": "failed"})  # a retry ends the lease too
    (job,) = q.lease(1, 30)
    assert job.orphaned == 1 and job.attempts == 1
    clock.advance(31)
    (job,) = q.lease(1, 30)
    assert job.orphaned == 2
    q.close()


def test_owner_reclaims_previous_leases_at_once_and_counts_them(tmp_path: Path, clock) -> None:
    q = SQLiteQueue(tmp_path, clock=clock)
    q.enqueue(events(3), ["a"])
    held = q.lease(2, 30)
    q.close()  # the process died holding two leases
    reader = SQLiteQueue(tmp_path, clock=clock)  # not the owner (engine dlq): reclaims nothing
    assert reader.lease(10, 30)[0].id not in {j.id for j in held}
    reader.close()
    clock.advance(1)
    owner = SQLiteQueue(tmp_path, clock=clock, owner=True)
    jobs = owner.lease(10, 30)
    assert {j.id for j in jobs} >= {j.id for j in held}
    assert {j.id: j.orphaned for j in jobs if j.id in {h.id for h in held}} == {j.id: 1 for j in held}
    owner.close()


def test_schema_1_file_is_migrated(tmp_path: Path, clock) -> None:
    q = SQLiteQueue(tmp_path, clock=clock)
    q.enqueue(events(2), ["a"])
    q.close()
    with sqlite3.connect(tmp_path / "queue.db") as conn:  # make it a file of the previous schema
        conn.execute("ALTER TABLE jobs DROP COLUMN orphaned")
        conn.execute("PRAGMA user_version=1")
    q = SQLiteQueue(tmp_path, clock=clock)
    jobs = q.lease(10, 30)
    assert len(jobs) == 2 and all(j.orphaned == 0 for j in jobs)
    clock.advance(31)
    assert all(j.orphaned == 1 for j in q.lease(10, 30))
    q.close()
