"""The console's record of recent traffic: counts by minute over a window, the state they give, the bounded ring,
secrets masked when recorded."""

from __future__ import annotations

from engine.delivery import Verdict
from engine.delivery.verdicts import DELIVERED, FAILED
from engine.queue import Job
from engine.secrets import Masker
from engine.server.console.recorder import KEEP_EVENTS, KEEP_ROUNDS, Recorder


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_020.0

    def __call__(self) -> float:
        return self.now


def job(message_id: str, attempts: int = 0, **extra: object) -> Job:
    event = {"type": "track", "event": "x", "userId": "u", "messageId": message_id, **extra}
    return Job(1, "um", event, message_id, attempts, 0.0, 0.0)


def test_counts_cover_the_window_and_give_the_state() -> None:
    clock = Clock()
    rec = Recorder(["um"], Masker([]), clock=clock)
    assert rec.state("um") == "idle"
    rec.finished("um", job("a"), [Verdict(DELIVERED)], "jobs_delivered_total", "ack", [])
    assert rec.counts("um")["delivered"] == 1 and rec.state("um") == "ok"
    clock.now += 60
    rec.finished("um", job("b"), [Verdict(FAILED, retryable=True)], "jobs_retried_total", "retry", [])
    assert rec.counts("um") == {"delivered": 1, "filtered": 0, "invalid": 0, "failed": 0, "retry": 1}
    assert rec.state("um") == "degraded"
    clock.now += 6 * 60  # the delivery and the retry are out of the last 5 minutes; a failure comes in
    rec.finished("um", job("c"), [Verdict(FAILED)], "jobs_failed_total", "dead", [])
    assert rec.state("um") == "failing"
    assert rec.counts("um")["delivered"] == 1 and rec.counts("um")["failed"] == 1  # still in the 15 minutes
    clock.now += 15 * 60
    assert rec.counts("um") == dict.fromkeys(("delivered", "filtered", "invalid", "failed", "retry"), 0)


def test_the_ring_is_bounded_and_masks_secrets() -> None:
    rec = Recorder(["um"], Masker(["s3cret-value-xyz"]))
    rec.arrived([{"type": "track", "event": "x", "userId": "u", "messageId": "m0",
                  "properties": {"leak": "s3cret-value-xyz"}}], "web")
    assert rec.get("m0")["event"]["properties"]["leak"] == "****"
    for n in range(KEEP_ROUNDS + 3):
        rec.finished("um", job("m0", attempts=n), [Verdict(FAILED, error="s3cret-value-xyz refused")],
                     "jobs_retried_total", "retry", [])
    rounds = rec.get("m0")["outcomes"]["um"]
    assert len(rounds) == KEEP_ROUNDS and rounds[-1]["attempt"] == KEEP_ROUNDS + 3
    assert "s3cret" not in str(rounds)
    rec.arrived([{"type": "track", "event": "x", "userId": "u", "messageId": f"m{n}"} for n in range(1, KEEP_EVENTS + 5)],
                "web")
    assert len(rec.events) == KEEP_EVENTS and rec.get("m0") is None
    assert [e["id"] for e in rec.recent(2)] == [f"m{KEEP_EVENTS + 4}", f"m{KEEP_EVENTS + 3}"]
