"""`engine auth` and `engine delete` against emulators over loopback."""

from __future__ import annotations

import json

import pytest
from emulators import UserComEmulator, UserMotionEmulator, UserpilotEmulator, serve_in_thread

from engine.cli import main


def test_auth_accepts_working_credentials(capsys: pytest.CaptureFixture[str]) -> None:
    emu = UserpilotEmulator(api_key="up-good-key")
    with serve_in_thread(emu) as server:
        code = main(["auth", "userpilot", "--settings", json.dumps({"apiKey": "up-good-key"}),
                     "--route", f"analytex.userpilot.io={server.base_url}"])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "credentials accepted" in out.out
    [req] = emu.received
    assert (req.method, req.path) == ("GET", "/v1/validate")
    assert req.headers["authorization"] == "Token up-good-key"


def test_auth_refused_prints_reason_and_hint_without_the_secret(capsys: pytest.CaptureFixture[str]) -> None:
    emu = UserComEmulator(api_key="the-right-key")
    with serve_in_thread(emu) as server:
        code = main(["auth", "usercom", "--settings", json.dumps({"apiKey": "a-wrong-key-999", "appSubdomain": "acme"}),
                     "--route", f"acme.user.com={server.base_url}"])
    out = capsys.readouterr()
    assert code == 1
    assert "403" in out.err
    assert "hint:" in out.err and "revoked" in out.err
    assert "a-wrong-key-999" not in out.err + out.out
    assert len(emu.received) == 1  # a 403 is not retried


def test_auth_without_test_request_only_checks_settings(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["auth", "usermaven", "--settings", json.dumps({"api_key": "a", "server_token": "b"})])
    assert code == 0
    assert "nothing was sent" in capsys.readouterr().out
    code = main(["auth", "usermaven", "--settings", json.dumps({"api_key": "a"})])
    assert code == 2
    assert "setting 'server_token' (Server Token) is required" in capsys.readouterr().err


def test_auth_usermotion_verify(capsys: pytest.CaptureFixture[str]) -> None:
    emu = UserMotionEmulator(api_key="um-key-1")
    with serve_in_thread(emu) as server:
        code = main(["auth", "usermotion", "--settings", json.dumps({"apiKey": "um-key-1"}),
                     "--route", f"api.usermotion.com={server.base_url}"])
    assert code == 0, capsys.readouterr().err
    assert [(r.method, r.path) for r in emu.received] == [("POST", "/v1/verify")]


def test_delete_sends_the_users_deletion(capsys: pytest.CaptureFixture[str]) -> None:
    emu = UserpilotEmulator(api_key="up-good-key")
    with serve_in_thread(emu) as server:
        code = main(["delete", "userpilot", "--settings", json.dumps({"apiKey": "up-good-key"}),
                     "--user-id", "user-42", "--route", f"analytex.userpilot.io={server.base_url}"])
    assert code == 0, capsys.readouterr().err
    [req] = emu.received
    assert (req.method, req.path, req.json) == ("DELETE", "/v1/users", {"users": ["user-42"]})


def test_delete_on_a_spec_without_on_delete_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["delete", "usermotion", "--settings", json.dumps({"apiKey": "k"}), "--user-id", "u"])
    assert code == 2
    assert "defines no on_delete" in capsys.readouterr().err
