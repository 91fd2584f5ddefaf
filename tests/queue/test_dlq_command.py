from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from engine.cli import main
from engine.commands.dlq import parse_when
from engine.queue import SQLiteQueue

NOW = 1_750_000_000.0


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Path, Path]:
    config = tmp_path / "engine.yaml"
    config.write_text("sources: [{name: web, write_key: wk-1}]\n"
                      "destinations:\n"
                      "  - {id: um-a, spec: usermotion, settings: {apiKey: k}}\n"
                      "  - {id: um-b, spec: usermotion, settings: {apiKey: k}}\n"
                      "queue: {path: data}\n")
    data = tmp_path / "data"
    clock = [time.time() - 3 * 3600]  # three failures, one hour apart, ending an hour ago
    queue = SQLiteQueue(data, clock=lambda: clock[0])
    for i, (instance, reason) in enumerate([("um-a", "HTTP 400 Bad Request"), ("um-b", "HTTP 401 Unauthorized"),
                                            ("um-a", "timeout")]):
        queue.enqueue([{"type": "track", "event": "Order Completed", "messageId": f"m{i}", "userId": "u"}], [instance])
        job = queue.lease(1, 30)[0]
        queue.dead_letter(job.id, {"status": "failed", "reason": reason, "error": f"{reason} after 1 attempt",
                                   "response_excerpt": '{"error":"bad"}'})
        clock[0] += 3600
    queue.close()
    return config, data


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_list_table_and_filters(setup: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    config, _ = setup
    code, out, err = run(capsys, "dlq", "list", "--config", str(config))
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["ID", "FAILED", "AT", "INSTANCE", "TYPE", "MESSAGE", "ID", "ATTEMPTS", "REASON"]
    assert len(lines) == 4 and "track Order Completed" in lines[1] and "HTTP 400 Bad Request" in lines[1]
    assert "3 dead letters" in err
    code, out, _ = run(capsys, "dlq", "list", "--config", str(config), "--instance", "um-a", "--format", "json")
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["verdict"]["reason"] for r in records] == ["HTTP 400 Bad Request", "timeout"]
    code, out, _ = run(capsys, "dlq", "list", "--config", str(config), "--reason", "http 4", "--since", "150m",
                       "--format", "json")
    assert [json.loads(line)["instance"] for line in out.splitlines()] == ["um-b"]
    code, out, err = run(capsys, "dlq", "list", "--config", str(config), "--instance", "nobody")
    assert code == 1 and out == "" and "0 dead letters" in err


def test_show(setup: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    config, _ = setup
    code, out, _ = run(capsys, "dlq", "show", "1", "--config", str(config))
    assert code == 0
    assert "instance:    um-a" in out and "reason:      HTTP 400 Bad Request" in out
    assert 'response:    {"error":"bad"}' in out and '"event": "Order Completed"' in out
    code, out, _ = run(capsys, "dlq", "show", "2", "--config", str(config), "--format", "json")
    assert json.loads(out)["instance"] == "um-b"
    code, _, err = run(capsys, "dlq", "show", "99", "--config", str(config))
    assert code == 1 and "no dead letter 99" in err


def test_replay_puts_back_into_queue(setup: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    config, data = setup
    code, _, err = run(capsys, "dlq", "replay", "--config", str(config), "--instance", "um-a", "--reason", "400")
    assert code == 0 and "replayed 1 dead letter (instance um-a and reason 400)" in err
    code, out, _ = run(capsys, "dlq", "replay", "3", "--config", str(config), "--format", "json")
    assert json.loads(out) == {"replayed": 1}
    with SQLiteQueue(data) as queue:
        assert queue.depth() == {"um-a": 2}
        assert [d.instance for d in queue.dlq.list()] == ["um-b"]
    code, _, _ = run(capsys, "dlq", "replay", "1", "--config", str(config))
    assert code == 1  # already replayed


def test_purge_needs_yes(setup: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    config, data = setup
    code, _, err = run(capsys, "dlq", "purge", "--config", str(config), "--until", "90m")
    assert code == 2 and "would delete 2 dead letters" in err and "--yes" in err
    code, _, err = run(capsys, "dlq", "purge", "--config", str(config), "--until", "90m", "--yes")
    assert code == 0 and "purged 2 dead letters" in err
    with SQLiteQueue(data) as queue:
        assert [d.reason for d in queue.dlq.list()] == ["timeout"]


def test_bad_time_and_missing_queue(tmp_path: Path, setup: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    config, _ = setup
    code, _, err = run(capsys, "dlq", "list", "--config", str(config), "--since", "yesterday")
    assert code == 2 and "neither an ISO time" in err
    other = tmp_path / "other.yaml"
    other.write_text("destinations: []\nqueue: {path: empty}\n")
    code, _, err = run(capsys, "dlq", "list", "--config", str(other))
    assert code == 2 and "no queue in" in err
    code, _, err = run(capsys, "dlq", "list", "--config", str(tmp_path / "nope.yaml"))
    assert code == 2 and "no such file" in err


def test_parse_when() -> None:
    assert parse_when("2h", NOW) == NOW - 7200
    assert parse_when("30m", NOW) == NOW - 1800
    assert parse_when("1w", NOW) == NOW - 604800
    assert parse_when("2025-06-15T16:26:40Z", NOW) == 1_750_004_800.0
    assert parse_when("2025-06-15T18:26:40+02:00", NOW) == 1_750_004_800.0
    assert parse_when("2025-06-15", NOW) == 1_749_945_600.0
    with pytest.raises(ValueError):
        parse_when("soon", NOW)
