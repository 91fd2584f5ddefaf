"""`Dispatcher` (engine serve's per-event delivery, compiled once per instance) sends the requests `deliver_event`
sends and gives the verdicts it gives: over every fixture event of the seed specs, with their settings, answered
200, 500 (retryable), 400 and a network failure; and for the cases it hands to the general path (OAuth2, several
steps) and the errors it reports itself (mapping, validation, templates)."""

from __future__ import annotations

import asyncio
import datetime as dt
import types
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.authoring.fixtures import load_cases, plain
from engine.delivery.client import Outcome
from engine.delivery.models import PreparedRequest
from engine.delivery.verdicts import Verdict
from engine.runtime import destination as destination_module
from engine.runtime.deliver import deliver_event
from engine.runtime.destination import Destination, load_destination
from engine.runtime.dispatcher import Dispatcher
from engine.runtime.settings import resolve_settings, secret_values
from engine.secrets import Masker
from engine.templates import filters

from . import test_plan_event_fast as _plan_tests

SPECS_DIR = Path(__file__).resolve().parents[2] / "specs"
SPECS = sorted(p.stem for p in SPECS_DIR.glob("*.yaml") if not p.name.endswith(".tests.yaml"))
NOW = dt.datetime(2024, 3, 31, 0, 30, tzinfo=dt.UTC)


class _FixedClock(dt.datetime):
    @classmethod
    def now(cls, tz: Any = None) -> Any:  # type: ignore[override]
        return NOW


@pytest.fixture(autouse=True)
def _deterministic(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(filters.secrets, "randbelow", lambda n: n // 3)
    monkeypatch.setattr(filters._uuid, "uuid4", lambda: "00000000-0000-4000-8000-000000000000")
    monkeypatch.setattr(destination_module, "_now", _FixedClock.now)
    monkeypatch.setattr(destination_module, "_dt", types.SimpleNamespace(datetime=_FixedClock, UTC=dt.UTC))


class FakeDeliverer:
    """Records what is sent; answers every request with `answer` (an Outcome)."""

    def __init__(self, masker: Masker, answer: Outcome) -> None:
        self.masker = masker
        self.answer = answer
        self.sent: list[tuple[PreparedRequest, list[bool]]] = []

    async def send(self, req: PreparedRequest, *, expect: Any = None) -> Outcome:
        # what `expect` says of a few statuses stands for the step sent with
        self.sent.append((req, [bool(expect(s)) for s in (200, 204, 404, 409)] if expect else []))
        return self.answer


ANSWERS = {
    "200": Outcome("delivered", 1, status=200),
    "500": Outcome("failed", 3, status=500, error="HTTP 500 from the destination", retryable=True,
                   reason="HTTP 500 Internal Server Error", response_excerpt="oops"),
    "400": Outcome("failed", 1, status=400, error="HTTP 400: bad key-2 given", hint="check the key",
                   reason="HTTP 400 Bad Request", response_excerpt='{"error":"key-2"}'),
    "network": Outcome("failed", 2, error="network error: connection refused", retryable=True, reason="network error"),
}


def _cases(slug: str) -> list[tuple[dict[str, Any], dict[str, Any], dict[str, Any]]]:
    """(event, settings, case) of every fixture case of the spec: the case says which action and mapping run
    (specs without presets, such as Intercom's, have every case name its action)."""
    out = []
    for case in load_cases(SPECS_DIR / f"{slug}.tests.yaml"):
        settings = plain(case.get("settings") or {})
        events = case["events"] if "events" in case else [case["event"]]
        out += [(plain(event), settings, case) for event in events]
    return out


def _case_subscriptions(dest: Destination, case: dict[str, Any]) -> list[Any] | None:
    """The subscriptions a fixture case runs (as `engine test` picks them), None where they are not valid."""
    try:
        subs = dest.subscriptions(case.get("action"), plain(case["mapping"]) if case.get("mapping") else None)
    except Exception:  # noqa: BLE001 - a case about a bad action or mapping: nothing is delivered with it
        return None
    if case.get("preset") is not None:
        subs = [s for s in subs if s.name == case["preset"]]
    return subs


def _shown(req: PreparedRequest) -> tuple[Any, ...]:
    return (req.method, req.url, req.headers, req.body, req.json, req.timeout, req.step)


def _both(dest: Destination, event: dict[str, Any], settings: dict[str, Any], answer: Outcome,
          subs: list[Any] | None = None) -> tuple[tuple[list[Verdict], list[Any]], tuple[list[Verdict], list[Any]]]:
    subs = dest.subscriptions() if subs is None else subs
    masker = Masker(secret_values(dest.settings_spec, settings))
    general, fast = FakeDeliverer(masker, answer), FakeDeliverer(masker, answer)
    dispatcher = Dispatcher(dest, settings, subs, fast)

    async def run() -> tuple[list[Verdict], list[Verdict]]:
        return (await deliver_event(dest, event, settings, subs, general), await dispatcher(event))

    want, got = asyncio.run(run())
    return ((want, [(_shown(r), e) for r, e in general.sent]), (got, [(_shown(r), e) for r, e in fast.sent]))


@pytest.mark.parametrize("slug", SPECS)
@pytest.mark.parametrize("answer", sorted(ANSWERS))
def test_same_requests_and_verdicts_as_deliver_event_on_fixture_events(slug: str, answer: str) -> None:
    dest = load_destination(slug)
    cases = _cases(slug)
    assert cases
    sent = 0
    for event, raw, case in cases:
        try:
            settings = resolve_settings(dest.settings_spec, raw)
        except Exception:  # noqa: BLE001 - a case about bad settings: nothing is delivered with them
            continue
        subs = _case_subscriptions(dest, case)
        if subs is None:
            continue
        (want, want_sent), (got, got_sent) = _both(dest, event, settings, ANSWERS[answer], subs)
        assert got == want, event
        assert got_sent == want_sent, event
        sent += len(got_sent)
    assert sent > 0  # the fixtures do send requests


def test_a_one_request_action_takes_the_compiled_path_and_still_reads_the_event() -> None:
    dest = load_destination("usermotion")
    settings = resolve_settings(dest.settings_spec, {"apiKey": "key-1"})
    dispatcher = Dispatcher(dest, settings, dest.subscriptions(), FakeDeliverer(Masker([]), ANSWERS["200"]))
    assert any(route.request is not None for route in dispatcher.routes)
    event = {"type": "track", "event": "Signed Up", "userId": "u-1", "messageId": "m-1",
             "timestamp": "2024-03-01T00:00:00Z", "properties": {"plan": "pro"}}
    (want, want_sent), (got, got_sent) = _both(dest, event, settings, ANSWERS["200"])
    assert got == want and got_sent == want_sent
    assert len(got_sent) == 1 and b"Signed Up" in got_sent[0][0][3]
    assert got[0].status == "delivered"


def test_the_settings_are_read_when_the_dispatcher_is_made() -> None:
    dest = load_destination("usermotion")
    settings = resolve_settings(dest.settings_spec, {"apiKey": "key-1"})
    fake = FakeDeliverer(Masker([]), ANSWERS["200"])
    dispatcher = Dispatcher(dest, settings, dest.subscriptions(), fake)
    settings["apiKey"] = "changed"  # the instance's settings are copied: a later change of the caller's dict is not seen
    asyncio.run(dispatcher({"type": "identify", "userId": "u-1", "traits": {"email": "a@b.test"}}))
    assert fake.sent and all("changed" not in str(req.headers) for req, _ in fake.sent)


def test_errors_it_reports_itself_match_deliver_event() -> None:
    dest = load_destination("usermotion")
    settings = resolve_settings(dest.settings_spec, {"apiKey": "key-1"})
    events = [
        {"type": "identify", "traits": {"email": "a@b.test"}},  # no user id: invalid
        {"type": "track", "userId": "u-1"},  # no event name
        {"type": "alias", "userId": "u-1", "previousId": "p-1"},
        {"type": "identify", "userId": "u-1", "integrations": {"All": False}},  # excluded
        {"type": ["identify"], "userId": "u-1"},  # a type that is a list matches nothing
        {"type": "page", "userId": "u-1", "name": "key-1 page"},  # a secret in the event: masked in errors
    ]
    for event in events:
        for answer in ANSWERS.values():
            (want, want_sent), (got, got_sent) = _both(dest, event, settings, answer)
            assert got == want and got_sent == want_sent, event


def test_multi_step_and_oauth_destinations_take_the_general_path(monkeypatch: pytest.MonkeyPatch) -> None:
    usercom = load_destination("usercom")
    settings = resolve_settings(usercom.settings_spec, {"apiKey": "key-3", "appSubdomain": "acme"})
    dispatcher = Dispatcher(usercom, settings, usercom.subscriptions(), FakeDeliverer(Masker([]), ANSWERS["200"]))
    multi = [r for r in dispatcher.routes if len(r.sub.action.runnable.steps) > 1]
    assert multi and all(r.request is None for r in multi)
    for event in ({"type": "identify", "userId": "u-1", "traits": {"email": "a@b.test", "name": "Ada"}},
                  {"type": "track", "userId": "u-1", "event": "Bought", "properties": {"total": 3}}):
        for answer in ANSWERS.values():
            (want, want_sent), (got, got_sent) = _both(usercom, event, settings, answer)
            assert got == want and got_sent == want_sent
    dest = load_destination("usermotion")
    monkeypatch.setattr(dest, "oauth2", object())  # a destination with OAuth2: every render needs the token
    dispatcher = Dispatcher(dest, resolve_settings(dest.settings_spec, {"apiKey": "key-1"}), dest.subscriptions(),
                            FakeDeliverer(Masker([]), ANSWERS["200"]))
    assert all(route.request is None for route in dispatcher.routes)


@settings(max_examples=150, deadline=None)
@given(event=_plan_tests.events, token=st.sampled_from(["tok-secret", "a", "x y", '"q"']),
       host=st.sampled_from([None, "api.test", ""]), a=st.one_of(st.none(), st.text(max_size=3), st.just("tok-secret")),
       answer=st.sampled_from(sorted(ANSWERS)))
def test_same_requests_and_verdicts_on_every_request_shape(event: dict[str, Any], token: str, host: str | None, a: Any,
                                                          answer: str) -> None:
    dest = _plan_tests._shapes()  # JSON bodies with and without their own Content-Type, form, query, keyed headers
    settings_ = {"token": token} if host is None else {"token": token, "host": host}
    event = {**event, "properties": {"a": a, "b": 1}, "traits": {"a": a}}
    (want, want_sent), (got, got_sent) = _both(dest, event, settings_, ANSWERS[answer])
    assert got == want and got_sent == want_sent


@settings(max_examples=100, deadline=None)
@given(event=_plan_tests.events, answer=st.sampled_from(sorted(ANSWERS)), slug=st.sampled_from(SPECS))
def test_same_requests_and_verdicts_on_random_events(event: dict[str, Any], answer: str, slug: str) -> None:
    dest, settings_, subs = _random_setup(slug)
    (want, want_sent), (got, got_sent) = _both(dest, event, settings_, ANSWERS[answer], subs)
    assert got == want and got_sent == want_sent


_SETUPS: dict[str, tuple[Destination, dict[str, Any], list[Any]]] = {}


def _random_setup(slug: str) -> tuple[Destination, dict[str, Any], list[Any]]:
    """The spec with the settings of its first fixture case that resolve, and its presets (or, for a spec without
    presets, the action and mapping of every fixture case with those settings)."""
    if slug not in _SETUPS:
        dest = load_destination(slug)
        settings_: dict[str, Any] | None = None
        subs: list[Any] = []
        for _event, raw, case in _cases(slug):
            try:
                resolved = resolve_settings(dest.settings_spec, raw)
            except Exception:  # noqa: BLE001 - a case about bad settings
                continue
            if settings_ is None:
                settings_ = resolved
            if resolved == settings_ and dest.presets == [] and case.get("action"):
                subs += [s for s in (_case_subscriptions(dest, case) or []) if s.name not in {t.name for t in subs}]
        assert settings_ is not None, f"{slug}: no fixture case has settings that resolve"
        _SETUPS[slug] = (dest, settings_, subs if not dest.presets else dest.subscriptions())
    return _SETUPS[slug]


def test_the_shapes_compiled_ahead_are_the_json_ones_with_settings_only_url_and_headers() -> None:
    dest = _plan_tests._shapes()
    dispatcher = Dispatcher(dest, {"token": "t"}, dest.subscriptions(), FakeDeliverer(Masker([]), ANSWERS["200"]))
    assert [route.request is not None for route in dispatcher.routes] == [True, True, False, False, False]
    (_, want_sent), (_, got_sent) = _both(dest, {"type": "track", "properties": {"a": "x"}}, {"token": "t"},
                                          ANSWERS["200"])
    assert got_sent == want_sent
    assert [req[2] for req, _ in got_sent] == [{"Content-Type": "application/json"},
                                               {"content-type": "application/vnd.x+json", "X-Key": "t"}]
