"""Start-up with many destination instances (issue 18, defect 11): `python bench/startup.py 250 500 1000 2000`.

Writes a runner config of N instances (the four specs in turn, each instance with its own secret settings,
every API host routed to the sandbox) and times, each as a subprocess of the engine:

    check   `engine config check --config FILE`, start to exit
    ready   `engine serve --config FILE` from its start to the first 200 from GET /ready
    health  one GET /health once ready (the answer is checked: one state per instance)
    idle    GET /health again after 5 s of idling (median of 3), and the CPU the idle server used

Prints a table with, per row after the first, the ratio of each time to the previous row's: a doubling of N
should about double the times (ratio ~2), not quadruple them. `--root DIR` (repeatable) times the engine of
another checkout (e.g. `git archive main | tar -x -C /tmp/before`), one table per root, in one run.
`--profile N` prints a cProfile of loading the config and starting the app in process instead.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENGINE = [sys.executable, "-m", "engine"]
IDLE = 5.0  # seconds the server runs idle before /health is timed again
_SPECS = (
    ("usermotion", lambda: {"apiKey": secrets.token_urlsafe(18)}),
    ("usermaven", lambda: {"api_key": secrets.token_urlsafe(18), "server_token": secrets.token_urlsafe(18)}),
    ("userpilot", lambda: {"apiKey": secrets.token_urlsafe(18), "endpoint": "https://analytex.userpilot.io/"}),
    ("usercom", lambda: {"apiKey": secrets.token_urlsafe(18), "appSubdomain": "acme"}),
)
_HOSTS = ("api.usermotion.com", "events.usermaven.com", "analytex.userpilot.io", "acme.user.com")


def write_config(folder: Path, instances: int) -> Path:
    """A valid engine.yaml with `instances` destination instances (JSON is YAML) in `folder`."""
    destinations = []
    for i in range(instances):
        spec, settings = _SPECS[i % len(_SPECS)]
        destinations.append({"id": f"{spec}-{i}", "spec": spec, "settings": settings()})
    config = {
        "sources": [{"name": "web", "write_key": secrets.token_urlsafe(18)}],
        "destinations": destinations,
        "routes": {host: "sandbox" for host in _HOSTS},
        "queue": {"path": str(folder / "data"), "durability": "normal"},
    }
    path = folder / "engine.yaml"
    path.write_text(json.dumps(config, indent=1), encoding="utf-8")
    return path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(url: str, timeout: float) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:  # noqa: S310 - a loopback URL
            return answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def time_check(path: Path, root: Path) -> float:
    start = time.perf_counter()
    done = subprocess.run([*ENGINE, "config", "check", "--config", str(path)], capture_output=True, cwd=root)
    took = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"config check failed: {done.stderr.decode()[-2000:]}")
    return took


def _cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) process `pid` has used (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def time_serve(path: Path, instances: int, limit: float, root: Path) -> tuple[float, float, float, float]:
    """(seconds to the first 200 from /ready, of the first GET /health, the median of three GET /health
    IDLE seconds later, and the CPU share the idle server used meanwhile)."""
    port = _free_port()
    start = time.perf_counter()
    proc = subprocess.Popen([*ENGINE, "serve", "--config", str(path), "--port", str(port), "--quiet-sandbox"],
                            cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"engine serve ended: {proc.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
            if time.perf_counter() - start > limit:
                raise TimeoutError
            try:
                status, _ = _get(f"http://127.0.0.1:{port}/ready", 5)
            except OSError:
                status = 0
            if status == 200:
                break
            time.sleep(0.05)
        ready = time.perf_counter() - start
        start = time.perf_counter()
        status, body = _get(f"http://127.0.0.1:{port}/health", limit)
        health = time.perf_counter() - start
        cpu = _cpu_seconds(proc.pid)
        time.sleep(IDLE)
        idle_cpu = (_cpu_seconds(proc.pid) - cpu) / IDLE
        times = []
        for _ in range(3):
            begin = time.perf_counter()
            _get(f"http://127.0.0.1:{port}/health", limit)
            times.append(time.perf_counter() - begin)
        states = json.loads(body).get("instances", {})
        if status != 200 or len(states) != instances or any(s.get("state") != "ok" for s in states.values()):
            raise SystemExit(f"/health answered {status} with {len(states)} instance states")
        return ready, health, sorted(times)[1], idle_cpu
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def profile(instances: int) -> None:
    import asyncio

    from engine.config import load_config
    from engine.server import build_app

    with tempfile.TemporaryDirectory() as tmp:
        path = write_config(Path(tmp), instances)

        async def start() -> None:
            app = build_app(load_config(path), log=None)
            await app.startup()
            await app.shutdown()
            app.queue.close()

        profiler = cProfile.Profile()
        profiler.runcall(asyncio.run, start())
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("counts", type=int, nargs="*", default=[250, 500, 1000, 2000])
    parser.add_argument("--limit", type=float, default=120.0, help="seconds after which a measurement gives up")
    parser.add_argument("--root", type=Path, action="append", help="the engine checkout to time (default: this one)")
    parser.add_argument("--profile", type=int, metavar="N", help="cProfile the in-process start-up of N instances")
    args = parser.parse_args()
    if args.profile:
        profile(args.profile)
        return
    for root in args.root or [ROOT]:
        table(root.resolve(), args.counts, args.limit)


def table(root: Path, counts: list[int], limit: float) -> None:
    """Times of the engine in `root` (`python -m engine` run there) for each count of instances."""
    print(f"engine of {root}")
    print(f"{'instances':>9} | {'check s':>8} {'x':>5} | {'ready s':>8} {'x':>5} | {'health s':>8} {'x':>5} | "
          f"{'idle health s':>13} {'x':>5} | idle CPU")
    last: tuple[float, ...] | None = None
    for n in counts:
        with tempfile.TemporaryDirectory() as tmp:
            path = write_config(Path(tmp), n)
            try:
                check = time_check(path, root)
                ready, health, idle_health, idle_cpu = time_serve(path, n, limit, root)
            except TimeoutError:
                print(f"{n:>9} | did not get ready within {limit:g} s")
                break
        times = (check, ready, health, idle_health)
        ratios = [f"{t / p:5.2f}" if last else "     " for t, p in zip(times, last or times, strict=True)]
        print(f"{n:>9} | {check:8.2f} {ratios[0]} | {ready:8.2f} {ratios[1]} | {health:8.3f} {ratios[2]} | "
              f"{idle_health:13.3f} {ratios[3]} | {idle_cpu:7.0%}", flush=True)
        last = times

if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
