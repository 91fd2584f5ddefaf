"""Each seed spec end to end: `engine send --route HOST=<emulator>` over loopback, and what the
emulator (written from the API descriptions, not from the specs) received."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from emulators import (
    UserComEmulator,
    UsermavenEmulator,
    UserMotionEmulator,
    UserpilotEmulator,
    serve_in_thread,
)

from engine.cli import main

ENGAGE = {"type": "identify", "userId": "u-engage", "anonymousId": "a-engage",
          "traits": {"email": "eng@example.com", "order_completed_last_30days": True}}


def send(tmp_path: Path, dest: str, settings: dict[str, Any], route: str, events: list[dict[str, Any]],
         capsys: pytest.CaptureFixture[str]) -> tuple[int, list[dict[str, Any]], str]:
    source = tmp_path / "events.jsonl"
    source.write_text("\n".join(json.dumps(e) for e in events) + "\n")
    report = tmp_path / "report.jsonl"
    code = main(["send", dest, "--settings", json.dumps(settings), "--route", route, "--report", str(report),
                 "--attempts", "2", "--no-progress", str(source)])
    err = capsys.readouterr().err
    lines = [json.loads(line) for line in report.read_text().splitlines()]
    return code, lines, err


def test_usermotion_identify_and_engage_boolean(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    emu = UserMotionEmulator(api_key="um-secret-key")
    with serve_in_thread(emu) as server:
        code, report, err = send(tmp_path, "usermotion", {"apiKey": "um-secret-key"},
                                 f"api.usermotion.com={server.base_url}", [ENGAGE], capsys)
    assert code == 0, err
    assert report[0]["verdicts"][0]["status"] == "delivered"
    [req] = emu.requests_to("/v1/identify")
    assert req.headers["authorization"] == "Basic um-secret-key"
    assert req.json["properties"]["order_completed_last_30days"] is True
    assert "um-secret-key" not in err


def test_userpilot_engage_boolean_lands_in_metadata(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    emu = UserpilotEmulator(api_key="up-secret-key")
    with serve_in_thread(emu) as server:
        code, report, err = send(tmp_path, "userpilot", {"apiKey": "up-secret-key"},
                                 f"analytex.userpilot.io={server.base_url}", [ENGAGE], capsys)
    assert code == 0, err
    [req] = emu.requests_to("/v1/identify")
    assert req.json["user_id"] == "u-engage"
    assert req.json["metadata"]["order_completed_last_30days"] is True


def test_usermaven_engage_boolean_lands_in_custom(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    emu = UsermavenEmulator(api_key="mv-key", server_token="mv-token")
    with serve_in_thread(emu) as server:
        code, report, err = send(tmp_path, "usermaven", {"api_key": "mv-key", "server_token": "mv-token"},
                                 f"events.usermaven.com={server.base_url}", [ENGAGE], capsys)
    assert code == 0, err
    [req] = emu.requests_to("/api/v1/s2s/event")
    assert req.json["event_type"] == "user_identify"
    assert req.json["user"]["custom"]["order_completed_last_30days"] is True
    assert "mv-token" not in err


def test_permanent_failure_is_reported_and_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    emu = UserMotionEmulator(api_key="right-key")
    with serve_in_thread(emu) as server:
        code, report, err = send(tmp_path, "usermotion", {"apiKey": "wrong-key-123"},
                                 f"api.usermotion.com={server.base_url}", [ENGAGE], capsys)
    assert code == 1
    verdict = report[0]["verdicts"][0]
    assert verdict["status"] == "failed"
    assert verdict["attempts"] == 1  # 401 is not retried
    assert "401" in verdict["reason"]
    assert "wrong-key-123" not in err and "wrong-key-123" not in json.dumps(report)


def test_retry_then_delivered_and_filtered_and_invalid(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    emu = UserMotionEmulator(api_key="k-123456")
    emu.faults.add(status=503, times=1, retry_after="0")
    events = [ENGAGE,
              {"type": "alias", "userId": "x", "previousId": "y"},           # no preset for alias
              {"type": "identify", "userId": "u-no-email", "traits": {}},    # email is required
              {"type": "track", "event": "E", "userId": "u", "integrations": {"All": False}}]
    with serve_in_thread(emu) as server:
        code, report, err = send(tmp_path, "usermotion", {"apiKey": "k-123456"},
                                 f"api.usermotion.com={server.base_url}", events, capsys)
    statuses = [r["verdicts"][0]["status"] for r in sorted(report, key=lambda r: r["input"])]
    assert statuses == ["delivered", "filtered", "invalid", "filtered"]
    delivered = next(r for r in report if r["input"] == 1)["verdicts"][0]
    assert delivered["attempts"] == 2
    assert code == 1  # an invalid event makes the run fail
    assert "1 invalid" in err


# --- User.com: multi-step flows against a stateful emulator -------------------------------------------

UC_SETTINGS = {"apiKey": "uc-secret-key", "appSubdomain": "acme"}


def uc_send(tmp_path: Path, emu: UserComEmulator, events: list[dict[str, Any]],
            capsys: pytest.CaptureFixture[str]) -> tuple[int, list[dict[str, Any]], str]:
    with serve_in_thread(emu) as server:
        return send(tmp_path, "usercom", UC_SETTINGS, f"acme.user.com={server.base_url}", events, capsys)


def test_usercom_new_user_is_created_with_attributes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    emu = UserComEmulator(api_key="uc-secret-key")
    code, _, err = uc_send(tmp_path, emu, [{**ENGAGE, "traits": {**ENGAGE["traits"], "gender": "F",
                                                                   "firstName": "Ada"}}], capsys)
    assert code == 0, err
    assert [(r.method, r.path) for r in emu.received] == [
        ("GET", "/api/public/users-by-id/u-engage/"), ("POST", "/api/public/users/")]
    user = emu.find_user(custom_id="u-engage")
    assert user is not None
    assert user["email"] == "eng@example.com"
    assert user["gender"] == 3
    assert user["order_completed_last_30days"] is True


def test_usercom_existing_user_is_updated(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    emu = UserComEmulator(api_key="uc-secret-key")
    existing = emu.add_user(custom_id="u-engage", email="old@example.com")
    code, _, err = uc_send(tmp_path, emu, [ENGAGE], capsys)
    assert code == 0, err
    assert [(r.method, r.path) for r in emu.received] == [
        ("GET", "/api/public/users-by-id/u-engage/"), ("PUT", f"/api/public/users/{existing['id']}/")]
    assert emu.users[existing["id"]]["email"] == "eng@example.com"


def test_usercom_anonymous_only_user_track(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    emu = UserComEmulator(api_key="uc-secret-key")
    event = {"type": "track", "anonymousId": "anon/1 x", "event": "Clicked", "properties": {"a": 1},
             "timestamp": "2024-01-02T03:04:05Z"}
    code, _, err = uc_send(tmp_path, emu, [event], capsys)
    assert code == 0, err
    methods = [(r.method, r.path) for r in emu.received]
    assert methods == [("GET", "/api/public/users/search/"), ("POST", "/api/public/users/"),
                       ("POST", "/api/public/events/")]
    assert emu.received[0].query == {"key": "anon/1 x"}
    created = emu.find_user(user_key="anon/1 x")
    assert created is not None
    assert emu.received[2].json == {"user_id": created["id"], "name": "Clicked", "timestamp": 1704164645,
                                    "data": {"a": 1}}


def test_usercom_path_segments_are_url_encoded(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    emu = UserComEmulator(api_key="uc-secret-key")
    code, _, err = uc_send(tmp_path, emu, [{**ENGAGE, "userId": "a/b c"}], capsys)
    assert code == 0, err
    assert emu.received[0].raw_path == "/api/public/users-by-id/a%2Fb%20c/"


def test_usercom_new_and_existing_company(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    emu = UserComEmulator(api_key="uc-secret-key")
    user = emu.add_user(custom_id="u1")
    known = emu.add_company(custom_id="c-known", name="Old")
    events = [{"type": "group", "userId": "u1", "groupId": "c-new", "traits": {"name": "New Co", "employees": 5}},
              {"type": "group", "userId": "u1", "groupId": "c-known", "traits": {"name": "Renamed"}}]
    code, report, err = uc_send(tmp_path, emu, events, capsys)
    assert code == 0, err
    created = emu.find_company(custom_id="c-new")
    assert created is not None and created["name"] == "New Co"
    assert emu.companies[known["id"]]["name"] == "Renamed"
    assert user["id"] in created["members"] and user["id"] in emu.companies[known["id"]]["members"]


def test_usercom_403_carries_the_advice_and_is_not_retried(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    emu = UserComEmulator(api_key="another-key")
    code, report, err = uc_send(tmp_path, emu, [ENGAGE], capsys)
    assert code == 1
    verdict = report[0]["verdicts"][0]
    assert verdict["attempts"] == 1
    assert "revoked" in verdict["hint"] and "trusted" in verdict["hint"]
    assert "uc-secret-key" not in err + json.dumps(report)
