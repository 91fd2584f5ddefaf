"""`engine send --config engine.yaml FILE`: the runner's pipeline (instances, mappings, routes, sandbox)
for a file of events."""

from __future__ import annotations

import json
from pathlib import Path

from emulators import UserMotionEmulator, serve_in_thread

from engine.cli import main

CONFIG = """\
sources: [{name: web, write_key: k}]
destinations:
  - id: um
    spec: usermotion
    settings: {apiKey: um-config-secret}
    mappings:
      - name: Orders only
        subscribe: type = "track" and event = "Order Completed"
        action: track
        mapping: {eventName: {"@template": "order {{properties.id}}"}}
  - id: up
    spec: userpilot
    settings: {apiKey: up-config-secret}
  - id: off
    spec: usermotion
    enabled: false
    settings: {apiKey: x}
routes:
  api.usermotion.com: BASE
  analytex.userpilot.io: sandbox
queue: {path: ./data}
"""


def test_send_with_config_delivers_to_every_enabled_instance(tmp_path: Path, capsys) -> None:
    emu = UserMotionEmulator(api_key="um-config-secret")
    events = tmp_path / "events.jsonl"
    events.write_text(json.dumps({"type": "track", "userId": "u1", "event": "Order Completed",
                                  "properties": {"id": 7}}) + "\n"
                      + json.dumps({"type": "track", "userId": "u1", "event": "Viewed"}) + "\n")
    report = tmp_path / "report.jsonl"
    with serve_in_thread(emu) as server:
        config = tmp_path / "engine.yaml"
        config.write_text(CONFIG.replace("BASE", server.base_url))
        code = main(["send", "--config", str(config), "--report", str(report), "--no-progress", str(events)])
    err = capsys.readouterr().err
    assert code == 0, err
    # the report is written as events finish; "input" gives each line's place in the file
    lines = sorted((json.loads(line) for line in report.read_text().splitlines()), key=lambda line: line["input"])
    assert [sorted(line["instances"]) for line in lines] == [["um", "up"], ["um", "up"]]
    assert [line["instances"]["um"][0]["status"] for line in lines] == ["delivered", "filtered"]
    assert [line["instances"]["up"][0]["status"] for line in lines] == ["delivered", "delivered"]
    [req] = emu.requests_to("/v1/track")
    assert req.json["event"] == "order 7"  # the instance's own mapping, not the preset
    assert "sandbox: POST https://analytex.userpilot.io/v1/track 200 [up]" in err
    assert "um-config-secret" not in err and "up-config-secret" not in err


def test_send_with_config_usage_errors(tmp_path: Path, capsys) -> None:
    config = tmp_path / "engine.yaml"
    config.write_text(CONFIG.replace("BASE", "http://127.0.0.1:9"))
    assert main(["send", "--config", str(config), "--instance", "nope", str(config)]) == 2
    assert "no enabled instance nope" in capsys.readouterr().err
    assert main(["send", "usermotion", "--instance", "um", str(config)]) == 2
    assert "--instance needs --config" in capsys.readouterr().err


def test_send_with_a_missing_or_invalid_config(tmp_path: Path, capsys) -> None:
    assert main(["send", "--config", str(tmp_path / "nope.yaml"), str(tmp_path / "e.jsonl")]) == 2
    assert "nope.yaml: no such file" in capsys.readouterr().err
    bad = tmp_path / "bad.yaml"
    bad.write_text("sources: [{name: web, write_key: k}]\ndestinations: [{id: x, spec: nosuchspec, settings: {}}]\n")
    assert main(["send", "--config", str(bad), str(tmp_path / "e.jsonl")]) == 2
    err = capsys.readouterr().err
    assert "bad.yaml:2:" in err and "nosuchspec" in err
    assert "the config is invalid; see engine config check" in err
