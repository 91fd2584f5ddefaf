"""`engine fuzz`: generated events through a destination, checking that every result is a verdict.

Each example is one event (from `segment_events`) and a list of mocked HTTP answers (200/404/429/500 with
small JSON bodies). The event goes through the destination's presets twice: in plan mode
(`Destination.plan_event`: each result ok/invalid/error) and through the real delivery code
(`engine.runtime.deliver.deliver_event` with a `Deliverer` over `httpx.MockTransport`, two attempts, no
waits: delivered/filtered/invalid/failed). A Python exception escaping either, a status outside those
sets, or a failing verdict without a message is an internal error: hypothesis shrinks the example and
the minimal one is reported.
"""

from __future__ import annotations

import asyncio
import json
import traceback
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

PLAN_STATUSES = {"ok", "invalid", "error"}
DELIVERY_STATUSES = {"delivered", "filtered", "invalid", "failed"}
ANSWER_STATUSES = (200, 404, 429, 500)
# Words that show a Python internal leaking into a verdict's message instead of a sentence for people.
UNCLEAR = ("_Undefined", "NoneType", "Traceback", "object has no attribute", "unsupported operand", "KeyError")


class ContractError(AssertionError):
    """A result that is not a proper verdict (unknown status, failing verdict without a message)."""


@dataclass
class Failure:
    event: Any
    answers: list[tuple[int, Any]]
    error: str
    traceback: str


@dataclass
class FuzzReport:
    examples: int = 0
    plan: Counter[str] = field(default_factory=Counter)
    delivery: Counter[str] = field(default_factory=Counter)
    unclear: dict[str, Any] = field(default_factory=dict)  # message -> an event that produced it
    failure: Failure | None = None


def placeholder_settings(settings_spec: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """A value for every setting: its default, else one that fits its type and format."""
    out: dict[str, Any] = {}
    for key, spec in settings_spec.items():
        if spec.get("default") not in (None, ""):
            continue
        kind, fmt = spec.get("type", "string"), spec.get("format")
        if kind in ("number", "integer"):
            out[key] = 1
        elif kind == "boolean":
            out[key] = False
        elif fmt == "uri":
            out[key] = "https://fuzz.example.com/"
        elif fmt == "hostname":
            out[key] = "fuzz"
        elif fmt == "email":
            out[key] = "fuzz@example.com"
        else:
            out[key] = f"fuzz-{key}"
    return out


def answers_strategy() -> Any:
    from hypothesis import strategies as st

    small = st.one_of(st.none(), st.booleans(), st.integers(-5, 10**6), st.text(max_size=8))
    body = st.one_of(
        st.fixed_dictionaries({}, optional={"id": small, "user_key": small, "detail": st.text(max_size=20),
                                            "custom_id": small}),
        st.lists(small, max_size=3), small,
    )
    return st.lists(st.tuples(st.sampled_from(ANSWER_STATUSES), body), min_size=1, max_size=6)


def _message_problem(status: str, message: Any) -> str | None:
    if status in ("ok", "delivered", "filtered"):
        return None
    if not isinstance(message, str) or not message.strip():
        return f"a '{status}' verdict without a message"
    return None


class Fuzzer:
    """Runs examples against one destination; `check(event, answers)` raises on an internal error."""

    def __init__(self, dest: Any, settings: dict[str, Any]) -> None:
        import httpx

        from engine.delivery import Deliverer, RetryPolicy

        self.dest = dest
        self.settings = settings
        self.subs = dest.subscriptions()
        self.answers: list[tuple[int, Any]] = [(200, {})]
        self.turn = 0
        self.loop = asyncio.new_event_loop()
        self.deliverer = Deliverer(httpx.MockTransport(self._answer), RetryPolicy(attempts=2, base=0, cap=0),
                                   concurrency=1, errors_table=dest.spec.get("errors"))
        self.report = FuzzReport()

    def _answer(self, request: Any) -> Any:
        import httpx

        status, body = self.answers[self.turn % len(self.answers)]
        self.turn += 1
        return httpx.Response(status, content=json.dumps(body).encode(), headers={"content-type": "application/json"})

    def close(self) -> None:
        self.loop.run_until_complete(self.deliverer.aclose())
        self.loop.close()

    def _note_unclear(self, message: str | None, event: Any) -> None:
        if message and any(word in message for word in UNCLEAR) and len(self.report.unclear) < 20:
            key = message[:300]
            self.report.unclear.setdefault(key, event)

    def check(self, event: Any, answers: list[tuple[int, Any]], *, count: bool = True) -> None:
        from engine.runtime.deliver import deliver_event
        from engine.secrets import Masker

        plan = self.dest.plan_event(event, self.settings, self.subs)
        for result in plan:
            shown = result.to_json(Masker.empty())
            if result.status not in PLAN_STATUSES:
                raise ContractError(f"plan: unknown status {result.status!r}")
            problem = _message_problem(result.status, result.error)
            if problem:
                raise ContractError(f"plan: {problem} ({shown})")
            json.dumps(shown, default=str)
            if count:
                self.report.plan[result.status] += 1
                self._note_unclear(result.error, event)
        if not plan and count:
            self.report.plan["filtered"] += 1
        self.answers, self.turn = answers, 0
        verdicts = self.loop.run_until_complete(
            deliver_event(self.dest, event, self.settings, self.subs, self.deliverer))
        if not verdicts:
            raise ContractError("delivery: no verdict")
        for verdict in verdicts:
            status = getattr(verdict.status, "value", verdict.status)
            if status not in DELIVERY_STATUSES:
                raise ContractError(f"delivery: unknown status {status!r}")
            problem = _message_problem(status, verdict.error)
            if problem:
                raise ContractError(f"delivery: {problem} ({verdict})")
            if count:
                self.report.delivery[status] += 1
                self._note_unclear(verdict.error, event)


def fuzz(dest: Any, settings: dict[str, Any], *, examples: int = 200, seed: int | None = None) -> FuzzReport:
    """Run `examples` generated events; the report has counts per verdict and, on an internal error,
    the minimal failing example (after hypothesis shrinking)."""
    from hypothesis import HealthCheck, Phase, given
    from hypothesis import seed as hypothesis_seed
    from hypothesis import settings as hypothesis_settings

    from engine.fuzz.strategies import segment_events

    fuzzer = Fuzzer(dest, settings)
    report = fuzzer.report
    state: dict[str, Any] = {"failing": False, "last": None}

    @hypothesis_settings(max_examples=examples, deadline=None, database=None, derandomize=seed is None,
                         suppress_health_check=list(HealthCheck), report_multiple_bugs=False,
                         phases=[Phase.explicit, Phase.generate, Phase.shrink], print_blob=False)
    @given(event=segment_events(integration_names=(dest.name,)), answers=answers_strategy())
    def run(event: dict[str, Any], answers: list[tuple[int, Any]]) -> None:
        if not state["failing"]:
            report.examples += 1
        try:
            fuzzer.check(event, answers, count=not state["failing"])
        except Exception as exc:
            state["failing"] = True
            state["last"] = Failure(event, answers, f"{type(exc).__name__}: {exc}", traceback.format_exc())
            raise

    if seed is not None:
        run = hypothesis_seed(seed)(run)
    try:
        run()
    except Exception:
        report.failure = state["last"]
        if report.failure is None:
            raise
    finally:
        fuzzer.close()
    return report
