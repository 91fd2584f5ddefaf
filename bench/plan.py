"""Plan-path benchmark: events -> presets -> mapping -> validation -> requests -> JSON, per destination.

    .venv/bin/python bench/plan.py                      # 50,000 events through each of the four specs
    .venv/bin/python bench/plan.py --events 200000
    .venv/bin/python bench/plan.py --stream 1000000     # memory must stay flat over a long stream
    .venv/bin/python bench/plan.py --cli                # also `engine plan` as a subprocess (start-up excluded)
    .venv/bin/python bench/plan.py --profile usermaven  # cProfile of one destination's loop
    .venv/bin/python bench/plan.py --batching           # requests per 1,000 events with and without batching
                                                        # (batchy, PostHog, Webhook)

Per event the timed work is what `engine plan` does after reading a line: its `LinePlanner` makes the masked
output line, as bytes (`results_line(dest.plan_event(...), masker)`, with what the settings decide made ahead).
JSON parsing of the input line is timed separately (it is the same for every destination). Latencies go into a 1-µs histogram (flat memory).
"""

from __future__ import annotations

import argparse
import gc
import os
import resource
import subprocess
import sys
import tempfile
import time
from array import array
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import orjson  # noqa: E402

from bench.events import generate  # noqa: E402

SLUGS = ["usermotion", "usermaven", "userpilot", "usercom"]
SETTINGS: dict[str, dict[str, Any]] = {
    "usermotion": {"apiKey": "test-key-123"},
    "usermaven": {"api_key": "test-key-123", "server_token": "test-token-456"},
    "userpilot": {"apiKey": "test-key-123", "endpoint": "https://analytex.userpilot.io/"},
    "usercom": {"apiKey": "test-key-123", "appSubdomain": "acme"},
}
HIST_MAX_US = 20_000


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


class Hist:
    """Latency histogram in whole µs (flat memory however many events)."""

    def __init__(self) -> None:
        self.counts = array("Q", bytes(8 * (HIST_MAX_US + 1)))
        self.n = 0

    def add(self, ns: int) -> None:
        us = ns // 1000
        self.counts[us if us < HIST_MAX_US else HIST_MAX_US] += 1
        self.n += 1

    def merge(self, other: Hist) -> None:
        for i, c in enumerate(other.counts):
            if c:
                self.counts[i] += c
        self.n += other.n

    def pct(self, p: float) -> float:
        want, seen = p * self.n, 0
        for i, c in enumerate(self.counts):
            seen += c
            if seen >= want and c:
                return float(i)
        return float(HIST_MAX_US)


def load(slug: str) -> tuple[Any, dict[str, Any], list[Any], Any]:
    from engine.runtime import load_destination
    from engine.runtime.settings import resolve_settings, secret_values
    from engine.secrets import Masker

    dest = load_destination(slug)
    settings = resolve_settings(dest.settings_spec, SETTINGS[slug])
    return dest, settings, dest.subscriptions(), Masker(secret_values(dest.settings_spec, settings))


def run_destination(slug: str, lines: list[bytes] | Any, hist: Hist | None = None) -> dict[str, Any]:
    """Plan every line through `slug` into its output line, as `engine plan` does (its LinePlanner); returns counts
    (read back from the lines, outside the timing) and timings."""
    from engine.runtime.planner import LinePlanner

    planner = LinePlanner(*load(slug))
    loads, clock, cpu = orjson.loads, time.perf_counter_ns, time.thread_time_ns
    hist = hist or Hist()
    add = hist.add
    n = requests = invalid = 0
    busy = parse = cpu_ns = 0
    gc.collect()
    for line in lines:
        t0 = clock()
        event = loads(line)
        c1 = cpu()
        t1 = clock()
        out = planner(event)
        t2 = clock()
        cpu_ns += cpu() - c1
        add(t2 - t1)
        parse += t1 - t0
        busy += t2 - t1
        n += 1
        for r in loads(out)["results"]:
            if r["status"] == "ok":
                requests += len(r["requests"])
            else:
                invalid += 1
    return {"slug": slug, "events": n, "requests": requests, "not_ok": invalid, "busy_ns": busy, "cpu_ns": cpu_ns, "parse_ns": parse,
            "hist": hist}


def bench(n: int) -> list[dict[str, Any]]:
    lines = [orjson.dumps(e) for e in generate(n)]
    rows = [run_destination(slug, lines) for slug in SLUGS]
    total = Hist()
    for r in rows:
        total.merge(r["hist"])
    print(f"{n:,} events per destination (seeded mix, {sum(map(len, lines)) / n:.0f} B/event as JSON); "
          f"timed: the output line (engine plan's LinePlanner)")
    print("events/s: wall clock; cpu ev/s: the thread's CPU time only (less disturbed by other load on the machine)")
    print(f"{'destination':<12} {'events/s':>10} {'cpu ev/s':>9} {'µs p50':>7} {'µs p99':>7} {'requests':>9} {'not ok':>7}"
          f"  (+ parse µs/event)")
    for r in rows:
        h = r["hist"]
        print(f"{r['slug']:<12} {r['events'] / (r['busy_ns'] / 1e9):>10,.0f} {r['events'] / (r['cpu_ns'] / 1e9):>9,.0f} "
              f"{h.pct(.5):>7.0f} {h.pct(.99):>7.0f} {r['requests']:>9,} {r['not_ok']:>7,}  (+{r['parse_ns'] / r['events'] / 1000:.1f})")
    ev, busy = sum(r["events"] for r in rows), sum(r["busy_ns"] for r in rows)
    cpu_ns = sum(r["cpu_ns"] for r in rows)
    print(f"{'overall':<12} {ev / (busy / 1e9):>10,.0f} {ev / (cpu_ns / 1e9):>9,.0f} {total.pct(.5):>7.0f} {total.pct(.99):>7.0f} "
          f"{sum(r['requests'] for r in rows):>9,} {sum(r['not_ok'] for r in rows):>7,}")
    print(f"peak RSS {peak_rss_mb():.0f} MB (includes the {n:,} pre-serialised events)")
    return rows


def stream(n: int) -> None:
    """`n` generated events through all four destinations round-robin, each into the line `engine plan` writes (its
    LinePlanner), RSS checked as we go."""
    from engine.runtime.planner import LinePlanner

    planners = [LinePlanner(*load(s)) for s in SLUGS]
    clock = time.perf_counter_ns
    hist, busy, marks = Hist(), 0, []
    step = max(n // 10, 1)
    start = time.perf_counter()
    for i, event in enumerate(generate(n)):
        planner = planners[i & 3]
        t0 = clock()
        planner(event)
        t1 = clock()
        hist.add(t1 - t0)
        busy += t1 - t0
        if (i + 1) % step == 0:
            marks.append(current_rss_mb())
            print(f"  {i + 1:>10,} events  RSS {marks[-1]:6.1f} MB  {(i + 1) / (time.perf_counter() - start):8,.0f} ev/s "
                  f"(incl. generation)", flush=True)
    growth = marks[-1] - marks[0]
    print(f"stream of {n:,}: {n / (busy / 1e9):,.0f} events/s planned, p50 {hist.pct(.5):.0f} µs, p99 {hist.pct(.99):.0f} µs; "
          f"RSS after 10% {marks[0]:.1f} MB, at end {marks[-1]:.1f} MB (growth {growth:+.1f} MB), "
          f"peak {peak_rss_mb():.1f} MB -> {'FLAT' if growth < 5 else 'GROWING'}")


def engine_plan_rate(slug: str, path: str) -> tuple[int, float, float]:
    """`engine plan SLUG PATH` as a subprocess: (events after the first output line, seconds from the first output
    line to the last, start-up seconds). Start-up (imports, loading and checking the spec) is excluded from the rate."""
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "engine", "plan", slug, "--settings",
                             orjson.dumps(SETTINGS[slug]).decode(), path],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=ROOT)
    assert proc.stdout is not None
    proc.stdout.readline()
    t1 = time.perf_counter()
    count = 1
    while chunk := proc.stdout.read(1 << 16):
        count += chunk.count(b"\n")
    t2 = time.perf_counter()
    if proc.wait() != 0:
        raise RuntimeError(f"engine plan {slug} exited with {proc.returncode}")
    return count - 1, t2 - t1, t1 - t0


def cli(n: int) -> None:
    """`engine plan DEST FILE` as a subprocess; throughput from first output line to the last (start-up excluded)."""
    with tempfile.NamedTemporaryFile("wb", suffix=".jsonl", delete=False) as f:
        for e in generate(n):
            f.write(orjson.dumps(e) + b"\n")
        path = f.name
    print(f"engine plan over {n:,} events (JSON lines file), start-up excluded:")
    total_ev = total_s = 0.0
    try:
        for slug in SLUGS:
            events, secs, startup = engine_plan_rate(slug, path)
            total_ev, total_s = total_ev + events, total_s + secs
            print(f"  {slug:<12} start-up {startup:5.2f} s   {events / secs:>9,.0f} events/s   ({events + 1:,} lines)")
        print(f"  {'overall':<12} {'':16} {total_ev / total_s:>9,.0f} events/s")
    finally:
        os.unlink(path)


# Destinations with batch requests, for --batching: (name, spec, settings). Webhook has no presets: its one action
# runs on every event. PostHog's Identify has no batch request and goes one by one either way.
BATCHING = [
    ("batchy", ROOT / "examples" / "batchy.yaml", {"apiKey": "test-key-123"}),
    ("posthog", ROOT / "specs" / "posthog.yaml", {"api_key": "phc_test_key_123", "project_id": "1"}),
    ("webhook", ROOT / "specs" / "webhook.yaml", {"url": "https://hooks.example.com/in", "sharedSecret": "s3cret"}),
]


def _batching_subs(dest: Any, on: bool) -> list[Any]:
    """The destination's presets (or, without presets, its first action on every event) with every batch's enabled
    field set to `on`."""
    from engine.runtime.destination import Subscription

    if not dest.presets:
        key, action = next(iter(dest.actions.items()))
        field = action.batch.enabled_field if action.batch else None
        return dest.subscriptions(key, {field: on} if field else None)
    subs = []
    for preset, raw in zip(dest.presets, dest.spec.get("presets") or [], strict=True):
        field = preset.action.batch.enabled_field if preset.action.batch else None
        mapping = {**(raw.get("mapping") or {}), **({field: on} if field else {})}
        subs.append(Subscription(preset.name, preset.action, preset.action.mapping_with(mapping), preset.trigger))
    return subs


def batching(n: int) -> None:
    """Each batching destination (BATCHING): what `n` events become, taken 1,000 at a time as `engine send` takes
    them, with batching on and off (the batches' enabled field true or false); requests per 1,000 events and the
    planning rate (routing, mapping, validation, grouping, rendering; nothing is sent)."""
    from engine.runtime.batching import plan_batches
    from engine.runtime.destination import load_destination
    from engine.runtime.settings import resolve_settings

    events = list(generate(n))
    print(f"batching destinations over {n:,} events (1,000 at a time); requests per 1,000 events:")
    for name, spec, raw in BATCHING:
        dest = load_destination(spec)
        settings = resolve_settings(dest.settings_spec, raw)
        for label, on in (("batching on", True), ("batching off", False)):
            subs = _batching_subs(dest, on)
            requests = payloads = 0
            t0 = time.perf_counter()
            for start in range(0, n, 1000):
                plan = plan_batches(dest, events[start:start + 1000], settings, subs)
                requests += len(plan.batches) + len(plan.singles)
                payloads += sum(len(b.items) for b in plan.batches) + len(plan.singles)
            secs = time.perf_counter() - t0
            print(f"  {name:<8} {label:<13} {requests * 1000 / n:>8.1f} requests per 1,000 events ({payloads:,} payloads "
                  f"sent, {requests:,} requests; {n / secs:,.0f} events/s planned)")


def profile(slug: str, n: int) -> None:
    import cProfile
    import pstats

    lines = [orjson.dumps(e) for e in generate(n)]
    prof = cProfile.Profile()
    prof.enable()
    run_destination(slug, lines)
    prof.disable()
    pstats.Stats(prof).sort_stats("tottime").print_stats(30)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=50_000)
    ap.add_argument("--stream", type=int, metavar="N", help="stream N generated events, checking memory stays flat")
    ap.add_argument("--cli", action="store_true", help="also time `engine plan` as a subprocess")
    ap.add_argument("--profile", metavar="SLUG")
    ap.add_argument("--batching", action="store_true", help="requests per 1,000 events with and without batching")
    args = ap.parse_args()
    print(f"machine: {os.cpu_count()} CPUs, {cpu_model()}, Python {sys.version.split()[0]}")
    if args.profile:
        profile(args.profile, args.events)
    elif args.batching:
        batching(args.events)
    elif args.stream:
        stream(args.stream)
    else:
        bench(args.events)
        if args.cli:
            cli(args.events)


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


if __name__ == "__main__":
    main()
