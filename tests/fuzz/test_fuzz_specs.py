"""CI fuzzes every spec: `engine fuzz` on each seed destination finds no internal error; the runner
catches one when there is one; the strategy is usable from authors' own tests."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from engine.cli import main
from engine.fuzz import CALL_TYPES, segment_events

ROOT = Path(__file__).resolve().parents[2]
SEEDS = ["usermotion", "usermaven", "userpilot", "usercom"]
EXAMPLES = 60


@pytest.mark.parametrize("name", SEEDS)
def test_engine_fuzz_finds_no_internal_error(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["fuzz", str(ROOT / "specs" / f"{name}.yaml"), "--examples", str(EXAMPLES)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert f"{name}: {EXAMPLES} events" in out
    assert "no internal error" in out
    plan = re.search(r"plan: +(.*)", out)
    delivery = re.search(r"delivery: +(.*)", out)
    assert plan and delivery, out
    counts = dict((k, int(v)) for k, v in re.findall(r"(\w+) (\d+)", delivery.group(1)))
    assert set(counts) <= {"delivered", "filtered", "invalid", "failed"}
    assert sum(counts.values()) >= EXAMPLES


def test_engine_fuzz_reports_an_internal_error_with_the_minimal_event(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.runtime import destination

    real = destination.Destination.prepare

    def crashing(self: destination.Destination, event: dict, sub: destination.Subscription) -> object:
        if event.get("type") == "group":
            raise RuntimeError("boom")
        return real(self, event, sub)

    monkeypatch.setattr(destination.Destination, "prepare", crashing)
    code = main(["fuzz", str(ROOT / "specs" / "usermotion.yaml"), "--examples", "50"])
    out = capsys.readouterr().out
    assert code == 1, out
    assert "INTERNAL ERROR: RuntimeError: boom" in out
    minimal = json.loads(re.search(r"minimal event: (.*)", out).group(1))
    assert minimal["type"] == "group"
    assert len(minimal) <= 3  # shrunk: the type plus what the trigger and prepare need at most


def test_engine_fuzz_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fuzz", "no-such-destination"]) == 2
    assert main(["fuzz", str(ROOT / "specs" / "usermotion.yaml"), "--examples", "0"]) == 2
    assert main(["fuzz", str(ROOT / "specs" / "usermotion.yaml"), "--settings", "[1]"]) == 2
    capsys.readouterr()


def test_same_seed_same_summary(capsys: pytest.CaptureFixture[str]) -> None:
    spec = str(ROOT / "specs" / "userpilot.yaml")
    outs = []
    for _ in range(2):
        assert main(["fuzz", spec, "--examples", "30", "--seed", "5"]) == 0
        outs.append(capsys.readouterr().out)
    assert outs[0] == outs[1]


@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
@given(segment_events())
def test_segment_events_are_json_events_of_every_kind(event: dict) -> None:
    text = json.dumps(event, allow_nan=False)  # JSON-compatible, NaN-free
    assert isinstance(json.loads(text), dict)
    assert event.get("type", "track") in (*CALL_TYPES, "TRACK", 42)


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(segment_events(["group"], integration_names=("Acme",)))
def test_segment_events_can_be_narrowed_to_a_call_type(event: dict) -> None:
    assert event["type"] == "group"
