from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.cli import main

ROOT = Path(__file__).resolve().parents[2]


def test_example_config_checks_ok(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WEB_WRITE_KEY", raising=False)
    assert main(["config", "check", "--config", str(ROOT / "examples" / "engine.yaml")]) == 0
    out, err = capsys.readouterr()
    assert out == ""
    assert "ok: 1 source, 4 destination instances (4 enabled), 4 routes" in err
    assert "dev-write-key" not in err


def test_invalid_config_exits_1_with_every_problem(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECRET_KEY_X", "very-secret-value")
    monkeypatch.delenv("MISSING_VAR_X", raising=False)
    path = tmp_path / "engine.yaml"
    path.write_text("sources: [{name: web, write_key: '${SECRET_KEY_X}'}]\n"
                    "destinations:\n"
                    "  - {id: a, spec: usermotion, settings: {apiKey: '${MISSING_VAR_X}'}}\n"
                    "queue: {durability: '${SECRET_KEY_X}'}\n")
    assert main(["config", "check", "--config", str(path)]) == 1
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert lines == [
        f"{path}:3:51: destinations[0].settings.apiKey: environment variable MISSING_VAR_X is not set "
        "(set it, or write ${MISSING_VAR_X:-default})",
        f"{path}:4:21: queue.durability: '****' is not one of full, normal",
    ]
    assert "invalid: 2 errors" in err
    assert "very-secret-value" not in out + err


def test_json_format(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "engine.yaml"
    path.write_text("destinations: [{id: a, spec: nosuchspec}]\n")
    assert main(["config", "check", "--config", str(path), "--format", "json"]) == 1
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["severity"] for r in records] == ["warning", "error"]
    assert records[1]["path"] == "destinations[0].spec" and records[1]["line"] == 1


def test_missing_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "check", "--config", str(tmp_path / "nope.yaml")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_config_without_subcommand_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config"]) == 2


def test_a_short_write_key_is_warned_about(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "engine.yaml"
    path.write_text("sources: [{name: web, write_key: abc}, {name: app, write_key: long-enough-key-1}]\n"
                    "destinations: []\n")
    assert main(["config", "check", "--config", str(path)]) == 0  # a warning, not an error
    out, err = capsys.readouterr()
    [line] = [x for x in out.splitlines() if "sources[0]" in x]
    assert line.startswith(f"{path}:1:") and "warning" in line and "sources[0].write_key" in line and "3 characters" in line
    assert "abc" not in line.replace("characters", "")
