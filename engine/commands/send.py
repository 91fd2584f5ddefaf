"""`engine send`: deliver events to a destination, with retries, a report and a summary."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from dataclasses import dataclass
from typing import Any

from engine.commands._common import (
    add_delivery_options,
    add_dest_options,
    load_config_for_command,
    load_for_command,
    make_deliverer,
    print_error,
)

EPILOG = """\
examples:
  engine send usermotion --settings '{"apiKey": "..."}' events.jsonl
  engine send usercom --settings @usercom.json --route acme.user.com=http://127.0.0.1:9000 events.json
  engine send userpilot --settings @up.json --report verdicts.jsonl --concurrency 32 -
  engine send --config engine.yaml events.jsonl      every enabled instance of the config

Every event gets a verdict per matching action: delivered, filtered (no trigger matched or the
integrations object excluded it), invalid (payload validation failed; nothing sent) or failed
(a permanent error, or retries exhausted). Network errors, timeouts, 408, 423, 429 and 5xx other
than 501 are retried with exponential backoff and full jitter, honouring Retry-After.
--route HOST=BASE_URL sends requests for HOST to BASE_URL instead (TLS verification stays on).
Actions with a batch request send their payloads together (up to the spec's max_count and max_bytes,
split by its batch keys), each event keeping its own verdict; --no-batch sends one request per event.
Ctrl-C stops reading input, finishes the requests in flight and reports what was not sent.
Exit status: 0 when nothing failed or was invalid, 1 otherwise, 2 for usage errors.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "send", help="deliver events to a destination with retries",
        description="Deliver events to a destination: route through presets (or one action), map, validate, "
                    "send with retries, and summarise the verdicts.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_dest_options(p)
    add_delivery_options(p)
    p.add_argument("--config", metavar="FILE",
                   help="deliver to every enabled instance of a runner config (engine.yaml) instead of one DEST: "
                        "its settings, mappings, routes (sandbox too) and retry policy; give only the events FILE")
    p.add_argument("--instance", action="append", default=[], metavar="ID", help="with --config: only these instances")
    p.add_argument("--report", metavar="FILE", help="write one JSON line of verdicts per event to FILE")
    p.add_argument("--no-batch", action="store_true",
                   help="send one request per event even for actions with a batch request")
    p.add_argument("--no-progress", action="store_true", help="no progress bar even on a terminal")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.config:
        # `engine send --config engine.yaml FILE`: the one positional is the events file
        if args.input != "-":
            print_error("with --config give only the events FILE (the config names the destinations)")
            return 2
        args.input, args.dest = args.dest, None
        loaded: Any = None
    else:
        if args.instance:
            print_error("--instance needs --config")
            return 2
        loaded = load_for_command(args)
        if isinstance(loaded, int):
            return loaded
    try:
        return asyncio.run(_send(args, loaded))
    except ValueError as exc:
        print_error(str(exc))
        return 2
    except OSError as exc:
        print_error(f"{exc.filename or args.input}: {exc.strerror}")
        return 2


REPORT_BATCH = 256  # report lines written at once


@dataclass
class Target:
    """Where each event goes: a destination with its settings, subscriptions and Deliverer."""

    label: str | None  # the config instance id; None for a single DEST
    dest: Any
    settings: dict[str, Any]
    subs: list[Any]
    deliverer: Any


def _targets(args: argparse.Namespace, loaded: Any) -> list[Target] | int:
    if loaded is not None:
        dest, settings, subs, masker = loaded
        return [Target(None, dest, settings, subs, make_deliverer(args, dest, masker))]
    from engine.server.sandbox import SandboxLog
    from engine.server.worker import instance_deliverer

    config = load_config_for_command(args.config)
    if isinstance(config, int):
        return config
    chosen = [d for d in config.enabled_destinations if not args.instance or d.id in args.instance]
    unknown = sorted(set(args.instance) - {d.id for d in config.destinations})
    if unknown or not chosen:
        print_error(f"no enabled instance {', '.join(unknown) or 'in the config'}; instances: "
                    f"{', '.join(d.id for d in config.destinations)}")
        return 2
    sandbox = SandboxLog(config.masker(), stream=sys.stderr)
    return [Target(d.id, d.destination, d.settings, d.subscriptions,
                   instance_deliverer(config, d, sandbox, args.transport, config.masker())) for d in chosen]


async def _send(args: argparse.Namespace, loaded: Any) -> int:
    import orjson
    from tqdm import tqdm

    from engine.delivery.verdicts import Summary
    from engine.events import count_events, open_input, read_events
    from engine.runtime.batching import deliver_events
    from engine.runtime.deliver import deliver_event

    targets = _targets(args, loaded)
    if isinstance(targets, int):
        return targets
    summary = Summary()
    report = open(args.report, "wb") if args.report else None  # noqa: SIM115 - closed below
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    try:
        loop.add_signal_handler(signal.SIGINT, stop.set)
    except (NotImplementedError, RuntimeError):
        pass
    shown = not args.no_progress and sys.stderr.isatty()
    # a file's events are counted first (only when the bar is shown), so that the bar has a total and an ETA
    progress = tqdm(unit=" events", disable=not shown, file=sys.stderr, total=count_events(args.input) if shown else None)
    unread = False
    stream = open_input(args.input)
    pending_lines: list[bytes] = []  # report lines, written in batches
    dumps = orjson.dumps

    def flush() -> None:
        if report is not None and pending_lines:
            report.write(b"".join(pending_lines))
        pending_lines.clear()

    def write(number: int, line: dict[str, Any]) -> None:
        if report is not None:
            pending_lines.append(dumps({"input": number, **line}) + b"\n")
            if len(pending_lines) >= REPORT_BATCH:
                flush()
        progress.update(1)

    single = targets[0] if len(targets) == 1 and targets[0].label is None else None
    invalid_input = 0
    items = iter(())
    # actions with a batch request: events are taken up to the largest max_count at a time and go through
    # deliver_events, which sends the batchable payloads together
    counts = [a.batch.max_count for t in targets for a in t.dest.actions.values() if a.batch is not None]
    chunk = 0 if args.no_batch or not counts else min(max(counts), 1000)

    async def batch_worker() -> None:
        nonlocal unread, invalid_input
        while True:
            if stop.is_set():  # before reading: what is read is also finished and reported
                unread = True
                return
            taken = []
            for item in items:
                taken.append(item)
                if len(taken) >= chunk:
                    break
            if not taken:
                return
            good = [item for item in taken if not item.error]
            events = [item.event for item in good]
            results = await asyncio.gather(*(deliver_events(t.dest, events, t.settings, t.subs, t.deliverer)
                                             for t in targets))
            per_event = {item.number: n for n, item in enumerate(good)}
            for item in taken:
                if item.error:
                    invalid_input += 1
                    print_error(item.error)
                    write(item.number, {"error": item.error})
                    continue
                n = per_event[item.number]
                for verdicts in results:
                    summary.extend(verdicts[n])
                summary.events = (summary.events or 0) + 1
                if targets[0].label is None:
                    write(item.number, {"verdicts": [v.to_json() for v in results[0][n]]})
                else:
                    write(item.number, {"instances": {t.label: [v.to_json() for v in r[n]]
                                                      for t, r in zip(targets, results, strict=True)}})

    async def worker() -> None:
        # `args.concurrency` of these pull events from one shared reader: as many events in flight as
        # before (one task per event, a semaphore), without a task and a gather per event
        nonlocal unread, invalid_input
        for item in items:
            if stop.is_set():
                unread = True
                return
            if item.error:
                invalid_input += 1
                print_error(item.error)
                write(item.number, {"error": item.error})
                continue
            event = item.event
            if single is not None:
                verdicts = await deliver_event(single.dest, event, single.settings, single.subs, single.deliverer)
                summary.extend(verdicts)
                summary.events = (summary.events or 0) + 1
                write(item.number, {"verdicts": [v.to_json() for v in verdicts]})
                continue
            results = await asyncio.gather(*(deliver_event(t.dest, event, t.settings, t.subs, t.deliverer)
                                             for t in targets))
            for verdicts in results:
                summary.extend(verdicts)
            summary.events = (summary.events or 0) + 1
            if targets[0].label is None:
                write(item.number, {"verdicts": [v.to_json() for v in results[0]]})
            else:
                write(item.number, {"instances": {t.label: [v.to_json() for v in verdicts]
                                                  for t, verdicts in zip(targets, results, strict=True)}})

    try:
        async with contextlib.AsyncExitStack() as clients:
            for target in targets:
                await clients.enter_async_context(target.deliverer)
            with stream:
                items = read_events(stream)
                runner = batch_worker if chunk else worker
                await asyncio.gather(*(runner() for _ in range(args.concurrency)))
    finally:
        flush()
        progress.close()
        if report is not None:
            report.close()
    print(summary.render_text(), file=sys.stderr)
    if invalid_input:
        print(f"{invalid_input} input line{'s' if invalid_input != 1 else ''} could not be read as events", file=sys.stderr)
    if unread:
        print(f"interrupted: the rest of {args.input if args.input != '-' else 'standard input'} was not read or sent "
              f"(events read and finished: {summary.total})", file=sys.stderr)
        return 1
    return 1 if summary.has_failures or invalid_input else 0
