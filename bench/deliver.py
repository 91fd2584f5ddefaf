"""Delivery benchmark against a local loopback sink (bench/sink.py, its own process): req/s and latency.

    .venv/bin/python bench/deliver.py [--events 5000] [--concurrency 1 16 64] [--baseline DIR]

Rows, at each concurrency, all against the same sink in the same run:
  engine send (subprocess)  `engine send usermotion --route api.usermotion.com=http://127.0.0.1:PORT`; start-up
                            excluded by timing N events and 200 events and taking the difference
  engine send, baseline     with --baseline DIR: the same command run from another checkout (e.g. `git archive` of an
                            older commit unpacked in DIR), for before/after numbers in one run
  engine library            deliver_event() + Deliverer in this process (transport "auto": the direct aiohttp path)
  bare httpx                httpx.AsyncClient (its own pool), the same JSON bodies, no engine
  bare aiohttp              aiohttp.ClientSession, the same JSON bodies, no engine
  engine, aiohttp direct (*) a PROTOTYPE: the engine's deliver_event() with a Deliverer stand-in that sends through
                            aiohttp directly (no httpx models in between) — what changing engine/delivery would give
Events are the bench mix through UserMotion's presets (identify/group/track/page; ~96% become one request).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import orjson  # noqa: E402

from bench.events import generate  # noqa: E402
from bench.plan import SETTINGS, cpu_model  # noqa: E402

SLUG, HOST = "usermotion", "api.usermotion.com"


def start_sink() -> tuple[subprocess.Popen[bytes], int]:
    proc = subprocess.Popen([sys.executable, str(ROOT / "bench/sink.py")], stdout=subprocess.PIPE)
    assert proc.stdout is not None
    port = int(proc.stdout.readline().split()[1])
    return proc, port


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(int(len(values) * p), len(values) - 1)] * 1e6 if values else float("nan")


def engine_send(path: str, small: str, port: int, conc: int, root: Path = ROOT) -> tuple[float, int]:
    def run(file: str) -> float:
        t0 = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "engine", "send", SLUG, "--settings",
                               orjson.dumps(SETTINGS[SLUG]).decode(), "--route", f"{HOST}=http://127.0.0.1:{port}",
                               "--concurrency", str(conc), "--no-progress", file],
                              cwd=root, env={**os.environ, "PYTHONPATH": str(root)},
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if done.returncode not in (0, 1) or b" 0 failed" not in done.stderr:  # 1: some events are invalid
            raise RuntimeError(f"engine send failed in {root}: {done.stderr.decode()[-2000:]}")
        return time.perf_counter() - t0
    t_small, t_big = run(small), run(path)
    return t_big - t_small, 0


async def _drive(deliverer: Any, events: list[dict[str, Any]], conc: int, *,
                 check: bool = False) -> tuple[float, list[float]]:
    """UserMotion's presets over `events` through `deliverer`, `conc` events in flight: (seconds, latencies).
    With `check`, every verdict must be delivered, invalid or filtered."""
    from engine.runtime import load_destination
    from engine.runtime.deliver import deliver_event
    from engine.runtime.settings import resolve_settings

    dest = load_destination(SLUG)
    settings = resolve_settings(dest.settings_spec, SETTINGS[SLUG])
    subs = dest.subscriptions()
    lat: list[float] = []
    slots = asyncio.Semaphore(conc)

    async def one(event: dict[str, Any]) -> None:
        try:
            t0 = time.perf_counter()
            verdicts = await deliver_event(dest, event, settings, subs, deliverer)
            if check:
                assert all(v.status in ("delivered", "invalid", "filtered") for v in verdicts), verdicts
            lat.append(time.perf_counter() - t0)
        finally:
            slots.release()

    tasks = set()
    t0 = time.perf_counter()
    for event in events:
        await slots.acquire()
        task = asyncio.create_task(one(event))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    await asyncio.gather(*tasks)
    return time.perf_counter() - t0, lat


async def engine_library(events: list[dict[str, Any]], port: int, conc: int) -> tuple[float, list[float]]:
    from engine.delivery.client import Deliverer
    from engine.delivery.retry import RetryPolicy
    from engine.delivery.transports import make_transport

    deliverer = Deliverer(make_transport({HOST: f"http://127.0.0.1:{port}"}, "auto", max_connections=conc),
                          RetryPolicy(attempts=1), concurrency=conc)
    async with deliverer:
        return await _drive(deliverer, events, conc)


class AiohttpDeliverer:
    """PROTOTYPE (what-if, not the engine's code): the Deliverer's `send` over one aiohttp.ClientSession, without
    httpx in between; no retries. Shows what engine/delivery/client.py could reach by doing the same."""

    def __init__(self, routes: dict[str, str], conc: int) -> None:
        import aiohttp

        from engine.secrets import Masker

        self.masker = Masker.empty()
        self.routes = [(f"https://{host}", base.rstrip("/")) for host, base in routes.items()]
        self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=conc))

    async def __aenter__(self) -> AiohttpDeliverer:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.session.close()

    async def send(self, req: Any, *, expect: Any = None) -> Any:
        from engine.delivery.client import Outcome
        from engine.delivery.models import Response

        url = req.url
        for prefix, base in self.routes:
            if url.startswith(prefix) and url[len(prefix):len(prefix) + 1] in ("", "/", "?", ":"):
                url = base + url[len(prefix):]
        async with self.session.request(req.method, url, data=req.wire_body(), headers=req.wire_headers()) as r:
            body = await r.read()
        response = Response(r.status, {k.lower(): v for k, v in r.headers.items()}, body.decode("utf-8", "replace"),
                            orjson.loads(body) if body.strip() else None)
        return Outcome("delivered", 1, response, status=r.status, elapsed=0.0)


async def engine_aiohttp_prototype(events: list[dict[str, Any]], port: int, conc: int) -> tuple[float, list[float]]:
    async with AiohttpDeliverer({HOST: f"http://127.0.0.1:{port}"}, conc) as deliverer:
        return await _drive(deliverer, events, conc, check=True)


async def _bare(post: Any, bodies: list[bytes], conc: int) -> tuple[float, list[float]]:
    lat: list[float] = []
    it = iter(bodies)

    async def worker() -> None:
        for body in it:
            t0 = time.perf_counter()
            await post(body)
            lat.append(time.perf_counter() - t0)

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(conc)))
    return time.perf_counter() - t0, lat


async def bare_httpx(bodies: list[bytes], port: int, conc: int) -> tuple[float, list[float]]:
    import httpx

    limits = httpx.Limits(max_connections=conc, max_keepalive_connections=conc)
    async with httpx.AsyncClient(limits=limits) as client:
        url = f"http://127.0.0.1:{port}/v1/track"
        headers = {"content-type": "application/json", "authorization": "Basic test-key-123"}

        async def post(body: bytes) -> None:
            r = await client.post(url, content=body, headers=headers)
            r.raise_for_status()
        return await _bare(post, bodies, conc)


async def bare_aiohttp(bodies: list[bytes], port: int, conc: int) -> tuple[float, list[float]]:
    import aiohttp

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=conc)) as session:
        url = f"http://127.0.0.1:{port}/v1/track"
        headers = {"content-type": "application/json", "authorization": "Basic test-key-123"}

        async def post(body: bytes) -> None:
            async with session.post(url, data=body, headers=headers) as r:
                await r.read()
                r.raise_for_status()
        return await _bare(post, bodies, conc)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=5000)
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 16, 64])
    ap.add_argument("--baseline", metavar="DIR", type=Path,
                    help="also time `engine send` from this checkout (before/after in one run)")
    args = ap.parse_args()
    n = args.events
    events = list(generate(n))
    from engine.runtime import load_destination
    from engine.runtime.settings import resolve_settings
    dest = load_destination(SLUG)
    settings = resolve_settings(dest.settings_spec, SETTINGS[SLUG])
    bodies = [req.body for e in events for r in dest.plan_event(e, settings, dest.subscriptions()) if r.plan
              for req in r.plan.requests]
    tmp = tempfile.mkdtemp()
    path, small = os.path.join(tmp, "events.jsonl"), os.path.join(tmp, "small.jsonl")
    with open(path, "wb") as f:
        f.writelines(orjson.dumps(e) + b"\n" for e in events)
    with open(small, "wb") as f:
        f.writelines(orjson.dumps(e) + b"\n" for e in events[:200])
    sink, port = start_sink()
    print(f"machine: {os.cpu_count()} CPUs, {cpu_model()}, Python {sys.version.split()[0]}; sink on 127.0.0.1:{port}; "
          f"{n:,} events -> {len(bodies):,} requests ({SLUG})")
    print(f"{'client':<26} {'conc':>4} {'events/s':>9} {'req/s':>9} {'p50 ms':>7} {'p99 ms':>7}")
    per_req = len(bodies) / n
    try:
        for conc in args.concurrency:
            secs, _ = engine_send(path, small, port, conc)
            ev = n - 200
            print(f"{'engine send (subprocess)':<26} {conc:>4} {ev / secs:>9,.0f} {ev * per_req / secs:>9,.0f} {'':>7} {'':>7}",
                  flush=True)
            if args.baseline:
                secs, _ = engine_send(path, small, port, conc, args.baseline.resolve())
                print(f"{'engine send, baseline':<26} {conc:>4} {ev / secs:>9,.0f} {ev * per_req / secs:>9,.0f} "
                      f"{'':>7} {'':>7}", flush=True)
            secs, lat = asyncio.run(engine_library(events, port, conc))
            print(f"{'engine library':<26} {conc:>4} {n / secs:>9,.0f} {len(bodies) / secs:>9,.0f} "
                  f"{pct(lat, .5) / 1000:>7.2f} {pct(lat, .99) / 1000:>7.2f}", flush=True)
            secs, lat = asyncio.run(engine_aiohttp_prototype(events, port, conc))
            print(f"{'engine, aiohttp direct (*)':<26} {conc:>4} {n / secs:>9,.0f} {len(bodies) / secs:>9,.0f} "
                  f"{pct(lat, .5) / 1000:>7.2f} {pct(lat, .99) / 1000:>7.2f}", flush=True)
            for name, fn in (("bare httpx", bare_httpx), ("bare aiohttp", bare_aiohttp)):
                secs, lat = asyncio.run(fn(bodies, port, conc))
                print(f"{name:<26} {conc:>4} {'':>9} {len(bodies) / secs:>9,.0f} "
                      f"{pct(lat, .5) / 1000:>7.2f} {pct(lat, .99) / 1000:>7.2f}", flush=True)
        print("(*) prototype in bench/deliver.py, not the engine's delivery code")
    finally:
        sink.terminate()
        sink.wait()


if __name__ == "__main__":
    main()
