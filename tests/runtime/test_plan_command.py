"""`engine plan`: inputs, routing, overrides, masking, undefined-vs-null and multi-step planning."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from engine.cli import main

UM = json.dumps({"apiKey": "um-very-secret"})
IDENTIFY = {"type": "identify", "userId": "u1", "anonymousId": "a1", "traits": {"email": "e@x.io", "plan": "pro"}}


def plan(capsys: pytest.CaptureFixture[str], tmp_path: Path, args: list[str], text: str) -> tuple[int, list[Any], str]:
    source = tmp_path / "in.json"
    source.write_text(text)
    code = main(["plan", *args, str(source)])
    out = capsys.readouterr()
    return code, [json.loads(line) for line in out.out.splitlines()], out.err


def test_one_line_per_event_with_requests(capsys, tmp_path) -> None:
    code, lines, _ = plan(capsys, tmp_path, ["usermotion", "--settings", UM], json.dumps(IDENTIFY) + "\n")
    assert code == 0
    [result] = lines[0]["results"]
    assert (result["action"], result["preset"], result["status"], result["error"]) == ("identify", "Identify User", "ok", None)
    [req] = result["requests"]
    assert req["method"] == "POST" and req["url"] == "https://api.usermotion.com/v1/identify"
    assert req["body"] == {"id": "u1", "anonymousId": "a1", "properties": {"email": "e@x.io", "plan": "pro"}}


def test_secrets_are_masked_unless_asked(capsys, tmp_path) -> None:
    code, lines, err = plan(capsys, tmp_path, ["usermotion", "--settings", UM], json.dumps(IDENTIFY))
    assert "um-very-secret" not in json.dumps(lines) + err
    assert lines[0]["results"][0]["requests"][0]["headers"]["Authorization"] == "Basic ****"
    code, lines, _ = plan(capsys, tmp_path, ["usermotion", "--settings", UM, "--show-secrets"], json.dumps(IDENTIFY))
    assert lines[0]["results"][0]["requests"][0]["headers"]["Authorization"] == "Basic um-very-secret"


def test_missing_settings_show_placeholders(capsys, tmp_path) -> None:
    code, lines, err = plan(capsys, tmp_path, ["usermotion"], json.dumps(IDENTIFY))
    assert code == 0
    assert "settings not given: apiKey" in err
    assert lines[0]["results"][0]["requests"][0]["headers"]["Authorization"] == "Basic <apiKey>"


def test_array_batch_object_and_bad_lines(capsys, tmp_path) -> None:
    code, lines, _ = plan(capsys, tmp_path, ["usermotion", "--settings", UM], json.dumps([IDENTIFY, IDENTIFY]))
    assert len(lines) == 2 and all(line["results"][0]["status"] == "ok" for line in lines)
    code, lines, _ = plan(capsys, tmp_path, ["usermotion", "--settings", UM], json.dumps({"batch": [IDENTIFY]}))
    assert len(lines) == 1
    text = json.dumps(IDENTIFY) + "\n{oops\n[1]\n" + json.dumps(IDENTIFY) + "\n"
    code, lines, _ = plan(capsys, tmp_path, ["usermotion", "--settings", UM], text)
    assert code == 0
    assert [("error" in line) for line in lines] == [False, True, True, False]
    assert lines[1]["error"].startswith("line 2: invalid JSON")


def test_integrations_object_and_unmatched_events(capsys, tmp_path) -> None:
    events = [
        {**IDENTIFY, "integrations": {"All": False, "UserMotion (Actions)": True}},
        {**IDENTIFY, "integrations": {"UserMotion (Actions)": False}},
        {**IDENTIFY, "integrations": {"All": False}},
        {"type": "alias", "userId": "u1", "previousId": "u0"},
    ]
    code, lines, _ = plan(capsys, tmp_path, ["usermotion", "--settings", UM], "\n".join(map(json.dumps, events)))
    assert [len(line["results"]) for line in lines] == [1, 0, 0, 0]


def test_invalid_payload_is_reported_in_segments_words(capsys, tmp_path) -> None:
    event = {"type": "identify", "userId": "u1", "traits": {}}
    code, lines, _ = plan(capsys, tmp_path, ["usermotion", "--settings", UM], json.dumps(event))
    [result] = lines[0]["results"]
    assert result["status"] == "invalid"
    assert result["error"] == "The root value is missing the required field 'email'."
    assert result["requests"] == []


def test_action_with_mapping_override_ignores_triggers(capsys, tmp_path) -> None:
    event = {"type": "identify", "userId": "u1", "anonymousId": "a1", "event": "ignored"}
    mapping = json.dumps({"eventName": {"@template": "renamed {{userId}}"}})
    code, lines, _ = plan(capsys, tmp_path, ["usermotion", "--settings", UM, "--action", "track", "--mapping", mapping],
                          json.dumps(event))
    [result] = lines[0]["results"]
    assert result["preset"] is None and result["action"] == "track"
    assert result["requests"][0]["body"]["event"] == "renamed u1"


@pytest.mark.parametrize(("args", "message"), [
    (["--mapping", "{}"], "--mapping needs --action"),
    (["--action", "nope"], "no action 'nope' in usermotion"),
    (["--action", "track", "--mapping", '{"eventName": {"@path": 5}}'], "/eventName/@path should be a string"),
    (["--action", "track", "--mapping", '{"eventNme": "x"}'],
     "mapping: no field 'eventNme' (did you mean 'eventName'?) in action 'track' of usermotion; fields: "),
    (["--settings", "{bad"], "--settings: invalid JSON"),
    (["--settings", '{"apiKey": "k", "typo": 1}'], "unknown setting 'typo'"),
])
def test_usage_errors_exit_2(capsys, tmp_path, args: list[str], message: str) -> None:
    code, _, err = plan(capsys, tmp_path, ["usermotion", *args], json.dumps(IDENTIFY))
    assert code == 2
    assert message in err


def test_unknown_destination_and_invalid_spec(capsys, tmp_path) -> None:
    code, _, err = plan(capsys, tmp_path, ["nosuchdest"], "")
    assert code == 2 and "no spec named 'nosuchdest'" in err
    bad = tmp_path / "bad.yaml"
    bad.write_text("spec_version: 1\nname: X\nslug: x\nactions: {}\n")
    code, _, err = plan(capsys, tmp_path, [str(bad)], "")
    assert code == 2 and "bad.yaml:4:10: actions: must have at least 1 entry" in err


SPEC = """\
spec_version: 1
name: Nulls
slug: nulls
actions:
  send:
    title: Send
    fields:
      a: {label: A, type: string, allow_null: true, default: {"@path": "$.properties.a"}}
      b: {label: B, type: string, default: {"@path": "$.properties.b"}}
    request:
      method: POST
      url: https://api.example.com/x
      json: {a: "{{ payload.a }}", b: "{{ payload.b }}", both: "{{ payload | pick('a', 'b') }}"}
"""


def test_undefined_is_left_out_and_null_is_kept(capsys, tmp_path) -> None:
    spec = tmp_path / "nulls.yaml"
    spec.write_text(SPEC)
    events = [{"type": "track", "properties": {"a": None, "b": "x"}}, {"type": "track", "properties": {}}]
    code, lines, err = plan(capsys, tmp_path, [str(spec), "--action", "send"], "\n".join(map(json.dumps, events)))
    assert code == 0, err
    bodies = [line["results"][0]["requests"][0]["body"] for line in lines]
    assert bodies[0] == {"a": None, "b": "x", "both": {"a": None, "b": "x"}}
    assert bodies[1] == {"both": {}}


def test_multi_step_plan_names_the_steps_that_need_a_response(capsys, tmp_path) -> None:
    settings = json.dumps({"apiKey": "uc-secret", "appSubdomain": "acme"})
    event = {"type": "track", "userId": "u/1", "event": "Clicked", "timestamp": "2024-01-01T00:00:00Z"}
    code, lines, _ = plan(capsys, tmp_path, ["usercom", "--settings", settings], json.dumps(event))
    [result] = lines[0]["results"]
    assert result["status"] == "ok"
    assert [r["url"] for r in result["requests"]] == ["https://acme.user.com/api/public/users-by-id/u%2F1/"]
    assert result["unplanned"] and all("needs the response of" in u for u in result["unplanned"])


def test_a_file_gives_the_same_lines_in_large_writes_as_a_stream_gives_one_by_one(tmp_path) -> None:
    """Events from a file are written out in ~256 kB chunks, events on stdin line by line: same bytes, same order,
    bad lines in place (here 1,200 events, 650 kB: three writes)."""
    import subprocess
    import sys

    lines = []
    for i in range(1200):
        lines.append(json.dumps({**IDENTIFY, "userId": f"u{i}", "traits": {"email": f"e{i}@x.io", "pad": "x" * 200}}))
        if i % 500 == 7:
            lines.append("{not json")
    source = tmp_path / "events.jsonl"
    source.write_text("\n".join(lines) + "\n")
    cmd = [sys.executable, "-m", "engine", "plan", "usermotion", "--settings", UM]
    from_file = subprocess.run([*cmd, str(source)], capture_output=True, check=True).stdout
    from_stdin = subprocess.run([*cmd, "-"], input=source.read_bytes(), capture_output=True, check=True).stdout
    assert len(from_file) > 2 * (1 << 18)
    assert from_file == from_stdin
    out = from_file.splitlines()
    assert len(out) == len(lines)
    assert json.loads(out[8])["error"].startswith("line 9: invalid JSON: ")
    assert json.loads(out[-1])["results"][0]["requests"][0]["body"]["id"] == "u1199"


def test_a_type_that_is_not_text_matches_nothing(capsys, tmp_path) -> None:
    """An event whose type is a list, a number or null goes to no action (a list once crashed the type check)."""
    events = [{**IDENTIFY, "type": kind} for kind in (["identify"], 1, None, {"t": 1})] + [IDENTIFY]
    code, lines, _ = plan(capsys, tmp_path, ["usermotion", "--settings", UM], "\n".join(map(json.dumps, events)))
    assert code == 0
    assert [len(line["results"]) for line in lines] == [0, 0, 0, 0, 1]


def test_plan_loads_no_http_client_or_liquid(tmp_path) -> None:
    """`engine plan` sends nothing: it starts without aiohttp, httpx or python-liquid (~0.35 s of start-up), which
    load when something needs them."""
    import subprocess
    import sys

    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps(IDENTIFY) + "\n")
    code = ("import sys\nfrom engine.cli import main\n"
            f"main(['plan', 'usermotion', '--settings', {UM!r}, {str(source)!r}])\n"
            "print(sorted(m for m in ('aiohttp', 'httpx', 'liquid') if m in sys.modules), file=sys.stderr)\n"
            "from engine.delivery import Deliverer\nfrom engine.mapping import compile_mapping\n"
            "compile_mapping({'x': {'@liquid': '{{ properties.a }}'}})\n"
            "print(sorted(m for m in ('aiohttp', 'liquid') if m in sys.modules), Deliverer.__name__, file=sys.stderr)\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(run.stdout)["results"][0]["status"] == "ok"
    assert run.stderr.splitlines() == ["[]", "['aiohttp', 'liquid'] Deliverer"]


def test_delivery_names_load_on_first_use() -> None:
    import engine.delivery as delivery

    assert delivery.RetryPolicy.__name__ == "RetryPolicy" and "RetryPolicy" in delivery.__all__
    with pytest.raises(AttributeError, match="no attribute 'Nothing'"):
        delivery.Nothing  # noqa: B018


def test_a_live_stream_on_stdin_gets_each_line_as_its_event_arrives() -> None:
    """Events trickling in on standard input (a pipe kept open) come out one line each as they arrive, even with
    Python's own output buffering (PYTHONUNBUFFERED unset): output is written whenever no more input is waiting."""
    import os
    import select
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    proc = subprocess.Popen([sys.executable, "-m", "engine", "plan", "usermotion", "--settings", UM, "-"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    assert proc.stdin is not None and proc.stdout is not None
    try:
        for i in range(3):
            proc.stdin.write((json.dumps({**IDENTIFY, "userId": f"u{i}"}) + "\n").encode())
            proc.stdin.flush()
            ready, _, _ = select.select([proc.stdout], [], [], 20)
            assert ready, f"event {i}: no line while the input stays open"
            line = json.loads(proc.stdout.readline())
            assert line["results"][0]["requests"][0]["body"]["id"] == f"u{i}"
    finally:
        proc.stdin.close()
        proc.wait(timeout=20)
    assert proc.returncode == 0


def test_an_event_without_requests_says_why(capsys, tmp_path) -> None:
    excluded = {"type": "track", "event": "x", "userId": "u", "integrations": {"All": False}}
    unmatched = {"type": "alias", "userId": "u", "previousId": "a"}
    text = "\n".join(json.dumps(e) for e in (excluded, unmatched, IDENTIFY)) + "\n"
    code, lines, _ = plan(capsys, tmp_path, ["usermotion", "--settings", UM], text)
    assert code == 0
    assert lines[0] == {"results": [], "reason": "filtered: the event's type or its integrations object excludes "
                                                 "this destination"}
    assert lines[1]["results"] == [] and lines[1]["reason"].startswith("filtered: ")
    assert "reason" not in lines[2] and lines[2]["results"]


def _deep(levels: int) -> dict[str, Any]:
    event: dict[str, Any] = {"type": "track", "userId": "u1", "event": "Deep", "properties": {}}
    cur = event["properties"]
    for _ in range(levels - 2):
        cur["a"] = {}
        cur = cur["a"]
    return event


def test_deeply_nested_events_are_an_error_line_not_a_traceback(capsys, tmp_path) -> None:
    from engine.events import MAX_EVENT_DEPTH

    text = "\n".join(json.dumps(e) for e in (_deep(300), IDENTIFY, _deep(MAX_EVENT_DEPTH))) + "\n"
    code, lines, err = plan(capsys, tmp_path, ["usermotion", "--settings", UM], text)
    assert "Traceback" not in err
    assert lines[0] == {"error": f"line 1: the event nests objects/arrays more than {MAX_EVENT_DEPTH} levels deep"}
    assert lines[1]["results"][0]["status"] == "ok" and "results" in lines[2]
    code, lines, err = plan(capsys, tmp_path, ["usermotion", "--settings", UM], json.dumps([IDENTIFY, _deep(300)]))
    assert "results" in lines[0] and "item 2" in lines[1]["error"] and "levels deep" in lines[1]["error"]


def test_integers_beyond_64_bits_are_written_not_a_traceback(capsys, tmp_path) -> None:
    # JSON numbers beyond 64 bits are read as doubles (as JavaScript reads them); a template's `| int` then
    # makes a Python int beyond 64 bits: that event's verdict says so (it crashed engine plan in orjson).
    root = Path(__file__).resolve().parents[2]
    spec = (root / "specs" / "usermotion.yaml").read_text()
    track = '        userId: "{{ payload.userId }}"\n        anonymousId: "{{ payload.anonymousId }}"\n        context:'
    assert track in spec
    (tmp_path / "big.yaml").write_text(spec.replace(
        track, track.replace("        context:", '        big: "{{ payload.properties.n | int }}"\n        context:')))
    event = '{"type": "track", "userId": "u1", "event": "Big", "properties": {"n": 123456789012345678901234567890}}'
    for extra in ([], ["--show-secrets"]):
        code, lines, err = plan(capsys, tmp_path, [str(tmp_path / "big.yaml"), "--settings", UM, *extra], event)
        assert code == 0 and "Traceback" not in err
        # the template's native value cannot go into JSON exactly: a verdict for the event, not a traceback
        [result] = lines[0]["results"]
        assert result["status"] == "error" and not result["requests"], result
        assert "integer too large for JSON" in result["error"]
