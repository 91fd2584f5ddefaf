"""The seed destinations' fixtures (specs/<name>.tests.yaml) pass, and together they exercise every
action and preset of their spec (the coverage line names nothing but, at most, fields)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from engine.cli import main

ROOT = Path(__file__).resolve().parents[2]
SEEDS = ["usermotion", "usermaven", "userpilot", "usercom"]


@pytest.mark.parametrize("name", SEEDS)
def test_seed_fixtures_pass_and_cover_every_action_and_preset(
        name: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    code = main(["test", str(ROOT / "specs" / f"{name}.yaml")])
    out = capsys.readouterr().out
    assert code == 0, out
    assert re.search(r"^  \d+ cases: \d+ passed, 0 failed$", out, re.M), out
    assert "FAIL" not in out
    coverage = [line.strip() for line in out.splitlines() if line.startswith(("  uncovered:", "  coverage:"))]
    assert len(coverage) == 1, out
    items = coverage[0].removeprefix("uncovered:").split("; ") if coverage[0].startswith("uncovered:") else []
    assert not [i for i in items if i.strip().startswith(("action ", "preset "))], coverage[0]


def test_seed_fixtures_have_failure_paths() -> None:
    """Each seed's tests file has invalid, filtered and failed cases, not only the happy path."""
    for name in SEEDS:
        text = (ROOT / "specs" / f"{name}.tests.yaml").read_text(encoding="utf-8")
        for status in ("invalid", "filtered", "failed"):
            assert f"status: {status}" in text, (name, status)
