"""A spec's `macros:` section end to end: the same macros called by several actions, a step's `when`, the batch
request and the OAuth2 token request (`engine plan` output checked); secrets masked in a macro's errors; the
located errors are in tests/spec/bad/macro-*.yaml (run by test_bad_specs.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from engine.cli import main
from engine.runtime.destination import compile_document
from engine.spec.loader import load_file, load_text
from engine.spec.validate import validate_text
from engine.templates import make_context

SPEC = Path(__file__).parent / "good" / "macros.yaml"
SETTINGS = {"clientId": "cid", "refreshToken": "rt-very-secret", "region": "US"}
IDENTIFY = {"type": "identify", "userId": "u1", "traits": {"first_name": "Ann", "last_name": "Van Dyke"}}
TRACK = {"type": "track", "userId": "u1", "event": "Order_Completed", "context": {"traits": {"first_name": "Ann"}}}
TRACK2 = {"type": "track", "userId": "u2", "event": "Signed Up"}


def _plan(capsys: pytest.CaptureFixture[str], tmp_path: Path, *args: str) -> list[Any]:
    source = tmp_path / "events.jsonl"
    source.write_text("\n".join(json.dumps(e) for e in (IDENTIFY, TRACK, TRACK2)) + "\n")
    assert main(["plan", str(SPEC), "--settings", json.dumps(SETTINGS), *args, str(source)]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_engine_plan_renders_the_same_macros_in_several_actions(capsys, tmp_path) -> None:
    lines = _plan(capsys, tmp_path)
    [identify] = lines[0]["results"][0]["requests"]
    assert identify["url"] == "https://api.us.example.com/v1/people/ann-van-dyke%3Au1"  # host, person_key → slug
    [track] = lines[1]["results"][0]["requests"]
    assert track["url"] == "https://api.us.example.com/v1/events/order-completed"
    assert track["headers"]["X-Person"] == "Ann"  # full_name with its default for `last`
    assert track["body"] == {"user": "u1", "event": "order-completed"}
    [track2] = lines[2]["results"][0]["requests"]
    assert (track2["url"], track2["headers"]["X-Person"]) == ("https://api.us.example.com/v1/events/signed-up", "")


def test_engine_plan_batch_renders_macros_in_the_batch_request(capsys, tmp_path) -> None:
    [line] = _plan(capsys, tmp_path, "--batch", "5")
    batch = next(r for r in line["requests"] if r["action"] == "track")
    assert batch["items"] == [1, 2]
    assert batch["request"]["url"] == "https://api.us.example.com/v1/events/batch"
    assert batch["request"]["body"] == {"events": "order-completed,signed-up"}


def test_a_steps_when_and_the_oauth2_request_call_macros() -> None:
    dest = compile_document(load_file(SPEC))
    create = dest.actions["identify"].runnable.steps[1]
    assert create.when is not None
    assert create.when(make_context(settings=SETTINGS, steps={"lookup": {"status": 404}})) is True
    assert create.when(make_context(settings=SETTINGS, steps={"lookup": {"status": 200}})) is False
    assert dest.oauth2 is not None
    refresh = dest.oauth2.refresh.render(make_context(settings=SETTINGS))
    assert refresh.url == "https://auth.us.example.com/oauth/token"


def test_macros_are_compiled_once_per_spec_not_per_event(monkeypatch) -> None:
    dest = compile_document(load_file(SPEC))
    from engine.templates.environment import TemplateEnvironment

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a template was parsed while rendering")

    monkeypatch.setattr(TemplateEnvironment, "parse", refuse)
    monkeypatch.setattr(TemplateEnvironment, "from_string", refuse)
    for event, url in ((TRACK, "order-completed"), (TRACK2, "signed-up")):
        [result] = dest.plan_event(event, SETTINGS, dest.subscriptions())
        assert result.plan is not None and result.plan.requests[0].url == f"https://api.us.example.com/v1/events/{url}"


def test_two_specs_with_a_macro_of_the_same_name_keep_their_own() -> None:
    def spec(body: str) -> str:
        return SPEC_TEMPLATE.replace("BODY", body)

    one = compile_document(load_text(spec("one-{{ x }}"), "one.yaml"))
    two = compile_document(load_text(spec("two-{{ x }}"), "two.yaml"))
    ctx = make_context(payload={"userId": "u"})
    assert one.actions["track"].runnable.steps[0].request.render(ctx).url == "https://api.example.com/one-u"
    assert two.actions["track"].runnable.steps[0].request.render(ctx).url == "https://api.example.com/two-u"


SPEC_TEMPLATE = """\
spec_version: 1
name: M
slug: m
settings:
  apiKey: {label: Key, type: password}
macros:
  tag:
    params: [x]
    body: "BODY"
actions:
  track:
    title: Track
    fields:
      userId: {label: User ID, type: string, default: {"@path": "$.userId"}}
    request: {method: POST, url: "https://api.example.com/{{ tag(payload.userId) }}", json: {}}
"""


def test_a_macro_may_not_put_event_data_in_the_host() -> None:
    text = SPEC_TEMPLATE.replace("BODY", "{{ x }}").replace(
        "https://api.example.com/{{ tag(payload.userId) }}", "https://{{ tag(payload.userId) }}.example.com/")
    [diag] = validate_text(text, "m.yaml")
    assert (diag.line, diag.column) == (15, 34)
    assert diag.message == ("the URL's host depends on payload.userId; hosts may come only from the spec or its "
                            "settings")


def test_a_secret_in_a_macros_error_is_masked(capsys, tmp_path) -> None:
    text = SPEC_TEMPLATE.replace("BODY", "{{ fail('refused key ' ~ x) }}").replace(
        "tag(payload.userId)", "tag(settings.apiKey)")
    spec = tmp_path / "m.yaml"
    spec.write_text(text)
    source = tmp_path / "e.jsonl"
    source.write_text(json.dumps({"type": "track", "userId": "u", "event": "e"}) + "\n")
    code = main(["plan", str(spec), "--action", "track", "--settings", json.dumps({"apiKey": "k-very-secret"}),
                 str(source)])
    out = capsys.readouterr()
    assert code == 0
    [result] = json.loads(out.out)["results"]
    assert result["status"] != "ok" and "refused key ****" in result["error"]
    assert "k-very-secret" not in out.out + out.err


def test_a_macro_past_the_budget_fails_that_event_naming_the_macro(capsys, tmp_path) -> None:
    text = SPEC_TEMPLATE.replace(
        'body: "BODY"', 'body: "{% for i in range(x | int) %}{% for j in range(x | int) %}{% endfor %}{% endfor %}"'
    )
    spec = tmp_path / "m.yaml"
    spec.write_text(text)
    source = tmp_path / "e.jsonl"
    source.write_text("\n".join(json.dumps({"type": "track", "userId": n, "event": "e"}) for n in ("5", "1000")))
    assert main(["plan", str(spec), "--action", "track", str(source)]) == 0
    small, big = (json.loads(line)["results"][0] for line in capsys.readouterr().out.splitlines())
    assert small["status"] == "ok" and small["requests"][0]["url"] == "https://api.example.com/"
    assert big["status"] != "ok"
    assert "macro 'tag': the template did too much work" in big["error"]
