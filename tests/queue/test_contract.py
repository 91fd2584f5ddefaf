"""The JobQueue contract: the same tests against every backend (SQLite, PostgreSQL). A second
implementation that passes them is a supported backend. PostgreSQL runs each test in a fresh schema
(skipped with the reason when no server answers; a failure under ENGINE_REQUIRE_POSTGRES=1)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from engine.queue import JobQueue, open_queue
from engine.queue.tokens import TokenStore


class FakeClock:
    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def events(n: int, prefix: str = "m") -> list[dict]:
    return [{"type": "track", "event": "E", "messageId": f"{prefix}{i}"} for i in range(n)]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=["sqlite", "postgres"])
def make_queue(request, tmp_path: Path, clock: FakeClock) -> Iterator[Callable[..., JobQueue]]:
    """Opens a queue on the same storage each call (another connection: another node, or a restart)."""
    opened: list[JobQueue] = []
    if request.param == "postgres":
        from postgres_helpers import fresh_schema

        context = fresh_schema()
        dsn, schema = context.__enter__()

        def make(**options) -> JobQueue:
            options.setdefault("clock", clock)
            q = open_queue(kind="postgres", dsn=dsn, schema=schema, **options)
            opened.append(q)
            return q
    else:
        context = None

        def make(**options) -> JobQueue:
            options.setdefault("clock", clock)
            q = open_queue(tmp_path / "data", **options)
            opened.append(q)
            return q
    try:
        yield make
    finally:
        for q in opened:
            q.close()
        if context is not None:
            context.__exit__(None, None, None)


@pytest.fixture
def queue(make_queue) -> JobQueue:
    return make_queue()


def test_one_job_per_event_and_destination(queue: JobQueue) -> None:
    assert queue.enqueue(events(3), ["a", "b"]) == 6
    assert queue.depth() == {"a": 3, "b": 3}
    jobs = queue.lease(10, 30)
    assert {(j.instance, j.message_id) for j in jobs} == {(d, f"m{i}") for d in "ab" for i in range(3)}
    assert all(j.attempts == 0 and j.orphaned == 0 and j.event["event"] == "E" for j in jobs)
    assert queue.enqueue([], ["a"]) == 0


def test_dedup_window(make_queue, clock: FakeClock) -> None:
    q = make_queue(dedup_window=3600)
    assert q.enqueue(events(2), ["a", "b"]) == 4
    clock.advance(3599)
    assert q.enqueue(events(3), ["a", "b"]) == 2  # m0, m1 are a client's retry; m2 is new
    assert q.enqueue([{"messageId": "x"}, {"messageId": "x"}, {"type": "t"}, {"type": "t"}], ["a"]) == 3
    q.close()
    q = make_queue(dedup_window=3600)  # remembered across restarts
    assert q.enqueue(events(1), ["a"]) == 0
    clock.advance(3601)  # m2 was accepted 3601 s ago: outside the window, accepted again
    assert q.enqueue(events(3), ["a"]) == 3
    assert q.enqueue(events(3), ["a"]) == 0


def test_lease_ack_and_per_instance(queue: JobQueue) -> None:
    queue.enqueue(events(3), ["a"])
    queue.enqueue(events(2, "n"), ["b"])
    first = queue.lease(2, 30, instance="a")
    assert [j.message_id for j in first] == ["m0", "m1"]
    assert [j.message_id for j in queue.lease(10, 30, instance="a")] == ["m2"]
    assert queue.lease(10, 30, instance="a") == []
    assert queue.lease(0, 30) == []
    assert queue.ack(first[0].id) is True
    assert queue.ack(first[0].id) is False
    assert queue.ack_many([first[1].id, first[0].id]) == 1
    assert queue.depth() == {"a": 1, "b": 2}
    both = queue.ack_and_lease([], 10, 30, instance="b")
    assert len(both) == 2 and queue.ack_and_lease([j.id for j in both], 10, 30) == []
    assert queue.depth() == {"a": 1}


def test_renew_extends_held_leases_and_skips_stale(queue: JobQueue, clock: FakeClock) -> None:
    queue.enqueue(events(2), ["a"])
    jobs = queue.lease(2, 10)
    clock.advance(8)
    renewed = queue.renew(jobs, 10)
    assert [j.id for j in renewed] == [j.id for j in jobs]
    assert all(j.leased_until == pytest.approx(clock.now + 10) for j in renewed)
    clock.advance(5)  # past the first lease, within the renewed one
    assert queue.lease(10, 10) == []
    assert queue.renew(jobs, 10) == []  # the old leases are stale: they were renewed since
    clock.advance(11)  # the renewed leases expire: another worker takes the jobs
    taken = queue.lease(10, 10)
    assert len(taken) == 2 and all(j.orphaned == 1 for j in taken)
    assert queue.renew(renewed, 10) == []  # the first holder no longer holds them
    assert len(queue.renew(taken, 10)) == 2


def test_release_ends_lease_without_counting(queue: JobQueue, clock: FakeClock) -> None:
    queue.enqueue(events(2), ["a"])
    jobs = queue.lease(2, 30)
    assert queue.release(jobs) == 2
    clock.advance(1)
    again = queue.lease(2, 30)
    assert [j.id for j in again] == [j.id for j in jobs] and all(j.orphaned == 0 and j.attempts == 0 for j in again)
    assert queue.release(jobs) == 0  # stale leases are left alone


def test_retry_with_delay(queue: JobQueue, clock: FakeClock) -> None:
    queue.enqueue(events(1), ["a"])
    job = queue.lease(1, 30)[0]
    verdict = {"status": "failed", "reason": "HTTP 503 Service Unavailable"}
    assert queue.retry(job.id, 10, verdict) is True
    assert queue.lease(1, 30) == []
    clock.advance(9.5)
    assert queue.lease(1, 30) == []
    clock.advance(0.5)
    [again] = queue.lease(1, 30)
    assert again.id == job.id and again.attempts == 1 and again.last_verdict == verdict and again.orphaned == 0
    assert again.available_at == pytest.approx(clock.now)


def _dead(queue: JobQueue, clock: FakeClock, specs: list[tuple[str, str]]) -> None:
    for i, (instance, reason) in enumerate(specs):
        queue.enqueue([{"messageId": f"{instance}-{i}", "type": "identify", "userId": f"u{i}"}], [instance])
        job = queue.lease(1, 30)[0]
        assert queue.dead_letter(job.id, {"status": "failed", "reason": reason, "response_excerpt": "{}"}) is True
        assert queue.dead_letter(job.id, {"status": "failed"}) is False
        clock.advance(60)


def test_dead_letters_and_filters(queue: JobQueue, clock: FakeClock) -> None:
    start = clock.now
    _dead(queue, clock, [("a", "HTTP 400 Bad Request"), ("b", "HTTP 401 Unauthorized"),
                         ("a", "timeout"), ("a", "HTTP 400 Bad Request")])
    assert queue.depth() == {}
    letters = queue.dlq.list()
    assert [d.instance for d in letters] == ["a", "b", "a", "a"]
    assert letters[0].event["userId"] == "u0" and letters[0].attempts == 1 and letters[0].message_id == "a-0"
    assert letters[0].failed_at == pytest.approx(start) and letters[0].verdict["response_excerpt"] == "{}"
    assert queue.dlq.get(letters[0].id) == letters[0] and queue.dlq.get(letters[-1].id + 100) is None
    assert len(queue.dlq.list(instance="a")) == 3
    assert [d.reason for d in queue.dlq.list(reason="http 4")] == ["HTTP 400 Bad Request", "HTTP 401 Unauthorized",
                                                                   "HTTP 400 Bad Request"]
    assert len(queue.dlq.list(instance="a", reason="400")) == 2
    assert len(queue.dlq.list(since=start + 60)) == 3
    assert len(queue.dlq.list(until=start + 60)) == 1
    assert len(queue.dlq.list(since=start + 60, until=start + 180)) == 2
    assert len(queue.dlq.list(limit=2)) == 2
    assert queue.dlq.count(instance="a") == 3 and queue.dlq.count() == 4


def test_replay_and_purge(queue: JobQueue, clock: FakeClock) -> None:
    _dead(queue, clock, [("a", "HTTP 400"), ("b", "HTTP 400"), ("a", "timeout"), ("c", "x")])
    first = queue.dlq.list()[0]
    assert queue.dlq.replay([first.id]) == 1
    [job] = queue.lease(10, 30)
    assert job.instance == "a" and job.attempts == 0 and job.event == first.event
    assert job.last_verdict == first.verdict
    assert queue.dlq.replay(reason="400") == 1  # b's; replay is not subject to dedup
    assert queue.dlq.replay(instance="zzz") == 0
    assert queue.depth() == {"a": 1, "b": 1}
    ids = [d.id for d in queue.dlq.list()]
    assert queue.dlq.purge([ids[-1]]) == 1
    assert queue.dlq.purge([]) == 0
    assert queue.dlq.purge(instance="a", reason="timeout") == 1
    assert queue.dlq.count() == 0 and queue.dlq.purge() == 0


def test_crash_between_lease_and_ack(make_queue, clock: FakeClock) -> None:
    q = make_queue()
    q.enqueue(events(2), ["a"])
    leased = q.lease(10, 30)
    q.ack(leased[0].id)
    q.close()  # the process "dies" holding the lease on the second job

    again = make_queue()
    assert again.lease(10, 30) == []  # the lease still runs
    clock.advance(31)
    [redelivered] = again.lease(10, 30)
    assert redelivered.id == leased[1].id and redelivered.orphaned == 1 and redelivered.attempts == 0
    assert again.ack(redelivered.id) is True and again.depth() == {}


def test_two_consumers_race_for_jobs(make_queue) -> None:
    """Two consumers, each with its own connection, lease from the same jobs at once: none is given twice."""
    first, second = make_queue(), make_queue()
    first.enqueue(events(300), ["a"])
    got: list[list[int]] = [[], []]
    start = threading.Barrier(2)

    def consume(q: JobQueue, into: list[int]) -> None:
        start.wait()
        while jobs := q.lease(3, 30):
            into.extend(j.id for j in jobs)
            q.ack_many(j.id for j in jobs)

    threads = [threading.Thread(target=consume, args=(q, into)) for q, into in ((first, got[0]), (second, got[1]))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    everything = got[0] + got[1]
    assert len(everything) == 300 and len(set(everything)) == 300
    assert first.depth() == {}


def test_two_producers_race_on_one_message_id(make_queue) -> None:
    """The same messageIds accepted by two nodes at the same moment become one job each."""
    first, second = make_queue(), make_queue()
    created = [0, 0]
    start = threading.Barrier(2)

    def produce(q: JobQueue, slot: int) -> None:
        start.wait()
        for i in range(0, 200, 20):
            created[slot] += q.enqueue(events(20, f"b{i}-"), ["a"])

    threads = [threading.Thread(target=produce, args=(q, i)) for i, q in enumerate((first, second))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert created[0] + created[1] == 200
    assert first.depth() == {"a": 200}


def test_tokens_put_get_replace_and_unknown(queue: JobQueue) -> None:
    """The OAuth2 TokenStore (engine/queue/tokens.py): one token per key, the last put wins."""
    assert isinstance(queue, TokenStore)
    assert queue.get_token("inst-1") is None
    queue.put_token("inst-1", "tok-a", 1_700_000_100.5)
    queue.put_token("inst-2", "tok-b", 1_700_000_200.0)
    assert queue.get_token("inst-1") == ("tok-a", 1_700_000_100.5)
    queue.put_token("inst-1", "tok-c", 1_700_000_300.25)
    assert queue.get_token("inst-1") == ("tok-c", 1_700_000_300.25)
    assert queue.get_token("inst-2") == ("tok-b", 1_700_000_200.0)
    assert queue.get_token("inst-3") is None


def test_tokens_shared_by_two_queues_on_one_store(make_queue) -> None:
    """Two nodes (or processes) on the same storage see each other's token, and survive a reopen."""
    first, second = make_queue(), make_queue()
    first.put_token("inst", "from-first", 1_700_000_100.0)
    assert second.get_token("inst") == ("from-first", 1_700_000_100.0)
    second.put_token("inst", "from-second", 1_700_000_200.0)
    assert first.get_token("inst") == ("from-second", 1_700_000_200.0)
    first.close()
    assert make_queue().get_token("inst") == ("from-second", 1_700_000_200.0)


def test_jobs_taken_at_enqueue_are_leased_to_the_taker(queue: JobQueue, clock: FakeClock) -> None:
    """`enqueue_taking` may hand some new jobs over (created leased) or none (the default); either way every job
    is created once, a taken one is not leased by anyone else until its lease ends, then it is due like any other."""
    created, taken = queue.enqueue_taking(events(4), ["a"], {"a": 2}, 10.0)
    assert created == 4
    mine = taken.get("a", [])
    assert len(mine) <= 2 and all(j.instance == "a" and j.leased_until is not None for j in mine)
    others = queue.lease(10, 10.0)
    assert len(others) == 4 - len(mine)
    assert not {j.id for j in mine} & {j.id for j in others}
    clock.advance(11)  # the taker died: its leases end
    assert sorted(j.message_id for j in queue.lease(10, 10.0)) == sorted(j.message_id for j in mine + others)
    queue.make_durable()  # nothing left to make durable: a no-op, never an error
