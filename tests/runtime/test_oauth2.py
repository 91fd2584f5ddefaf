"""OAuth2: the token is refreshed before use and once after a 401, shared through the queue's token store,
masked everywhere, shown by `engine auth`; a refused refresh is one failed verdict, not a retry loop."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from emulators import OAuthEmulator, serve_in_thread

from engine.cli import main
from engine.delivery.client import Deliverer
from engine.delivery.retry import RetryPolicy
from engine.delivery.transports import make_transport, parse_routes
from engine.queue import SQLiteQueue
from engine.runtime.deliver import deliver_event
from engine.runtime.destination import load_destination
from engine.runtime.oauth import manager_for, use_token_store
from engine.secrets import Masker

SPEC = Path(__file__).parent / "specs" / "oauthy.yaml"
SETTINGS = {"clientId": "cid", "clientSecret": "csecret", "refreshToken": "rtok"}
ROUTES = ["auth.oauthy.test={base}", "api.oauthy.test={base}"]


def _deliverer(base: str) -> Deliverer:
    routes = parse_routes([r.format(base=base) for r in ROUTES])
    return Deliverer(make_transport(routes, "httpx"), RetryPolicy(attempts=2, base=0, cap=0),
                     masker=Masker(["csecret", "rtok"]))


def _send(emu: OAuthEmulator, events: list[dict[str, Any]], settings: dict[str, Any] = SETTINGS,
          prepare: Any = None) -> list[Any]:
    dest = load_destination(SPEC)

    async def run(base: str) -> list[Any]:
        async with _deliverer(base) as deliverer:
            if prepare is not None:
                prepare(deliverer, dest)
            out = []
            for event in events:
                out += await deliver_event(dest, event, settings, dest.subscriptions(), deliverer)
                emu_hook = getattr(emu, "after_each", None)
                if emu_hook:
                    emu_hook()
            return out

    with serve_in_thread(emu) as server:
        return asyncio.run(run(server.base_url))


def _track(name: str = "Clicked") -> dict[str, Any]:
    return {"type": "track", "event": name, "userId": "u1"}


def test_the_token_is_refreshed_once_and_reused() -> None:
    emu = OAuthEmulator()
    verdicts = _send(emu, [_track(), _track(), _track()])
    assert [v.status.value for v in verdicts] == ["delivered"] * 3
    assert [p for _, p, _ in emu.requests].count("/oauth/token") == 1
    assert [b for _, p, b in emu.requests if p == "/v1/events"] == [emu.issued[0]] * 3


def test_a_401_refreshes_once_and_retries() -> None:
    emu = OAuthEmulator()
    emu.after_each = emu.revoke  # type: ignore[attr-defined]  # each token dies after one event
    verdicts = _send(emu, [_track(), _track()])
    assert [v.status.value for v in verdicts] == ["delivered", "delivered"]
    assert len(emu.issued) == 2
    calls = [(p, b) for _, p, b in emu.requests]
    assert calls == [("/oauth/token", None), ("/v1/events", emu.issued[0]),
                     ("/v1/events", emu.issued[0]), ("/oauth/token", None), ("/v1/events", emu.issued[1])]


def test_a_token_that_expires_soon_is_refreshed_before_use() -> None:
    emu = OAuthEmulator(expires_in=30)  # under the 60 s margin: every use needs a fresh token
    verdicts = _send(emu, [_track(), _track()])
    assert [v.status.value for v in verdicts] == ["delivered", "delivered"]
    assert len(emu.issued) == 2


@pytest.mark.parametrize("settings, status, words", [
    ({**SETTINGS, "refreshToken": "wrong"}, None, "HTTP 400"),
    ({**SETTINGS, "clientSecret": "wrong-secret"}, None, "HTTP 401"),
])
def test_a_refused_refresh_is_one_clear_verdict(settings: dict[str, Any], status: Any, words: str) -> None:
    emu = OAuthEmulator()
    [verdict] = _send(emu, [_track()], settings)
    assert verdict.status.value == "failed" and not verdict.retryable
    assert "OAuth2 token refresh failed" in verdict.error and words in verdict.error
    assert [p for _, p, _ in emu.requests] == ["/oauth/token"]  # no loop, and the event was not sent
    assert "wrong-secret" not in json.dumps(verdict.to_json())


def test_a_refresh_over_the_network_that_fails_is_a_verdict() -> None:
    dest = load_destination(SPEC)

    async def run() -> list[Any]:
        routes = parse_routes(["auth.oauthy.test=http://127.0.0.1:9", "api.oauthy.test=http://127.0.0.1:9"])
        async with Deliverer(make_transport(routes, "httpx"), RetryPolicy(attempts=2, base=0, cap=0)) as d:
            return await deliver_event(dest, _track(), SETTINGS, dest.subscriptions(), d)

    [verdict] = asyncio.run(run())
    assert verdict.status.value == "failed" and "OAuth2 token refresh failed" in verdict.error


def test_workers_of_an_instance_share_the_token_through_the_queue(tmp_path: Path) -> None:
    emu = OAuthEmulator()
    queue = SQLiteQueue(tmp_path / "q")
    try:
        def shared(deliverer: Deliverer, dest: Any) -> None:
            use_token_store(deliverer, dest, queue, "instance-1")

        _send(emu, [_track()], prepare=shared)
        _send(emu, [_track()], prepare=shared)  # another worker (its own Deliverer): the stored token
        assert len(emu.issued) == 1
        token, expires_at = queue.get_token("instance-1")
        assert token == emu.issued[0] and expires_at > 0
        other = SQLiteQueue(tmp_path / "q")  # another process on the same file sees it
        assert other.get_token("instance-1") == (token, expires_at)
        other.close()
    finally:
        queue.close()


def test_the_token_is_masked_in_what_is_printed() -> None:
    emu = OAuthEmulator()
    seen: dict[str, Any] = {}

    def keep(deliverer: Deliverer, dest: Any) -> None:
        seen["deliverer"], seen["dest"] = deliverer, dest

    _send(emu, [_track()], prepare=keep)
    token = emu.issued[0]
    assert seen["deliverer"].masker.mask_text(f"Bearer {token}") == "Bearer ****"
    assert manager_for(seen["deliverer"], seen["dest"]).refreshes == 1


def test_engine_auth_shows_the_refresh(capsys: pytest.CaptureFixture[str]) -> None:
    emu = OAuthEmulator()
    with serve_in_thread(emu) as server:
        routes = [arg for r in ROUTES for arg in ("--route", r.format(base=server.base_url))]
        code = main(["auth", str(SPEC), "--settings", json.dumps(SETTINGS), *routes])
        out = capsys.readouterr()
        assert code == 0, out.err
        assert "OAuth2 access token refreshed (****), valid for 3600 s" in out.out
        assert "credentials accepted" in out.out
        assert emu.issued[0] not in out.out + out.err
        code = main(["auth", str(SPEC), "--settings", json.dumps({**SETTINGS, "refreshToken": "nope"}), *routes])
        out = capsys.readouterr()
    assert code == 1
    assert "OAuth2 token refresh failed" in out.err and "HTTP 400" in out.err and "invalid_grant" in out.err


def test_validate_locates_oauth2_mistakes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = SPEC.read_text().replace('client_id: "{{ settings.clientId }}"', 'client_id: "{{ payload.event }}"')
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    assert main(["validate", str(bad)]) == 1
    assert "the token request may read only settings, not payload" in capsys.readouterr().out
    no_oauth = SPEC.read_text().split("oauth2:")[0] + "request_defaults:" + SPEC.read_text().split("request_defaults:")[1]
    bad.write_text(no_oauth)
    assert main(["validate", str(bad)]) == 1
    assert "reads auth (the OAuth2 access token), but the spec has no oauth2 section" in capsys.readouterr().out
