"""The events a process stored lately are kept parsed for its own leases (engine/queue/kept.py)."""

from __future__ import annotations

from pathlib import Path

import orjson

from engine.queue import SQLiteQueue
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
