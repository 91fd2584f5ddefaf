"""Side by side, in one run, on the same events: this engine's plan path vs Segment's runtime (Node).

    .venv/bin/python bench/compare.py [--events 50000] [--cli]

Segment's side is bench/segment_compare/run.mjs (actions-core 3.170.0 + action-destinations 3.497.0, network
stubbed); it finds the npm packages in bench/segment_compare/node_modules or in $SEGREF (default /tmp/segref;
see bench/segment_compare/README.md for installing them). Both sides time the same thing per event: preset
matching, mapping, validation and request building (plus, here, `engine plan`'s masked JSON output line, as its
`LinePlanner` makes it); parsing the input line is outside both timers.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import orjson  # noqa: E402

from bench.events import generate  # noqa: E402
from bench.plan import cpu_model, engine_plan_rate, run_destination  # noqa: E402

SLUGS = ["usermotion", "usermaven", "userpilot"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=50_000)
    ap.add_argument("--cli", action="store_true",
                    help="also run `engine plan` as a subprocess over the same events file (start-up excluded; "
                         "includes reading and parsing each line, as the command does)")
    args = ap.parse_args()
    lines = [orjson.dumps(e) for e in generate(args.events)]
    with tempfile.NamedTemporaryFile("wb", suffix=".jsonl", delete=False) as f:
        f.write(b"\n".join(lines) + b"\n")
        path = f.name
    seg: dict[str, Any] = {}
    ours: dict[str, Any] = {}
    cli: dict[str, tuple[int, float, float]] = {}
    try:
        # one destination at a time, Segment then this engine, so that both see the same load on a shared machine
        for slug in SLUGS:
            proc = subprocess.run(["node", str(ROOT / "bench/segment_compare/run.mjs"), path, slug],
                                  capture_output=True, text=True, env={**os.environ, "TZ": "UTC"})
            if proc.returncode != 0:
                print(proc.stderr, file=sys.stderr)
                print("Segment's runtime did not run (are the npm packages installed? see "
                      "bench/segment_compare/README.md)", file=sys.stderr)
                return 1
            seg[slug] = json.loads(proc.stdout.splitlines()[-1])
            ours[slug] = run_destination(slug, lines)
            if args.cli:
                cli[slug] = engine_plan_rate(slug, path)
    finally:
        os.unlink(path)
    print(f"{args.events:,} events, {os.cpu_count()} CPUs, {cpu_model()}, Python {sys.version.split()[0]}, "
          f"node {subprocess.run(['node', '--version'], capture_output=True, text=True).stdout.strip()}")
    print(f"{'destination':<12} {'Segment ev/s':>13} {'p50 µs':>7} {'p99 µs':>7} | {'engine ev/s':>12} {'p50 µs':>7} "
          f"{'p99 µs':>7} | {'ratio':>6}  requests (Segment/engine)")
    seg_s = our_s = 0.0
    for slug in SLUGS:
        s, o = seg[slug], ours[slug]
        o_rate = o["events"] / (o["busy_ns"] / 1e9)
        seg_s, our_s = seg_s + s["seconds"], our_s + o["busy_ns"] / 1e9
        print(f"{slug:<12} {s['events_per_s']:>13,.0f} {s['p50_us']:>7.0f} {s['p99_us']:>7.0f} | {o_rate:>12,.0f} "
              f"{o['hist'].pct(.5):>7.0f} {o['hist'].pct(.99):>7.0f} | {o_rate / s['events_per_s']:>5.1f}x  "
              f"{s['requests']:,}/{o['requests']:,}")
    n = args.events * len(SLUGS)
    print(f"{'overall':<12} {n / seg_s:>13,.0f} {'':>7} {'':>7} | {n / our_s:>12,.0f} {'':>7} {'':>7} | "
          f"{seg_s / our_s:>5.1f}x")
    if cli:
        print("`engine plan` as a subprocess over the same file (start-up excluded; reading and parsing lines included):")
        cli_s = 0.0
        for slug in SLUGS:
            events, secs, startup = cli[slug]
            cli_s += secs * args.events / events
            rate = events / secs
            print(f"{slug:<12} {rate:>12,.0f} ev/s  {rate / seg[slug]['events_per_s']:>5.1f}x Segment  "
                  f"(start-up {startup:.2f} s)")
        print(f"{'overall':<12} {n / cli_s:>12,.0f} ev/s  {seg_s / cli_s:>5.1f}x Segment")
    return 0


if __name__ == "__main__":
    sys.exit(main())
