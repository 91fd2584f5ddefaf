"""`engine test`: fixture cases, diffs, --update, coverage, and the mutation check."""

from __future__ import annotations

import copy
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from engine.cli import main

STATUSES = ["delivered", "filtered", "invalid", "error", "failed"]


@pytest.fixture
def acme(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    assert main(["new", "acme", "--dir", str(tmp_path)]) == 0
    capsys.readouterr()
    return tmp_path / "acme.yaml"


def run_test(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(["test", *argv])
    return code, capsys.readouterr().out


def test_scaffold_passes_with_full_coverage(acme: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run_test(capsys, str(acme))
    assert code == 0
    assert out == f"""\
{acme.with_name('acme.tests.yaml')}
  pass a track event becomes one POST
  pass an event without a user id is invalid
  pass a refused key fails with the spec's hint
  pass identify calls match no preset
  pass an action run directly, with a mapping override
  5 cases: 5 passed, 0 failed
  coverage: every action, preset and field is exercised
1 spec tested (0 without tests file): 5 cases, 5 passed, 0 failed
"""


def leaves(value: Any, path: tuple = ()) -> list[tuple]:
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in leaves(v, (*path, k))]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in leaves(v, (*path, i))]
    return [path]


def mutations(value: Any, key: Any) -> list[Any]:
    if key == "status":
        return [s for s in STATUSES if s != value]
    if isinstance(value, bool):
        return [not value]
    if isinstance(value, (int, float)):
        return [value + 1, str(value)]
    if value is None:
        return ["x"]
    return [f"{value}~", value.upper() if value != value.upper() else value.lower(), 1]


def test_mutating_any_expected_value_fails(acme: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tests = acme.with_name("acme.tests.yaml")
    cases = YAML(typ="safe").load(tests.read_text())
    plain = YAML(typ="safe")
    checked = 0
    for index, case in enumerate(cases):
        for path in leaves(case["expect"]):
            target = case["expect"]
            for step in path[:-1]:
                target = target[step]
            for new in mutations(target[path[-1]], path[-1]):
                mutated = copy.deepcopy(cases)
                spot = mutated[index]["expect"]
                for step in path[:-1]:
                    spot = spot[step]
                spot[path[-1]] = new
                with tests.open("w") as fh:
                    plain.dump(mutated, fh)
                code, out = run_test(capsys, str(acme))
                assert code == 1, f"case {case['name']}: expect{list(path)} = {new!r} still passes:\n{out}"
                checked += 1
    assert checked >= 40


def test_failure_shows_a_diff(acme: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tests = acme.with_name("acme.tests.yaml")
    tests.write_text(tests.read_text().replace("body: {user: user-1, name: Signed Up", "body: {user: user-9, name: Signed Up"))
    code, out = run_test(capsys, str(acme))
    assert code == 1
    assert """\
  FAIL a track event becomes one POST
      --- expected
      +++ actual
      @@ -7,7 +7,7 @@
               "Authorization": "Bearer test-key"
             },
             "body": {
      -        "user": "user-9",
      +        "user": "user-1",
               "name": "Signed Up",
               "source": "acme"
             }
""" in out


def test_update_rewrites_failing_expectations_and_keeps_comments(acme: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tests = acme.with_name("acme.tests.yaml")
    original = tests.read_text()
    tests.write_text(original.replace("error: userId}", "error: nope}"))
    code, out = run_test(capsys, str(acme), "--update")
    assert code == 0
    assert "  UPDATED an event without a user id is invalid\n" in out
    assert '      -  "error": "nope"\n      +  "error": "The root value is missing the required field \'userId\'."' in out
    text = tests.read_text()
    assert text.startswith("# Cases for `engine test acme`")
    assert "expect: {status: invalid, error: The root value is missing the required field 'userId'.}" in text
    assert "- name: a track event becomes one POST\n" in text and "# only the headers listed are compared" in text
    assert run_test(capsys, str(acme))[0] == 0


def test_update_writes_missing_expect(acme: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tests = acme.with_name("acme.tests.yaml")
    tests.write_text("- name: new case\n  event: {type: track, event: Paid, userId: u}\n  settings: {apiKey: k}\n")
    code, out = run_test(capsys, str(acme))
    assert code == 1 and "FAIL new case: no 'expect'" in out
    assert run_test(capsys, str(acme), "--update")[0] == 0
    expect = YAML(typ="safe").load(tests.read_text())[0]["expect"]
    # content-type is left out: the runtime does not add one to JSON bodies yet (engine/runtime/requests.py)
    headers = {k: v for k, v in expect["requests"][0].pop("headers").items() if k.lower() != "content-type"}
    assert headers == {"Authorization": "Bearer k"}
    assert expect == {"requests": [{"method": "POST", "url": "https://example.com/api/v1/events",
                                    "body": {"user": "u", "name": "Paid", "source": "acme"}}]}
    assert run_test(capsys, str(acme))[0] == 0


def test_coverage_names_what_no_case_exercises(acme: Path, capsys: pytest.CaptureFixture[str]) -> None:
    acme.with_name("acme.tests.yaml").write_text(
        "- name: filtered\n  event: {type: identify}\n  settings: {apiKey: k}\n  expect: {status: filtered}\n")
    code, out = run_test(capsys, str(acme))
    assert code == 0
    assert "  uncovered: action trackEvent; preset Track Event; field userId, eventName of trackEvent\n" in out


def test_responses_preset_and_header_subset(acme: Path, capsys: pytest.CaptureFixture[str]) -> None:
    acme.with_name("acme.tests.yaml").write_text("""\
- name: a mocked 503 fails the preset
  preset: Track Event
  event: {type: track, event: A, userId: u}
  settings: {apiKey: k}
  responses:
    - {method: POST, url: "https://example.com/api/v1/events", status: 503, json: {}}
  expect:
    requests: [{method: POST, url: "https://example.com/api/v1/events", headers: {AUTHORIZATION: Bearer k}}]
    status: failed
    error: HTTP 503
- name: unknown preset
  preset: Nope
  event: {type: track}
  expect: {status: filtered}
""")
    code, out = run_test(capsys, str(acme))
    assert code == 1
    assert "  pass a mocked 503 fails the preset\n" in out
    assert "  FAIL unknown preset: settings: setting 'apiKey' (API Key) is required\n" in out


def test_specs_without_tests_are_skipped(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["new", "acme", "--dir", str(tmp_path)])
    (tmp_path / "acme.tests.yaml").unlink()
    capsys.readouterr()
    code, out = run_test(capsys, str(tmp_path))
    assert code == 0
    assert out == (f"{tmp_path / 'acme.yaml'}: no tests file ({tmp_path / 'acme.tests.yaml'}); skipped\n"
                   "0 specs tested (1 without tests file): 0 cases, 0 passed, 0 failed\n")


def test_malformed_tests_file_fails(acme: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tests = acme.with_name("acme.tests.yaml")
    tests.write_text("- name: x\n  event: {type: track}\n  expected: {}\n")
    code, out = run_test(capsys, str(acme))
    assert code == 1 and f"{tests}: case 1: unknown key expected" in out


def test_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["test", "no-such-spec"]) == 2
    assert main(["test", "--watch", "--update", "x"]) == 2


def test_watch_reruns_on_change(acme: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "engine", "test", str(acme), "--watch", "--interval", "0.1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")), daemon=True)  # type: ignore[union-attr]
    reader.start()

    def wait_for(text: str, seconds: float) -> bool:  # waits on what the process printed, not on its speed
        until = time.monotonic() + seconds
        while time.monotonic() < until and proc.poll() is None:
            if any(text in line for line in lines):
                return True
            time.sleep(0.05)
        return False

    try:
        wait_for("5 cases: 5 passed, 0 failed", 60)
        tests = acme.with_name("acme.tests.yaml")
        changed = tests.read_text().replace("error: userId}", "error: nope}")
        for _ in range(30):  # written again until seen: the watcher takes its first stamps after the first run
            tests.write_text(changed)
            if wait_for("5 cases: 4 passed, 1 failed", 2):
                break
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        reader.join(timeout=10)
    out = "".join(lines)
    assert "5 cases: 5 passed, 0 failed" in out
    assert f"--- {acme.with_name('acme.tests.yaml')} changed; rerunning" in out
    assert "5 cases: 4 passed, 1 failed" in out


def test_update_keeps_comments_on_the_lines_it_rewrites(acme: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tests = acme.with_name("acme.tests.yaml")
    original = tests.read_text()
    tests.write_text(original.replace("body: {user: user-1, name: Signed Up", "body: {user: user-9, name: Signed Up")
                     .replace("error: userId}", "error: nope}"))
    code, out = run_test(capsys, str(acme), "--update")
    assert code == 0
    assert "  UPDATED a track event becomes one POST\n" in out and "  UPDATED an event without a user id is invalid\n" in out
    text = tests.read_text()
    for comment in ("# every request sent, in order", "# only the headers listed are compared",
                    "# a verdict and a substring of its error", "# reuse with *settings below"):
        assert comment in text
    assert "body: {user: user-1, name: Signed Up, source: acme}" in text
    assert run_test(capsys, str(acme))[0] == 0


def test_unused_mock_fails_the_case_and_is_not_updated(acme: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tests = acme.with_name("acme.tests.yaml")
    moved = tests.read_text().replace('url: "https://example.com/api/v1/events", status: 401',
                                      'url: "https://example.com/api/v2/events", status: 401')
    tests.write_text(moved)
    expected = ("  FAIL a refused key fails with the spec's hint: mock responses[0] (POST https://example.com/api/v2/events)"
                " matched no request (fix its method or url; --update does not rewrite this case)\n")
    code, out = run_test(capsys, str(acme))
    assert code == 1 and expected in out
    code, out = run_test(capsys, str(acme), "--update")
    assert code == 1 and expected in out
    assert tests.read_text() == moved  # the expected failure was not turned into an expected delivery


def test_update_summary_counts_every_case(acme: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tests = acme.with_name("acme.tests.yaml")
    tests.write_text(tests.read_text().replace("error: userId}", "error: nope}"))
    code, out = run_test(capsys, str(acme), "--update")
    assert code == 0
    assert "  5 cases: 4 passed, 0 failed, 1 updated\n" in out
    assert out.endswith("1 spec tested (0 without tests file): 5 cases, 4 passed, 0 failed, 1 updated\n")


def test_unknown_mapping_field_fails_the_case_with_a_suggestion(acme: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tests = acme.with_name("acme.tests.yaml")
    tests.write_text(tests.read_text().replace('mapping: {eventName: {"@template": "Renamed"}}',
                                               'mapping: {eventNam: {"@template": "Renamed"}}'))
    code, out = run_test(capsys, str(acme))
    assert code == 1
    assert ("  FAIL an action run directly, with a mapping override: mapping: no field 'eventNam' "
            "(did you mean 'eventName'?) in action 'trackEvent' of acme; fields: userId, eventName\n") in out
