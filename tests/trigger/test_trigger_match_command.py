"""`engine match TRIGGER [FILE|-]`."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from engine.cli import main

EVENTS = (
    '{"type": "track", "event": "Order Completed", "properties": {"total": 10}}\n'
    "{not json\n"
    "\n"
    "[1, 2]\n"
    '{"type": "identify", "traits": {"plan": "pro"}}\n'
)


@pytest.fixture
def events_file(tmp_path: Path) -> Path:
    path = tmp_path / "events.jsonl"
    path.write_text(EVENTS)
    return path


def test_one_line_per_event_errors_in_place(events_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["match", 'type = "track" and properties.total > 5', str(events_file)]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines() == [
        "true",
        '{"error":"line 2: invalid JSON: unexpected character, expected a string key: line 1 column 2 (char 1)"}',
        '{"error":"line 4: expected an event object, got an array"}',
        "false",
    ]
    assert err == ""


def test_reads_stdin_with_dash(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO('{"traits": {"plan": "pro"}}\n{"traits": {}}\n'))
    assert main(["match", 'traits.plan = "pro"', "-"]) == 0
    assert capsys.readouterr().out == "true\nfalse\n"


def test_invalid_trigger_exits_2_with_column(events_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["match", "type = ", str(events_file)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == "engine: trigger: col 8: expected a value after '='\n"


def test_misread_is_refused_but_segment_mode_shows_segment_reading(
        events_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    trigger = 'type = "identify" and event = "Order Completed" or properties.total = 10'
    assert main(["match", trigger, str(events_file)]) == 2
    assert "mixed without parentheses" in capsys.readouterr().err
    assert main(["match", "--segment", trigger, str(events_file)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [out[0], out[3]] == ["true", "true"]  # Segment ors all three conditions


def test_segment_mode_reports_validate_type_error(events_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["match", "--segment", 'type = "track" and (anonymousId = "x")', str(events_file)]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first == '{"error":"line 1: TypeError: Cannot read properties of undefined (reading \'type\')"}'


def test_unreadable_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["match", 'type = "track"', str(tmp_path / "missing.jsonl")]) == 2
    assert capsys.readouterr().err.startswith(f"engine: match: cannot read {tmp_path / 'missing.jsonl'}: ")


def test_help_explains_output(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["match", "--help"])
    out = capsys.readouterr().out
    assert "true | false" in out and "--segment" in out
