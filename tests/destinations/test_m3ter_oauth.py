"""m3ter end to end against its emulator (tests/emulators/m3ter.py) over loopback: `engine auth` buys a token with
the client-credentials grant and says for how long it is valid; `engine send` sends one token request and then
the measurements in one batch, refreshes the token once after a 401, and reports a refused token request."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from emulators import M3terEmulator, serve_in_thread

from engine.cli import main

SETTINGS = {"access_key_id": "m3-key", "api_secret": "m3-secret", "org_id": "org-1"}


def _routes(base: str) -> list[str]:
    return ["--route", f"api.m3ter.com={base}", "--route", f"ingest.m3ter.com={base}"]


def _usage(i: int) -> dict[str, Any]:
    return {"type": "track", "event": "API Call", "userId": "u-1", "messageId": f"m-{i}",
            "timestamp": "2024-03-01T12:00:00.000Z", "properties": {"uid": f"uid-{i}", "meter": "calls", "account": "acme"}}


def _send(tmp_path: Path, base: str, events: list[dict[str, Any]], settings: dict[str, Any],
          capsys: pytest.CaptureFixture[str]) -> tuple[int, list[dict[str, Any]], str]:
    source = tmp_path / "events.jsonl"
    source.write_text("\n".join(json.dumps(e) for e in events) + "\n")
    report = tmp_path / "report.jsonl"
    code = main(["send", "m3ter", "--settings", json.dumps(settings), *_routes(base), "--report", str(report),
                 "--attempts", "1", "--no-progress", str(source)])
    out = capsys.readouterr()
    return code, [json.loads(line) for line in report.read_text().splitlines()], out.out + out.err


def test_engine_auth_buys_a_token_and_says_how_long_it_lasts(capsys: pytest.CaptureFixture[str]) -> None:
    emu = M3terEmulator()
    with serve_in_thread(emu) as server:
        code = main(["auth", "m3ter", "--settings", json.dumps(SETTINGS), *_routes(server.base_url)])
        out = capsys.readouterr()
        assert code == 0, out.err
        assert "OAuth2 access token refreshed (****), valid for 18000 s" in out.out
        assert emu.issued[0] not in out.out + out.err and "m3-secret" not in out.out + out.err
        [token_request] = emu.requests_to("/oauth/token")
        assert token_request.json == {"grant_type": "client_credentials"}
        code = main(["auth", "m3ter", "--settings", json.dumps({**SETTINGS, "api_secret": "wrong-secret"}),
                     *_routes(server.base_url)])
        out = capsys.readouterr()
    assert code == 1
    assert "OAuth2 token refresh failed" in out.err and "401" in out.err and "invalid_client" in out.err
    assert "wrong-secret" not in out.out + out.err


def test_send_batches_measurements_behind_one_token(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    emu = M3terEmulator()
    with serve_in_thread(emu) as server:
        code, report, text = _send(tmp_path, server.base_url, [_usage(i) for i in range(3)], SETTINGS, capsys)
    assert code == 0, text
    assert [v["status"] for line in report for v in line["verdicts"]] == ["delivered"] * 3
    assert len(emu.requests_to("/oauth/token")) == 1
    [batch] = emu.requests_to("/organizations/org-1/measurements")
    assert batch.headers["authorization"] == f"Bearer {emu.issued[0]}"
    assert [m["uid"] for m in emu.measurements] == ["uid-0", "uid-1", "uid-2"]
    assert emu.issued[0] not in text


def test_a_token_refused_with_401_is_refreshed_once_and_the_batch_sent_again(tmp_path: Path,
                                                                            capsys: pytest.CaptureFixture[str]) -> None:
    emu = M3terEmulator()
    emu.faults.add(status=401, times=1, path_prefix="/organizations/")  # m3ter expired the token early
    with serve_in_thread(emu) as server:
        code, report, text = _send(tmp_path, server.base_url, [_usage(1), _usage(2)], SETTINGS, capsys)
    assert code == 0, text
    assert [v["status"] for line in report for v in line["verdicts"]] == ["delivered", "delivered"]
    assert len(emu.issued) == 2
    sent = emu.requests_to("/organizations/org-1/measurements")
    assert [r.headers["authorization"] for r in sent] == [f"Bearer {emu.issued[0]}", f"Bearer {emu.issued[1]}"]
    assert [m["uid"] for m in emu.measurements] == ["uid-1", "uid-2"]


def test_a_refused_token_request_fails_every_event_and_sends_nothing_else(tmp_path: Path,
                                                                          capsys: pytest.CaptureFixture[str]) -> None:
    emu = M3terEmulator()
    with serve_in_thread(emu) as server:
        code, report, text = _send(tmp_path, server.base_url, [_usage(1), _usage(2)],
                                   {**SETTINGS, "access_key_id": "someone-else"}, capsys)
    assert code == 1
    verdicts = [v for line in report for v in line["verdicts"]]
    assert [v["status"] for v in verdicts] == ["failed", "failed"]
    assert all("OAuth2 token refresh failed" in v["error"] for v in verdicts)
    assert emu.requests_to("/organizations/org-1/measurements") == []
