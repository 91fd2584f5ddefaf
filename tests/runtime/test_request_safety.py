"""Hostile events against request templates (issue 18, defects 2 and 3): a `..` path segment from event
data and a header value with CR/LF/NUL are refused at render time with a verdict, never shown as a request."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.cli import main
from engine.runtime.requests import check_header, check_path, compile_request
from engine.templates import TemplateRenderError
from engine.templates.compile import make_context

SPEC = """\
spec_version: 1
name: Hostile
slug: hostile
description: Puts event data in a path and a header.
mode: cloud
accepts: [identify]
settings:
  apiKey: {label: API Key, description: The key., type: password, required: true}
request_defaults:
  headers: {x-api-key: "{{ settings.apiKey }}"}
presets:
  - {name: Identify, subscribe: type = "identify", action: identify}
actions:
  identify:
    title: Identify
    description: Profile.
    default_subscription: type = "identify"
    fields:
      userId: {label: User, description: Who., type: string, required: true, default: {"@path": "$.userId"}}
      who: {label: Who, description: Header., type: string, default: {"@path": "$.traits.who"}}
    request:
      method: POST
      url: "https://api.x.test/v1/users/{{ payload.userId }}/profile"
      headers: {X-User: "{{ payload.who }}"}
      json: {id: "{{ payload.userId }}"}
"""


def plan(tmp_path: Path, capsys: pytest.CaptureFixture[str], event: dict) -> dict:
    spec = tmp_path / "hostile.yaml"
    spec.write_text(SPEC)
    source = tmp_path / "in.json"
    source.write_text(json.dumps(event) + "\n")
    main(["plan", str(spec), "--settings", json.dumps({"apiKey": "k-123456"}), str(source)])
    out = capsys.readouterr().out
    [line] = out.splitlines()
    [result] = json.loads(line)["results"]
    return result


@pytest.mark.parametrize("user", ["..", "."])
def test_a_dot_segment_from_event_data_is_refused(tmp_path, capsys, user) -> None:
    result = plan(tmp_path, capsys, {"type": "identify", "userId": user, "traits": {"who": "a"}})
    assert result["status"] == "error" and not result.get("requests")
    assert "'.' or '..'" in result["error"]


@pytest.mark.parametrize("user", ["...", "a..b", ".hidden", "u1", "%2e%2E", "/../"])  # encoded: one segment
def test_other_dots_stay_one_segment(tmp_path, capsys, user) -> None:
    result = plan(tmp_path, capsys, {"type": "identify", "userId": user, "traits": {"who": "a"}})
    assert result["status"] == "ok"
    assert result["requests"][0]["url"].startswith("https://api.x.test/v1/users/")
    assert result["requests"][0]["url"].endswith("/profile")


@pytest.mark.parametrize("who", ["a\r\nX-Injected: 1", "a\nb", "a\x00b", "a\x1bb", "a\x7f"])
def test_a_control_character_in_a_header_is_refused_naming_the_header(tmp_path, capsys, who) -> None:
    result = plan(tmp_path, capsys, {"type": "identify", "userId": "u1", "traits": {"who": who}})
    assert result["status"] == "error" and not result.get("requests")
    assert "header 'X-User'" in result["error"]


def test_a_tab_in_a_header_is_kept(tmp_path, capsys) -> None:
    result = plan(tmp_path, capsys, {"type": "identify", "userId": "u1", "traits": {"who": "a\tb"}})
    assert result["status"] == "ok" and result["requests"][0]["headers"]["X-User"] == "a\tb"


def test_the_checks_directly() -> None:
    check_path("https://h.test/a/b.c/..d?x=/../#/..")  # query and fragment are not the path
    with pytest.raises(TemplateRenderError):
        check_path("https://h.test/a/%2E%2e/b")
    with pytest.raises(TemplateRenderError, match="'H'"):
        check_header("H", "x\ry")
    req = compile_request({"method": "GET", "url": "https://h.test/{{ payload.p }}/x"})
    with pytest.raises(TemplateRenderError):
        req.render(make_context(payload={"p": ".."}))


@pytest.mark.parametrize(("url", "scheme"), [("file:///etc/passwd", "file"), ("api://x/", "api"),
                                            ("gopher://h/{{ payload.userId }}", "gopher")])
def test_a_url_scheme_but_http_s_is_refused_at_validate_time(tmp_path, capsys, url, scheme) -> None:
    spec = tmp_path / "hostile.yaml"
    spec.write_text(SPEC.replace('"https://api.x.test/v1/users/{{ payload.userId }}/profile"', json.dumps(url)))
    code = main(["validate", str(spec)])
    out = capsys.readouterr()
    text = out.out + out.err
    line = next(i for i, row in enumerate(SPEC.splitlines(), 1) if row.strip().startswith("url:"))
    col = SPEC.splitlines()[line - 1].index("url:") + len("url: ") + 1
    assert code != 0
    assert f"{spec}:{line}:{col}" in text and f"got the scheme {scheme!r}" in text


def test_http_and_https_urls_validate(tmp_path, capsys) -> None:
    spec = tmp_path / "hostile.yaml"
    spec.write_text(SPEC)
    assert main(["validate", str(spec)]) == 0, capsys.readouterr()
