"""`engine map`: JSON-lines in, one result line per event."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from engine.commands import map as map_command


def _main(argv: list[str]) -> int:
    """engine.cli.main when every command module imports, else the same parser built from `register`."""
    try:
        from engine.cli import build_parser

        parser = build_parser()
    except ImportError:
        parser = argparse.ArgumentParser(prog="engine")
        map_command.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.func(args)


def test_map_outputs_one_line_per_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    events = tmp_path / "events.jsonl"
    events.write_text(
        '{"traits": {"email": "a@b.co"}}\n\n[1, 2]\n{bad\n{"traits": {"email": 5}}\n{}\n',
        encoding="utf-8",
    )
    mapping = '{"email": {"@path": "$.traits.email"}, "up": {"@case": {"operator": "upper", "value": {"@path": "$.traits.email"}}}}'
    assert _main(["map", mapping, str(events)]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines[0] == {"output": {"email": "a@b.co", "up": "A@B.CO"}}
    assert lines[1] == {"error": "data must be an object, got array"}
    assert lines[2]["error"].startswith("invalid JSON")
    assert lines[3] == {"output": {"email": 5, "up": 5}}
    assert lines[4] == {"output": {}}
    assert len(lines) == 5


def test_map_runtime_error_and_undefined_root(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    events = tmp_path / "e.jsonl"
    events.write_text('{"a": 1}\n{"b": 1}\n', encoding="utf-8")
    mapping_file = tmp_path / "m.json"
    mapping_file.write_text('{"@path": "$.a"}', encoding="utf-8")
    assert _main(["map", f"@{mapping_file}", str(events)]) == 0
    assert capsys.readouterr().out.splitlines() == ['{"output":1}', "{}"]
    assert _main(["map", '{"x": {"@path": {"@path": "$.nope"}}}', str(events)]) == 0
    assert capsys.readouterr().out.splitlines() == ['{"error":"@path: expected string, got undefined"}'] * 2


def test_map_invalid_mapping_exits_2_with_every_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = tmp_path / "e.jsonl"
    events.write_text("{}\n", encoding="utf-8")
    assert _main(["map", '{"a": {"@path": 5}, "b": [{"@foo": 1}]}', str(events)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines() == [
        "engine map: /a/@path should be a string or a mapping directive but it is a number.",
        "engine map: /b/0 has an invalid directive: @foo.",
    ]
    # Segment mode does not look inside arrays: the array directive fails per event instead
    assert _main(["map", "--segment", '{"b": [{"@foo": 1}]}', str(events)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        '{"error":"@foo is not a valid directive, got undefined"}'
    ]


def test_map_unreadable_mapping_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert _main(["map", "@/nonexistent/m.json", "-"]) == 2
    assert "cannot read MAPPING" in capsys.readouterr().err
