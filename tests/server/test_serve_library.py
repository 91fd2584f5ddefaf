"""`engine serve` in a subprocess, driven by Segment's own Python library (segment-analytics-python),
delivering to the emulators of UserMotion, Userpilot and Usermaven; then SIGTERM stops it cleanly."""

from __future__ import annotations

import signal
from pathlib import Path

import httpx
import segment.analytics as analytics  # segment-analytics-python, in the test extra
from emulators import UsermavenEmulator, UserMotionEmulator, UserpilotEmulator, serve_in_thread
from serve_helpers import WRITE_KEY, ServeProcess, wait_until, write_config

UM_KEY, UP_KEY, MV_KEY, MV_TOKEN = "um-lib-key-1", "up-lib-key-1", "mv-lib-key-1", "mv-lib-token-1"


def test_every_call_type_from_the_official_library(tmp_path: Path) -> None:
    um, up = UserMotionEmulator(api_key=UM_KEY), UserpilotEmulator(api_key=UP_KEY)
    mv = UsermavenEmulator(api_key=MV_KEY, server_token=MV_TOKEN)
    with serve_in_thread(um) as s1, serve_in_thread(up) as s2, serve_in_thread(mv) as s3:
        config = write_config(tmp_path, (
            f"  - {{id: um, spec: usermotion, settings: {{apiKey: {UM_KEY}}}}}\n"
            f"  - {{id: up, spec: userpilot, settings: {{apiKey: {UP_KEY}}}}}\n"
            f"  - {{id: mv, spec: usermaven, settings: {{api_key: {MV_KEY}, server_token: {MV_TOKEN}}}}}\n"),
            {"api.usermotion.com": s1.base_url, "analytex.userpilot.io": s2.base_url,
             "events.usermaven.com": s3.base_url})
        with ServeProcess(config) as server:
            errors: list[object] = []
            client = analytics.Client(WRITE_KEY, host=server.base_url, sync_mode=True, gzip=True, max_retries=1,
                                      on_error=lambda e, batch: errors.append(e))
            client.identify("u1", {"email": "u1@example.com", "name": "Ann"})
            client.track("u1", "Order Completed", {"total": 12.5})
            client.page("u1", "Docs", "Install", {"url": "https://example.com/docs/install"})
            client.screen("u1", "App", "Home")
            client.group("u1", "g1", {"name": "Acme"})
            client.alias("anon-1", "u1")
            client.flush()
            assert errors == []
            wait_until(lambda: len(um.received) >= 4 and len(up.received) >= 3 and len(mv.received) >= 4, timeout=20)
            wait_until(lambda: httpx.get(server.base_url + "/health").json()["queue_depth"] == 0, timeout=20)
            metrics = httpx.get(server.base_url + "/metrics").text
            code = server.terminate()
            err = server.stderr()
    assert code == 0, err
    assert "stopped" in err
    # UserMotion: identify, track, page (as a track named pageview), group; screen and alias filtered
    assert [r.path for r in um.received] == ["/v1/identify", "/v1/track", "/v1/track", "/v1/group"]
    identify, track, page, group = (r.json for r in um.received)
    assert identify["id"] == "u1" and identify["properties"]["email"] == "u1@example.com"
    assert track["event"] == "Order Completed" and track["properties"] == {"total": 12.5}
    assert track["context"]["library"]["name"] == "analytics-python"
    assert page["event"] == "pageview"
    assert group["id"] == "g1" and group["properties"] == {"name": "Acme"}
    assert all(r.status == 200 for r in um.received)
    # Userpilot: identify, track, group
    assert [r.path for r in up.received] == ["/v1/identify", "/v1/track", "/v1/companies/identify"]
    assert all(r.status is not None and r.status < 300 for r in up.received)
    # Usermaven: identify, track, page, group as s2s events
    assert len(mv.received) == 4 and all(r.status is not None and r.status < 300 for r in mv.received)
    assert 'engine_events_received_total{source="web"} 6' in metrics
    assert 'engine_jobs_filtered_total{instance="um"} 2' in metrics  # screen, alias
    assert UM_KEY not in err and WRITE_KEY not in err


def test_sigterm_keeps_undelivered_events_queued(tmp_path: Path) -> None:
    um = UserMotionEmulator(api_key=UM_KEY)
    um.faults.add(delay=0.5, times=None)  # slow: deliveries are in flight when SIGTERM arrives
    with serve_in_thread(um) as s1:
        config = write_config(tmp_path, f"  - {{id: um, spec: usermotion, settings: {{apiKey: {UM_KEY}}}}}\n",
                              {"api.usermotion.com": s1.base_url}, extra="")
        text = config.read_text().replace("concurrency: 8", "concurrency: 2")
        config.write_text(text)
        with ServeProcess(config, "--drain-timeout", "5") as server:
            batch = [{"type": "track", "userId": "u", "event": "E", "messageId": f"m{i}"} for i in range(20)]
            r = httpx.post(server.base_url + "/v1/batch", json={"batch": batch}, auth=(WRITE_KEY, ""))
            assert r.status_code == 200
            wait_until(lambda: len(um.received) >= 1, timeout=10)
            server.proc.send_signal(signal.SIGTERM)
            code = server.proc.wait(20)
    assert code == 0
    from engine.queue import SQLiteQueue
    delivered = {r.json["event"] for r in um.received if r.status == 200}
    assert delivered  # the ones in flight finished
    with SQLiteQueue(tmp_path / "data") as queue:
        left = queue.depth().get("um", 0)
        assert 0 < left <= 20 - sum(1 for r in um.received if r.status == 200) + 2
        assert queue.dlq.count() == 0
