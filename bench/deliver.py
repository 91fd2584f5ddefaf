"""Delivery benchmark against a local loopback sink (bench/sink.py, its own process): events/s, req/s and latency.

    .venv/bin/python bench/deliver.py [--events 5000] [--concurrency 1 16 64] [--baseline DIR] [--only ROW ...]
                                      [--serve-workers 1 2] [--rounds K] [--rate EV_PER_S]

Rows, at each concurrency, all against the same sink in the same run:
  engine send (subprocess)  `engine send usermotion --route api.usermotion.com=http://127.0.0.1:PORT`; start-up
                            excluded by timing N events and 200 events and taking the difference
  engine serve (subprocess) `engine serve` with a temporary engine.yaml (UserMotion routed to the sink, a fresh queue
                            folder, `concurrency` = the row's); the events are POSTed to /v1/batch in batches of
                            100 (4 requests in flight) with the write key; events/s from the first POST until the
                            sink has received every expected request (asked with `GET /__count`), start-up
                            excluded; `accept ev/s`: how fast the POSTs were answered 200 (durably queued);
                            `cpu µs/ev`: the server process's CPU time (user + system) per event meanwhile,
                            steadier than events/s when other work shares the machine; p50/p99: end to end, from
                            the POST of a track event (stamped in its context) to its request reaching the sink;
                            `--serve-workers 1 2` runs the row with `engine serve --workers N` for each N (CPU
                            then sums the supervisor and its workers; each worker has the row's concurrency in
                            flight); with --split also `-wN xC`, each worker at C = concurrency / N, so that all of
                            them together have the row's concurrency in flight, as the bare rows do
  engine serve @ R ev/s     with --rate R: the same server fed at a steady R events/s (POSTs of 10 events every
                            10/R s, each on time whatever the others do), for the end-to-end latency p50/p99 well
                            below saturation
  engine serve, postgres    the same with `queue: {kind: postgres}` (--queue-dsn, default $ENGINE_BENCH_POSTGRES_DSN or
                            the local test server; a fresh schema per row, dropped after): one node; with
                            `2 nodes`, two `engine serve` processes on the same queue, the POSTs split between them
                            (CPU is the sum of both)
  ..., baseline             with --baseline DIR: the same `engine send` / `engine serve` run from another checkout
                            (e.g. `git archive` of an older commit unpacked in DIR), for before/after in one run
  engine library            deliver_event() + Deliverer in this process (transport "auto": the lean h1 client directly)
  bare httpx                httpx.AsyncClient (its own pool), the same JSON bodies, no engine
  bare httpx over aiohttp   httpx.AsyncClient over httpx_aiohttp.AiohttpTransport, the same bodies, no engine
  bare aiohttp              aiohttp.ClientSession, the same JSON bodies, no engine (asyncio's own event loop)
  bare aiohttp on uvloop    the same on uvloop's event loop, when uvloop is installed (`engine serve` runs on
                            uvloop by default, `--loop auto`)
The last lines give each serve row's req/s as a share of bare aiohttp's (and of bare aiohttp on uvloop's) at the
same concurrency in the same run: issue 14's measure. With --rounds K every row runs K times, round after round, and
the share is given per round (a serve row against the bare row of its own round) with the median: on a shared
machine the bare row alone has swung between 2,300 and 8,200 req/s from one run to the next.
Events are the bench mix through UserMotion's presets (identify/group/track/page; ~96% become one request).
`engine serve` gets only the events Segment's API accepts (the mix's 2% of unknown types would fail a batch).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import copy
import datetime as dt
import os
import re
import shutil
import statistics
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
WRITE_KEY = "bench-write-key"
ROWS = ("send", "serve", "serve-pg", "serve-pg2", "library", "httpx", "httpx-aiohttp", "aiohttp", "aiohttp-uvloop")
PG_DSN = os.environ.get("ENGINE_BENCH_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test")


def start_sink() -> tuple[subprocess.Popen[bytes], int]:
    proc = subprocess.Popen([sys.executable, str(ROOT / "bench/sink.py")], stdout=subprocess.PIPE)
    assert proc.stdout is not None
    port = int(proc.stdout.readline().split()[1])
    return proc, port


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(int(len(values) * p), len(values) - 1)] * 1e6 if values else float("nan")


def split_concurrency(conc: int, workers: int) -> int:
    """Each worker's concurrency when `workers` of them share `conc` in flight (--split): at least 1."""
    return max(1, conc // workers)


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


def serve_events(events: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
    """The events `engine serve` accepts, and how many requests UserMotion's presets make of them once the
    server has filled what it fills (messageId, receivedAt, timestamp)."""
    from engine.runtime import load_destination
    from engine.runtime.settings import resolve_settings
    from engine.server.app import Rejected, normalise

    dest = load_destination(SLUG)
    settings = resolve_settings(dest.settings_spec, SETTINGS[SLUG])
    now = dt.datetime.now(dt.UTC)
    kept, requests = [], 0
    for event in events:
        try:
            filled = normalise(copy.deepcopy(event), where="event", path_type=None, batch_sent_at=None, now=now)
        except Rejected:
            continue
        kept.append(event)
        requests += sum(len(r.plan.requests) for r in dest.plan_event(filled, settings, dest.subscriptions())
                        if r.plan)
    return kept, requests


def serve_config(folder: Path, port: int, conc: int, queue: str = "{path: data, durability: full}") -> Path:
    text = (f"sources: [{{name: bench, write_key: {WRITE_KEY}}}]\n"
            "destinations:\n"
            f"  - {{id: um, spec: {SLUG}, settings: {orjson.dumps(SETTINGS[SLUG]).decode()}}}\n"
            f"routes:\n  {HOST}: http://127.0.0.1:{port}\n"
            f"queue: {queue}\n"
            "retry: {attempts: 2, base: 0.5, cap: 5, deadline: 30}\n"
            f"concurrency: {conc}\n")
    path = folder / "engine.yaml"
    path.write_text(text)
    return path


async def _sink_count(session: Any, port: int) -> int:
    async with session.get(f"http://127.0.0.1:{port}/__count") as r:
        return int((await r.json())["count"])


async def _sink_latencies(session: Any, port: int) -> list[float]:
    """ms from each stamped event's POST to its request's arrival at the sink, since the last call (sorted)."""
    async with session.get(f"http://127.0.0.1:{port}/__latency") as r:
        return list(await r.json())


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its live children so far (Linux /proc; NaN elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return float("nan")
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return own + sum(cpu_seconds(int(c)) for c in children)


async def _drive_serve(base_urls: list[str], port: int, events: list[dict[str, Any]], expected: int,
                       batch: int, posters: int, timeout: float, pids: list[int],
                       rate: float | None = None) -> tuple[float, float, float, list[float]]:
    import aiohttp

    if rate:
        batch = 10
    chunks = [events[i:i + batch] for i in range(0, len(events), batch)]
    headers = {"content-type": "application/json",
               "authorization": "Basic " + base64.b64encode(f"{WRITE_KEY}:".encode()).decode()}

    async def post(session: Any, base_url: str, chunk: list[dict[str, Any]]) -> None:
        # track events carry their POST time in their context, which UserMotion passes on: the sink times each
        # one from here to its arrival (end-to-end latency through the queue)
        sent_at = time.time()
        body = orjson.dumps({"batch": [
            {**e, "context": {**(e.get("context") or {}), "bench_sent_at": sent_at}} if e.get("type") == "track"
            else e for e in chunk]})
        async with session.post(f"{base_url}/v1/batch", data=body, headers=headers) as r:
            if r.status != 200:
                raise RuntimeError(f"engine serve answered {r.status}: {await r.text()}")

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=posters + 1)) as session:
        start = await _sink_count(session, port)
        await _sink_latencies(session, port)  # forget earlier rows' latencies
        it = iter(chunks)

        async def poster(k: int) -> None:
            base_url = base_urls[k % len(base_urls)]  # posters split between the nodes
            for chunk in it:
                await post(session, base_url, chunk)

        async def paced() -> None:  # chunk i leaves at t0 + i * batch / rate, on its own connection if need be
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64)) as paced_session:
                tasks = []
                for i, chunk in enumerate(chunks):
                    delay = t0 + i * batch / rate - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    tasks.append(asyncio.create_task(post(paced_session, base_urls[i % len(base_urls)], chunk)))
                await asyncio.gather(*tasks)

        cpu0, t0 = sum(cpu_seconds(pid) for pid in pids), time.perf_counter()
        if rate:
            await paced()
        else:
            await asyncio.gather(*(poster(k) for k in range(posters)))
        accepted = time.perf_counter() - t0
        while (got := await _sink_count(session, port) - start) < expected:
            if time.perf_counter() - t0 > timeout:
                raise RuntimeError(f"engine serve delivered {got} of {expected} requests in {timeout:g} s")
            await asyncio.sleep(0.005)
        delivered, cpu = time.perf_counter() - t0, sum(cpu_seconds(pid) for pid in pids) - cpu0
        if got > expected:
            print(f"  (engine serve: the sink received {got} requests, {expected} expected)", file=sys.stderr)
        latencies = [ms / 1000.0 for ms in await _sink_latencies(session, port)]  # seconds, as the other rows
    return delivered, accepted, cpu, latencies


def engine_serve(events: list[dict[str, Any]], expected: int, port: int, conc: int, root: Path = ROOT, *,
                 batch: int = 100, posters: int = 4, timeout: float = 300.0, workers: int = 1, split: bool = False,
                 rate: float | None = None, dsn: str | None = None,
                 nodes: int = 1) -> tuple[float, float, float, list[float]]:
    """(seconds until all delivered, seconds until all accepted, both from the first POST; CPU seconds the
    server processes used meanwhile; seconds from POST to arrival at the sink of each track event). With
    `dsn`, the nodes share a PostgreSQL queue in a fresh schema (dropped afterwards)."""
    folder = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    schema = f"bench_{os.getpid()}_{time.monotonic_ns()}"
    queue = ("{path: data, durability: full}" if dsn is None
             else f"{{kind: postgres, dsn: '{dsn}', schema: {schema}, durability: full}}")
    config = serve_config(folder, port, split_concurrency(conc, workers) if split else conc, queue)
    procs: list[subprocess.Popen[str]] = []
    try:
        base_urls = []
        for k in range(nodes):
            proc = subprocess.Popen([sys.executable, "-m", "engine", "serve", "--config", str(config),
                                     "--port", "0", "--quiet-sandbox",
                                     *(["--workers", str(workers)] if workers > 1 else [])],
                                    cwd=root, env={**os.environ, "PYTHONPATH": str(root), "PYTHONUNBUFFERED": "1"},
                                    stdout=subprocess.PIPE, stderr=open(folder / f"serve{k}.err", "wb"),  # noqa: SIM115
                                    text=True)
            procs.append(proc)
            assert proc.stdout is not None
            for line in proc.stdout:
                match = re.search(r"listening on (http://\S+)", line)
                if match:
                    base_urls.append(match.group(1))
                    break
            else:
                raise RuntimeError(f"engine serve did not start in {root}: "
                                   f"{(folder / f'serve{k}.err').read_text()[-2000:]}")
            threading_drain(proc.stdout)
        if workers > 1:  # the workers are up once each answers: give them a moment to bind their loops
            time.sleep(1.0)
        return asyncio.run(_drive_serve(base_urls, port, events, expected, batch, posters, timeout,
                                        [p.pid for p in procs], rate))
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(folder, ignore_errors=True)
        if dsn is not None:
            import psycopg

            with psycopg.connect(dsn, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def threading_drain(stream: Any) -> None:
    """Read a subprocess's remaining output in a thread (so it never blocks on a full pipe)."""
    import threading

    threading.Thread(target=lambda: [None for _ in stream], daemon=True).start()


async def _drive(deliverer: Any, events: list[dict[str, Any]], conc: int) -> tuple[float, list[float]]:
    """UserMotion's presets over `events` through `deliverer`, `conc` events in flight: (seconds, latencies)."""
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
            await deliver_event(dest, event, settings, subs, deliverer)
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


HEADERS = {"content-type": "application/json", "authorization": "Basic test-key-123"}


async def _bare_httpx_client(client: Any, bodies: list[bytes], port: int, conc: int) -> tuple[float, list[float]]:
    async with client:
        url = f"http://127.0.0.1:{port}/v1/track"

        async def post(body: bytes) -> None:
            r = await client.post(url, content=body, headers=HEADERS)
            r.raise_for_status()
        return await _bare(post, bodies, conc)


async def bare_httpx(bodies: list[bytes], port: int, conc: int) -> tuple[float, list[float]]:
    import httpx

    limits = httpx.Limits(max_connections=conc, max_keepalive_connections=conc)
    return await _bare_httpx_client(httpx.AsyncClient(limits=limits), bodies, port, conc)


async def bare_httpx_aiohttp(bodies: list[bytes], port: int, conc: int) -> tuple[float, list[float]]:
    import httpx
    from httpx_aiohttp import AiohttpTransport

    limits = httpx.Limits(max_connections=conc, max_keepalive_connections=conc)
    return await _bare_httpx_client(httpx.AsyncClient(transport=AiohttpTransport(limits=limits)), bodies, port, conc)


async def bare_aiohttp(bodies: list[bytes], port: int, conc: int) -> tuple[float, list[float]]:
    import aiohttp

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=conc)) as session:
        url = f"http://127.0.0.1:{port}/v1/track"

        async def post(body: bytes) -> None:
            async with session.post(url, data=body, headers=HEADERS) as r:
                await r.read()
                r.raise_for_status()
        return await _bare(post, bodies, conc)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=5000)
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 16, 64])
    ap.add_argument("--baseline", metavar="DIR", type=Path,
                    help="also time `engine send` and `engine serve` from this checkout (before/after in one run)")
    ap.add_argument("--queue-dsn", default=PG_DSN, metavar="DSN",
                    help="PostgreSQL for the serve-pg rows (default $ENGINE_BENCH_POSTGRES_DSN or the local test server)")
    ap.add_argument("--only", nargs="+", choices=ROWS, default=list(ROWS), metavar="ROW",
                    help=f"rows to run (default all: {' '.join(ROWS)})")
    ap.add_argument("--serve-workers", type=int, nargs="+", default=[1], metavar="N",
                    help="engine serve --workers values for the serve row (default 1)")
    ap.add_argument("--split", action="store_true",
                    help="with --serve-workers N > 1, also run the row with each worker at concurrency / N, so that "
                         "all of them together have the row's concurrency in flight (the bare rows' own)")
    ap.add_argument("--rounds", type=int, default=1, metavar="K",
                    help="run all the rows K times, one round after the other, and give each serve row's share of "
                         "bare aiohttp per round (both from the same round) and their median: on a shared machine one "
                         "round's rows can meet very different neighbours")
    ap.add_argument("--rate", type=float, metavar="EV_PER_S",
                    help="also feed engine serve at this steady rate (e.g. 1000) for latency below saturation")
    args = ap.parse_args()
    rows = set(args.only)
    n = args.events
    events = list(generate(n))
    from engine.runtime import load_destination
    from engine.runtime.settings import resolve_settings
    dest = load_destination(SLUG)
    settings = resolve_settings(dest.settings_spec, SETTINGS[SLUG])
    bodies = [req.body for e in events for r in dest.plan_event(e, settings, dest.subscriptions()) if r.plan
              for req in r.plan.requests]
    accepted_events, serve_requests = serve_events(events)
    tmp = tempfile.mkdtemp()
    path, small = os.path.join(tmp, "events.jsonl"), os.path.join(tmp, "small.jsonl")
    with open(path, "wb") as f:
        f.writelines(orjson.dumps(e) + b"\n" for e in events)
    with open(small, "wb") as f:
        f.writelines(orjson.dumps(e) + b"\n" for e in events[:200])
    sink, port = start_sink()
    print(f"machine: {os.cpu_count()} CPUs, {cpu_model()}, Python {sys.version.split()[0]}; sink on 127.0.0.1:{port}; "
          f"{n:,} events -> {len(bodies):,} requests ({SLUG}); engine serve: {len(accepted_events):,} events "
          f"-> {serve_requests:,} requests")
    print(f"{'client':<32} {'conc':>4} {'events/s':>9} {'req/s':>9} {'p50 ms':>7} {'p99 ms':>7} {'accept ev/s':>11} "
          f"{'cpu µs/ev':>10}")
    per_req = len(bodies) / n

    rates: dict[tuple[str, int], list[float]] = {}  # req/s of each round

    def line(name: str, conc: int, ev: str, req: float, lat: list[float] | None = None, extra: str = "") -> None:
        rates.setdefault((name, conc), []).append(req)
        p50 = f"{pct(lat, .5) / 1000:>7.2f}" if lat else f"{'':>7}"
        p99 = f"{pct(lat, .99) / 1000:>7.2f}" if lat else f"{'':>7}"
        print(f"{name:<32} {conc:>4} {ev:>9} {req:>9,.0f} {p50} {p99} {extra}".rstrip(), flush=True)

    def serve_line(name: str, conc: int, **options: Any) -> None:
        secs, accept, cpu, lat = engine_serve(accepted_events, serve_requests, port, conc, **options)
        m = len(accepted_events)
        line(name, conc, f"{m / secs:,.0f}", serve_requests / secs, lat,
             extra=f"{m / accept:>11,.0f} {cpu / m * 1e6:>10,.0f}")

    roots = [("", ROOT)] + ([(", baseline", args.baseline.resolve())] if args.baseline else [])
    try:
        for round_no in range(args.rounds):
            if args.rounds > 1:
                print(f"-- round {round_no + 1} of {args.rounds}", flush=True)
            for conc in args.concurrency:
                for suffix, root in roots:
                    if "send" in rows:
                        secs, _ = engine_send(path, small, port, conc, root)
                        ev = n - 200
                        line(f"engine send{suffix or ' (subprocess)'}", conc, f"{ev / secs:,.0f}", ev * per_req / secs)
                for suffix, root in roots:
                    for workers in args.serve_workers if "serve" in rows else []:
                        serve_line(f"engine serve{suffix or ' (subprocess)'}" + (f" -w{workers}" if workers > 1 else ""),
                                   conc, root=root, workers=workers)
                        if args.split and workers > 1:
                            serve_line(f"engine serve{suffix or ' (subprocess)'} -w{workers} x{split_concurrency(conc, workers)}",
                                       conc, root=root, workers=workers, split=True)
                    if "serve" in rows and args.rate:
                        serve_line(f"engine serve{suffix} @ {args.rate:,.0f} ev/s", conc, root=root, rate=args.rate)
                for row, name, nodes in (("serve-pg", "engine serve, postgres", 1),
                                         ("serve-pg2", "engine serve, postgres, 2 nodes", 2)):
                    if row in rows:
                        serve_line(name, conc, dsn=args.queue_dsn, nodes=nodes)
                if "library" in rows:
                    secs, lat = asyncio.run(engine_library(events, port, conc))
                    line("engine library", conc, f"{n / secs:,.0f}", len(bodies) / secs, lat)
                for row, name, fn in (("httpx", "bare httpx", bare_httpx),
                                      ("httpx-aiohttp", "bare httpx over aiohttp", bare_httpx_aiohttp),
                                      ("aiohttp", "bare aiohttp", bare_aiohttp),
                                      ("aiohttp-uvloop", "bare aiohttp on uvloop", bare_aiohttp)):
                    if row in rows:
                        if row == "aiohttp-uvloop":
                            try:
                                import uvloop
                            except ImportError:
                                print(f"{name:<32} {conc:>4}  (uvloop is not installed: pip install uvloop)")
                                continue
                            secs, lat = uvloop.run(fn(bodies, port, conc))
                        else:
                            secs, lat = asyncio.run(fn(bodies, port, conc))
                        line(name, conc, "", len(bodies) / secs, lat)
        for (name, conc), reqs in rates.items():
            if name.startswith("engine serve") and " @ " not in name:  # a paced row is not a rate to compare
                shares = []
                for bare in ("bare aiohttp", "bare aiohttp on uvloop"):
                    ratios = [req / other * 100 for req, other in zip(reqs, rates.get((bare, conc), []), strict=False)]
                    if len(ratios) == 1:
                        shares.append(f"{ratios[0]:.0f} % of {bare}")
                    elif ratios:
                        shares.append(f"{statistics.median(ratios):.0f} % of {bare} (median of rounds: "
                                      f"{', '.join(f'{r:.0f} %' for r in ratios)})")
                if shares:
                    print(f"{name} at {conc}: {statistics.median(reqs):,.0f} req/s = " + "; ".join(shares))
    finally:
        sink.terminate()
        sink.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
