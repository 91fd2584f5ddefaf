"""Workers of an OAuth2 instance share one access token through the queue's token store."""

from __future__ import annotations

import asyncio
from pathlib import Path

from emulators import OAuthEmulator, serve_in_thread
from serve_helpers import write_config

from engine.config import load_config
from engine.queue import SQLiteQueue
from engine.server import Metrics, SandboxLog, WorkerOptions
from engine.server.worker import InstanceWorker, instance_deliverer

SPEC = Path(__file__).resolve().parents[1] / "runtime" / "specs" / "oauthy.yaml"
DEST = (f"  - {{id: oa, spec: {SPEC}, settings: {{clientId: cid, clientSecret: csecret-77, "
        f"refreshToken: rtok-77}}}}\n")


def test_two_workers_of_an_instance_refresh_once(tmp_path: Path) -> None:
    emu = OAuthEmulator(client_secret="csecret-77", refresh_token="rtok-77")
    with serve_in_thread(emu) as s:
        config = load_config(write_config(tmp_path, DEST, {"auth.oauthy.test": s.base_url,
                                                           "api.oauthy.test": s.base_url}))
        [dest] = config.enabled_destinations
        with SQLiteQueue(tmp_path / "data") as queue:
            queue.enqueue([{"type": "track", "userId": "u", "event": f"E{i}", "messageId": f"m-{i}"}
                           for i in range(2)], ["oa"])
            jobs = queue.lease(2, 30)

            async def one(job: object) -> list[tuple[int, str]]:
                deliverer = instance_deliverer(config, dest, SandboxLog(config.masker()))
                worker = InstanceWorker(dest, queue, deliverer, Metrics(["oa"]), WorkerOptions(), 30)
                async with deliverer:
                    await worker._process(job, asyncio.get_running_loop().time() + 20)
                return worker.acks

            acks = [asyncio.run(one(job)) for job in jobs]  # two workers, each with its own Deliverer
            assert [len(a) for a in acks] == [1, 1]
            assert len(emu.issued) == 1  # the second worker took the stored token
            assert queue.get_token("oa")[0] == emu.issued[0]
    assert [b for _, p, b in emu.requests if p == "/v1/events"] == [emu.issued[0]] * 2
