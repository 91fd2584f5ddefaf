"""Acks and leases that share one transaction (`ack_many`, `ack_and_lease`), and `release`: the same outcome
as the one-job-at-a-time path, in fewer transactions."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.queue import Job, JobQueue, SQLiteQueue


class FakeClock:
    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


class GeneralPath(SQLiteQueue):
    """The interface's default implementations: one ack per job, then a separate lease."""

    ack_many = JobQueue.ack_many
    ack_and_lease = JobQueue.ack_and_lease


def events(n: int, prefix: str = "m") -> list[dict]:
    return [{"type": "track", "event": "E", "messageId": f"{prefix}{i}"} for i in range(n)]


def transactions(queue: SQLiteQueue) -> list[str]:
    """The SQL statements that open a transaction on `queue`'s connection, appended as they run."""
    seen: list[str] = []
    queue._conn.set_trace_callback(lambda sql: seen.append(sql) if sql.startswith("BEGIN") else None)  # type: ignore[union-attr]
    return seen


@pytest.fixture
def queue(tmp_path: Path) -> Iterator[SQLiteQueue]:
    q = SQLiteQueue(tmp_path / "data", clock=FakeClock())
    yield q
    q.close()


def test_ack_and_lease_is_one_transaction(queue: SQLiteQueue) -> None:
    queue.enqueue(events(10), ["a", "b"])
    first = queue.lease(5, 30, instance="a")
    begun = transactions(queue)
    second = queue.ack_and_lease([j.id for j in first], 3, 30, instance="a")
    assert len(begun) == 1
    assert [j.message_id for j in second] == ["m5", "m6", "m7"] and {j.instance for j in second} == {"a"}
    assert queue.depth() == {"a": 5, "b": 10}
    assert queue.ack_and_lease([], 0, 30) == [] and len(begun) == 1  # nothing to do: no transaction
    assert queue.ack_and_lease([j.id for j in second], 0, 30) == [] and len(begun) == 2  # acks only
    assert queue.depth() == {"a": 2, "b": 10}


def test_ack_many_of_n_jobs_is_one_transaction(queue: SQLiteQueue) -> None:
    queue.enqueue(events(300), ["a"])
    jobs = queue.lease(300, 30)
    begun = transactions(queue)
    assert queue.ack_many([j.id for j in jobs] + [jobs[0].id]) == 300  # an id twice counts once
    assert len(begun) == 1 and queue.depth() == {}
    assert queue.ack_many([]) == 0 and len(begun) == 1


def test_release_ends_leases_without_counting_an_attempt(queue: SQLiteQueue) -> None:
    clock: FakeClock = queue.clock  # type: ignore[assignment]
    queue.enqueue(events(3), ["a"])
    leased = queue.lease(3, 30)
    assert queue.lease(3, 30) == []
    assert queue.release(leased[:2]) == 2
    clock.now += 1
    again = queue.lease(3, 30)  # due at once, not after the lease
    assert [j.message_id for j in again] == ["m0", "m1"] and all(j.attempts == 0 for j in again)
    assert queue.release(leased[:2]) == 0  # those leases are gone: leased again since, left alone
    clock.now += 29.5  # m2's lease expired (m0 and m1 were leased again 1 s later); another worker leases m2
    [m2] = queue.lease(3, 30)
    assert m2.message_id == "m2" and queue.release([leased[2]]) == 0
    assert queue.release([m2]) == 1 and queue.release([]) == 0


ops = st.lists(st.one_of(
    st.tuples(st.just("enqueue"), st.integers(0, 6), st.sampled_from(["a", "b"])),
    st.tuples(st.just("settle"), st.lists(st.integers(0, 40), max_size=8), st.integers(0, 5),
              st.sampled_from([None, "a", "b"])),
    st.tuples(st.just("wait"), st.sampled_from([1.0, 31.0])),
), max_size=25)


def summary(jobs: list[Job]) -> list[tuple]:
    return [(j.id, j.instance, j.message_id, j.attempts, j.leased_until) for j in jobs]


@settings(max_examples=60, deadline=None)
@given(ops=ops)
def test_batched_path_behaves_as_the_general_path(ops: list[tuple]) -> None:
    """The same operations on two queues: `ack_and_lease` in one transaction and the default (acks one by one,
    then a lease) lease the same jobs and leave the same jobs behind, whatever ids are acked (unknown, acked
    already, leased or not)."""
    with tempfile.TemporaryDirectory() as tmp:
        clock = FakeClock()
        fast = SQLiteQueue(Path(tmp) / "fast", clock=clock)
        slow = GeneralPath(Path(tmp) / "slow", clock=clock)
        try:
            n = 0
            for op in ops:
                if op[0] == "enqueue":
                    batch = events(op[1], prefix=f"e{n}-")
                    n += 1
                    assert fast.enqueue(batch, [op[2]]) == slow.enqueue(batch, [op[2]])
                elif op[0] == "settle":
                    _, ids, limit, instance = op
                    assert summary(fast.ack_and_lease(ids, limit, 30, instance=instance)) == \
                        summary(slow.ack_and_lease(ids, limit, 30, instance=instance))
                else:
                    clock.now += op[1]
                assert fast.depth() == slow.depth()
            assert summary(fast.lease(1000, 30)) == summary(slow.lease(1000, 30))
        finally:
            fast.close()
            slow.close()
