"""Small things a person notices: `engine --version`, `--settings FILE` without `@`, counted nouns and
kinds of values said as words."""

from __future__ import annotations

import json
from importlib.metadata import version
from pathlib import Path

import pytest

from engine.cli import main


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out == f"engine {version('engine')}\n"


def test_settings_file_without_at_suggests_at(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = tmp_path / "up.json"
    settings.write_text('{"apiKey": "k"}')
    events = tmp_path / "in.jsonl"
    events.write_text('{"type": "track", "event": "x", "userId": "u"}\n')
    assert main(["plan", "usermotion", "--settings", str(settings), str(events)]) == 2
    assert f"--settings: '{settings}' is not JSON text; to read the file, write @{settings}" in capsys.readouterr().err
    assert main(["plan", "usermotion", "--settings", "nope.json", str(events)]) == 2
    assert "to read the file, write @nope.json" in capsys.readouterr().err


def test_one_problem_is_singular(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("spec_version: 1\nname: X\nslug: x\nactions: {}\n")
    assert main(["plan", str(bad), str(tmp_path / "none.jsonl")]) == 2
    err = capsys.readouterr().err
    assert "the spec is invalid (1 problem);" in err and "1 problems" not in err


def test_kinds_of_values_are_words(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    events = tmp_path / "in.json"
    events.write_text(json.dumps([["a"], "b"]))
    main(["plan", "usermotion", str(events)])
    out = capsys.readouterr().out
    assert "expected a JSON object, found a list" in out and "found a string" in out
    assert "found list" not in out and "found str" not in out


def test_serve_on_a_busy_port_suggests_port(capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    root = Path(__file__).resolve().parents[1]
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        code = main(["serve", "--config", str(root / "examples" / "engine.yaml"), "--host", "127.0.0.1",
                     "--port", str(port)])
    assert code == 2
    err = capsys.readouterr().err
    assert f"engine serve: cannot listen on 127.0.0.1:{port}: Address already in use; another process uses port " \
           f"{port}: stop it, or give another with --port (0 picks a free one)" in err


def test_event_count_of_a_file_input(tmp_path: Path) -> None:
    from engine.events import count_events

    lines = tmp_path / "a.jsonl"
    lines.write_text('{"type": "track"}\n\n{"type": "identify"}\n{"type": "page"}\n')
    array = tmp_path / "b.json"
    array.write_text(json.dumps([{"type": "track"}] * 4))
    batch = tmp_path / "c.json"
    batch.write_text(json.dumps({"batch": [{"type": "track"}] * 5}))
    assert [count_events(str(p)) for p in (lines, array, batch)] == [3, 4, 5]
    assert count_events("-") is None and count_events(str(tmp_path / "missing.json")) is None


def test_progress_bar_has_a_total_for_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import io
    import sys

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    root = Path(__file__).resolve().parents[1]
    events = tmp_path / "in.jsonl"
    events.write_text("".join(json.dumps({"type": "track", "event": f"e{i}", "userId": "u"}) + "\n" for i in range(3)))
    monkeypatch.chdir(tmp_path)
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    main(["send", "--config", str(root / "examples" / "engine.yaml"), str(events)])
    assert "3/3" in terminal.getvalue()
