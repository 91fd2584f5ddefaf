"""A password setting too short to be masked inside text is named by `engine config check` (a warning: the
config still loads) and is still masked where a whole value equals it (issue 18, defect 6)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.cli import main
from engine.secrets import MASK, Masker


def _config(tmp_path: Path, api_key: str) -> Path:
    path = tmp_path / "engine.yaml"
    path.write_text("sources: [{name: web, write_key: long-enough-key-1}]\n"
                    f"destinations:\n  - {{id: um, spec: usermotion, settings: {{apiKey: '{api_key}'}}}}\n")
    return path


def test_config_check_names_a_short_password_setting(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _config(tmp_path, "k3y")
    assert main(["config", "check", "--config", str(path)]) == 0  # a warning, not an error
    out, _ = capsys.readouterr()
    [line] = [x for x in out.splitlines() if "apiKey" in x]
    assert line.startswith(f"{path}:3:") and "warning" in line
    assert "destinations[0].settings.apiKey" in line and "3 characters" in line and "masked" in line
    assert "k3y" not in line


def test_config_check_json_gives_the_warning(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _config(tmp_path, "ab")
    assert main(["config", "check", "--config", str(path), "--format", "json"]) == 0
    records = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [(r["severity"], r["path"]) for r in records] == [("warning", "destinations[0].settings.apiKey")]


def test_a_long_enough_password_gets_no_warning(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _config(tmp_path, "k3y4")
    assert main(["config", "check", "--config", str(path)]) == 0
    assert "apiKey" not in capsys.readouterr().out


def test_a_short_secret_is_masked_as_a_whole_value() -> None:
    masker = Masker(["k3y"])
    assert masker.mask({"token": "k3y", "other": "a k3y b"}) == {"token": MASK, "other": "a k3y b"}
    assert masker.mask_text("k3y") == MASK
