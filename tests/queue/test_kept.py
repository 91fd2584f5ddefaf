"""The events a process stored lately are kept parsed for its own leases (engine/queue/kept.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from engine.queue import JobQueue, SQLiteQueue, open_queue
from engine.queue.kept import KeptEvents


def event(n: int, **extra: object) -> dict:
    return {"type": "track", "event": "Signed Up", "userId": f"u{n}", "messageId": f"m{n}", **extra}


def test_a_leased_job_of_an_event_this_process_stored_is_the_object_it_stored(tmp_path: Path) -> None:
    with SQLiteQueue(tmp_path / "q") as queue:
        stored = [event(n, properties={"plan": "pro", "seats": n}) for n in range(5)]
        queue.enqueue(stored, ["a", "b"])
        leased = queue.lease(10, 30)
        assert len(leased) == 10
        for job in leased:
            original = stored[int(job.message_id[1:])]
            assert job.event is original  # not decoded again
            assert job.event == orjson.loads(orjson.dumps(original))
        assert len(queue._kept) == 0 and queue._kept.size == 0  # both jobs of each leased: nothing left kept


def test_events_stored_through_the_nowait_handle_are_kept_for_the_queues_own_leases(tmp_path: Path) -> None:
    """`engine serve` stores on the loop's thread through `nowait()` and leases through the queue itself."""
    with SQLiteQueue(tmp_path / "q") as queue:
        handle = queue.nowait()
        assert handle is not queue
        stored = [event(n) for n in range(3)]
        handle.enqueue_taking(stored, ["a"], {"a": 0}, 30.0)
        queue.make_durable()
        leased = queue.lease(10, 30, instance="a")
        assert [j.message_id for j in leased] == ["m0", "m1", "m2"]
        assert all(j.event is stored[k] for k, j in enumerate(leased))  # kept by the handle, found by the queue


@pytest.fixture(params=["sqlite", "postgres"])
def two_nodes(request, tmp_path: Path) -> Iterator[tuple[JobQueue, JobQueue]]:
    """Two queue objects on the same storage: this process and another node (PostgreSQL) or a later owner."""
    if request.param == "postgres":
        from postgres_helpers import fresh_schema

        with fresh_schema() as (dsn, schema):
            first = open_queue(kind="postgres", dsn=dsn, schema=schema)
            second = open_queue(kind="postgres", dsn=dsn, schema=schema)
            try:
                yield first, second
            finally:
                first.close()
                second.close()
    else:
        first = open_queue(tmp_path / "data")
        second = SQLiteQueue(tmp_path / "data")  # another connection (a --workers process)
        try:
            yield first, second
        finally:
            first.close()
            second.close()


def test_each_backend_keeps_what_it_stored_and_another_node_decodes_it(two_nodes) -> None:
    first, second = two_nodes
    stored = [event(n, context={"page": {"path": f"/p{n}"}}) for n in range(6)]
    first.enqueue(stored, ["a"])
    mine = first.lease(3, 30, instance="a")
    theirs = second.lease(3, 30, instance="a")
    assert [j.message_id for j in mine + theirs] == [f"m{n}" for n in range(6)]
    assert all(j.event is stored[int(j.message_id[1:])] for j in mine)  # this node's own: not decoded
    assert all(j.event is not stored[int(j.message_id[1:])] and j.event == stored[int(j.message_id[1:])]
               for j in theirs)  # the other node decodes the same event


def test_an_event_handed_over_is_kept_only_for_the_instances_that_did_not_take_it(tmp_path: Path) -> None:
    with SQLiteQueue(tmp_path / "q") as queue:
        stored = [event(n) for n in range(4)]
        _, taken = queue.enqueue_taking(stored, ["a", "b"], {"a": 4, "b": 1}, 30.0)
        assert [len(taken["a"]), len(taken["b"])] == [4, 1]
        assert len(queue._kept) == 3  # m1..m3, for "b" only
        leased = queue.lease(10, 30, instance="b")
        assert [j.message_id for j in leased] == ["m1", "m2", "m3"]
        assert all(j.event is stored[k + 1] for k, j in enumerate(leased))
        assert len(queue._kept) == 0


def test_another_stored_form_under_the_same_message_id_is_decoded_not_taken_from_the_kept() -> None:
    kept = KeptEvents()
    first = event(1)
    kept.keep([("m1", orjson.dumps(first), first, 1)])
    later = event(1, properties={"changed": True})  # e.g. the same messageId again after the dedup window
    got = kept.event("m1", orjson.dumps(later))
    assert got == later and got is not first
    assert kept.event("m1", orjson.dumps(first)) is first  # the kept one still answers its own form
    assert kept.event(None, orjson.dumps(first)) == first  # no messageId: decoded


def test_the_budget_keeps_the_oldest_and_refuses_the_newest() -> None:
    blobs = [orjson.dumps(event(n)) for n in range(10)]
    kept = KeptEvents(budget=sum(len(b) for b in blobs[:4]))
    kept.keep([(f"m{n}", blobs[n], event(n), 1) for n in range(10)])
    assert len(kept) == 4 and kept.size <= kept.budget
    assert kept.event("m0", blobs[0]) == event(0)
    assert kept.event("m9", blobs[9]) == event(9)  # not kept: decoded, same value
    kept.keep([("m9", blobs[9], event(9), 1)])  # m0 was leased: room for one more
    assert len(kept) == 4


def test_entries_age_out_and_free_their_budget() -> None:
    now = [0.0]
    kept = KeptEvents(max_age=30.0, clock=lambda: now[0])
    kept.keep([("m1", orjson.dumps(event(1)), event(1), 2)])  # two jobs, neither leased here (another process)
    now[0] = 20.0
    kept.keep([("m2", orjson.dumps(event(2)), event(2), 1)])
    assert len(kept) == 2
    now[0] = 31.0
    kept.keep([])  # m1 is older than 30 s: dropped; m2 stays
    assert len(kept) == 1 and kept.size == len(orjson.dumps(event(2)))
