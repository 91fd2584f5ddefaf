"""`results_line` embeds a JSON body's wire bytes instead of encoding the body again, and masks the method, URL and
headers of a request apart from its body (remembered per text): the line stays exactly the `to_json` line."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.delivery.models import DISPLAY_JSON, PreparedRequest, encode_json
from engine.fuzz.runner import placeholder_settings
from engine.fuzz.strategies import json_values, segment_events
from engine.runtime import load_destination
from engine.runtime.destination import ActionResult, results_line
from engine.runtime.settings import resolve_settings, secret_values
from engine.runtime.steps import Plan
from engine.secrets import MASK, Masker

SECRET = "sk_live/9f+Ab=c&d"


def old_line(results: list[ActionResult], masker: Masker) -> bytes:
    """The line as `to_json` of every result gives it (the general path; integers beyond 64 bits exactly)."""
    return encode_json({"results": [r.to_json(masker) for r in results]}) + b"\n"


def same_outcome(results: list[ActionResult], masker: Masker) -> None:
    """`results_line` gives the `to_json` line, or fails the same way."""
    try:
        expected = old_line(results, masker)
    except TypeError:
        with pytest.raises(TypeError):
            results_line(results, masker)
        return
    assert results_line(results, masker) == expected


def line_of(*requests: PreparedRequest) -> list[ActionResult]:
    return [ActionResult("a", "p", "ok", plan=Plan(list(requests)))]


keys = st.text(max_size=8) | st.sampled_from([SECRET, f"k{SECRET}", "body", "url"])
values = json_values(max_leaves=20) | st.sampled_from([SECRET, f"x {SECRET} y", MASK])
bodies = st.dictionaries(keys, values, max_size=8) | st.lists(values, max_size=4) | values


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(body=bodies, header=st.sampled_from(["plain", SECRET, f"Bearer {SECRET}"]))
def test_reused_wire_bytes_are_the_display_encoding(body: Any, header: str) -> None:
    req = PreparedRequest.from_json("post", f"https://x.example/{SECRET}", body, headers={"Authorization": header})
    if req.encoded is not None:
        assert req.display_body_json() is req.body
        assert req.body == orjson.dumps(req.display_body(), option=DISPLAY_JSON) == encode_json(body)
    same_outcome(line_of(req), Masker([SECRET]))


def test_stale_wire_bytes_are_not_reused() -> None:
    req = PreparedRequest.from_json("post", "https://x.example/", {"k": SECRET})
    assert req.encoded is not None
    for changed in (dataclasses.replace(req, json={"k": "other"}), dataclasses.replace(req, body=b'{"k":"wire"}')):
        assert changed.display_body_json() == orjson.dumps(changed.display_body())
        same_outcome(line_of(changed), Masker([SECRET]))
    req.json = {"k": "shown"}
    assert orjson.loads(results_line(line_of(req), Masker([SECRET])))["results"][0]["requests"][0]["body"] == {
        "k": "shown"}


@pytest.mark.parametrize("body", [{"when": dt.datetime(2024, 1, 2, tzinfo=dt.UTC), "k": SECRET}, {1: SECRET},
                                  {"n": 2**70}])
def test_bodies_the_display_does_not_encode_keep_no_wire_reuse(body: Any) -> None:
    req = PreparedRequest.from_json("post", "https://x.example/", body)
    assert req.encoded is None
    assert req.body == encode_json(body)
    same_outcome(line_of(req), Masker([SECRET]))


def test_remembered_heads_stay_right() -> None:
    masker = Masker([SECRET])
    reqs = [PreparedRequest.from_json("post", f"https://x.example/{u}", {"b": u}, headers={"h": u})
            for u in ("a", SECRET, "a", SECRET, "b")]
    for req in reqs:
        same_outcome(line_of(req), masker)
    same_outcome(line_of(*reqs), masker)


SPECS = ("usermotion", "usermaven", "userpilot", "usercom")
_DESTINATIONS: dict[str, Any] = {}


def destination(slug: str) -> tuple[Any, dict[str, Any], Masker]:
    if slug not in _DESTINATIONS:
        dest = load_destination(slug)
        conf = resolve_settings(dest.settings_spec, placeholder_settings(dest.settings_spec))
        _DESTINATIONS[slug] = (dest, conf, Masker(secret_values(dest.settings_spec, conf)))
    return _DESTINATIONS[slug]


@pytest.mark.parametrize("slug", SPECS)
@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(event=segment_events())
def test_seed_specs_rendered_requests_give_the_to_json_line(slug: str, event: dict[str, Any]) -> None:
    dest, conf, masker = destination(slug)
    assert masker
    results = dest.plan_event(event, conf, dest.subscriptions())
    for result in results:
        for req in result.plan.requests if result.plan else []:
            if req.encoded is not None:  # the JSON body path made the bytes the display embeds
                assert req.body == orjson.dumps(req.json, option=DISPLAY_JSON) == encode_json(req.json)
    same_outcome(results, masker)
