"""Where an event's time goes, stage by stage, per destination (plan path, µs per event).

    .venv/bin/python bench/stages.py                     # 10,000 events through each of the four specs
    .venv/bin/python bench/stages.py usermaven --events 20000 --repeat 3

Stages, in the order `engine plan` runs them: match (integrations object + every preset's trigger), map (the
preset's mapping), validate (payload validation of the action's fields), ctx (the template context), render
(the action's steps: URL, headers, body) and tojson (`results_line`: the output line as `engine plan` writes it,
secrets masked, JSON bytes). The last column, planner, is the whole line as `engine plan` makes it (its
`LinePlanner`: the same stages in one pass, with what the settings decide made ahead), for comparison with the
total of the stages. Times are wall clock from `perf_counter_ns`; run on a quiet machine, or compare rows of one run.
With --repeat N each destination is timed N times and the fastest run is kept (less noise from other work).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import orjson  # noqa: E402

from bench.events import generate  # noqa: E402
from bench.plan import SLUGS, load  # noqa: E402

STAGES = ("match", "map", "validate", "ctx", "render", "tojson")


def time_stages(slug: str, events: list[dict]) -> dict[str, float]:
    """µs per event spent in each stage for `slug` over `events`."""
    from engine.mapping import MappingRuntimeError
    from engine.payload import PayloadError
    from engine.runtime.destination import ActionResult, results_line
    from engine.templates import TemplateError

    dest, settings, subs, masker = load(slug)
    t = dict.fromkeys(STAGES, 0)
    clk = time.perf_counter_ns
    for ev in events:
        t0 = clk()
        matched = list(dest.matching(ev, subs))
        t["match"] += clk() - t0
        results = []
        for sub in matched:
            a = clk()
            try:
                mapped = sub.mapping(ev)
            except MappingRuntimeError:
                t["map"] += clk() - a
                continue
            b = clk()
            t["map"] += b - a
            try:
                payload = sub.action.validate(mapped if isinstance(mapped, dict) else {})
            except PayloadError as exc:
                t["validate"] += clk() - b
                results.append(ActionResult(sub.action.key, sub.name, "invalid", str(exc)))
                continue
            c = clk()
            t["validate"] += c - b
            ctx = dest.context(payload, settings)
            d = clk()
            t["ctx"] += d - c
            result = ActionResult(sub.action.key, sub.name, "ok", payload=payload)
            try:
                result.plan = sub.action.runnable.plan(ctx)
            except TemplateError as exc:
                result.status, result.error = "error", str(exc)
            t["render"] += clk() - d
            results.append(result)
        e = clk()
        results_line(results, masker)
        t["tojson"] += clk() - e
    return {k: v / len(events) / 1000 for k, v in t.items()}


def time_planner(slug: str, events: list[dict]) -> float:
    """µs per event of `engine plan`'s LinePlanner for `slug` over `events`."""
    from engine.runtime.planner import LinePlanner

    planner = LinePlanner(*load(slug))
    start = time.perf_counter_ns()
    for ev in events:
        planner(ev)
    return (time.perf_counter_ns() - start) / len(events) / 1000


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("slugs", nargs="*", default=SLUGS, help="destinations (default: all four)")
    ap.add_argument("--events", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=1, help="time each destination N times, keep the fastest")
    args = ap.parse_args(argv)
    events = [orjson.loads(orjson.dumps(e)) for e in generate(args.events)]
    print(f"{args.events:,} events; µs per event by stage (fastest of {args.repeat})")
    print(f"{'destination':<12} {'total':>7} " + " ".join(f"{s:>8}" for s in STAGES) + f" {'planner':>8}")
    for slug in args.slugs:
        runs = [time_stages(slug, events) for _ in range(args.repeat)]
        best = min(runs, key=lambda r: sum(r.values()))
        planner = min(time_planner(slug, events) for _ in range(args.repeat))
        print(f"{slug:<12} {sum(best.values()):>7.1f} " + " ".join(f"{best[s]:>8.1f}" for s in STAGES)
              + f" {planner:>8.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
