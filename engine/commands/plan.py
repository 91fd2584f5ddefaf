"""`engine plan`: show the requests events become, without sending anything."""

from __future__ import annotations

import argparse
import select
import sys
from collections.abc import Callable
from typing import Any

from engine.commands._common import add_dest_options, load_for_command, print_error

_BATCH_BYTES = 1 << 18  # output of a file's events goes out in writes of about this size

EPILOG = """\
examples:
  engine plan usermotion events.jsonl
  echo '{"type":"identify","userId":"u1","traits":{"email":"a@b.co"}}' | engine plan usermotion
  engine plan usercom --settings @settings.json --action identify events.json
  engine plan specs/acme.yaml --action track --mapping '{"eventName": {"@path": "$.event"}}' -

Input: JSON lines, a JSON array, or a Segment batch object {"batch": [...]}.
Output: one JSON line per input event:
  {"results": [{"action", "preset", "status": "ok"|"invalid"|"error", "error", "requests": [...]}]}
  an event that becomes no request: {"results": [], "reason": "filtered: ..."} (no trigger matched, or
  the event's type or integrations object excludes the destination)
Without --action the event goes through the spec's presets in order; with --action that action runs
on its default mapping (plus --mapping overrides) regardless of triggers. Multi-step actions list the
requests that need no earlier response and name the steps that do ("unplanned").
With --batch N the events are taken N at a time and each group prints one line: every request the
group becomes (an action with a batch request sends its payloads together, split by max_count,
max_bytes and batch keys; "items" are positions in the group) and the items that fail before sending.
Secrets (password settings) are shown as **** unless --show-secrets. Missing required settings are
filled with placeholders such as <apiKey> so a spec can be explored without credentials.
"""


_EMPTY = b'{"results":[]}\n'
_UNMATCHED = b'{"results":[],"reason":"filtered: no preset\'s trigger matched the event"}\n'
_EXCLUDED = b'{"results":[],"reason":"filtered: the event\'s type or its integrations object excludes this destination"}\n'


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "plan", help="show the requests events become (sends nothing)",
        description="Route events through a destination's presets (or one action), map, validate and render "
                    "the requests, and print them. Nothing is sent.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_dest_options(p)
    p.add_argument("--batch", type=int, metavar="N",
                   help="plan the events N at a time as `engine send` delivers them: one line per N events listing "
                        "the requests they become (batch requests with their items' positions) and what fails")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import orjson

    from engine.events import open_input, read_events
    from engine.runtime.planner import LinePlanner

    loaded = load_for_command(args, placeholders=True)
    if isinstance(loaded, int):
        return loaded
    dest, settings, subs, masker = loaded
    try:
        stream = open_input(args.input)
    except OSError as exc:
        print_error(f"{args.input}: {exc.strerror}")
        return 2
    if args.batch is not None:
        return _run_batches(args.batch, stream, dest, settings, subs, masker)
    out = sys.stdout
    # Lines go to the binary buffer (one orjson.dumps each, newline included) unless stdout is a
    # terminal (line-buffered text, so each line shows as its event is read) or has no buffer.
    raw = None if out.isatty() else getattr(out, "buffer", None)
    # Into a file or pipe, output is gathered into large writes (a pipe reader is woken ~30 times less often
    # than with 8 kB writes, and with PYTHONUNBUFFERED every line would be a system call). Events from a file go
    # out in ~256 kB writes; from standard input, whenever no more input is waiting, so lines come out as soon
    # as events stop arriving (a live stream) and in large writes while they pour in.
    batch = raw is not None
    waiting = _input_waiting(stream) if batch and args.input in (None, "-") else None
    if raw is not None:
        out.flush()
        write = raw.write
    else:
        def write(data: bytes) -> Any:
            return out.write(data.decode())
    pending: list[bytes] = []
    size = 0
    dumps, newline = orjson.dumps, orjson.OPT_APPEND_NEWLINE
    line_for = LinePlanner(dest, settings, subs, masker)  # results_line(dest.plan_event(...)), compiled for these settings
    try:
        with stream:
            for item in read_events(stream):
                if item.error:
                    line = dumps({"error": item.error}, option=newline)
                else:
                    line = line_for(item.event)
                    if line == _EMPTY:  # no request: say why, as `engine send` does
                        line = _UNMATCHED if dest.allows(item.event) else _EXCLUDED
                if not batch:
                    write(line)
                    continue
                pending.append(line)
                size += len(line)
                if size >= _BATCH_BYTES:
                    write(b"".join(pending))
                    pending.clear()
                    size = 0
                elif waiting is not None and not waiting():  # no event waiting: out with what there is, now
                    write(b"".join(pending))
                    raw.flush()  # type: ignore[union-attr]
                    pending.clear()
                    size = 0
    finally:
        if pending:
            write(b"".join(pending))
        if raw is not None:
            raw.flush()
    return 0


def _run_batches(size: int, stream: Any, dest: Any, settings: dict[str, Any], subs: list[Any], masker: Any) -> int:
    """`--batch N`: per N events one line {"events", "requests": [{"action", "preset", "items", "request"}],
    "failed": [{"item", verdict...}]}; lines that are not events are reported as they come."""
    import orjson

    from engine.events import read_events
    from engine.runtime.batching import plan_batches, plan_lines

    if size < 1:
        print_error("--batch must be at least 1")
        return 2
    out = sys.stdout

    def flush(events: list[dict[str, Any]]) -> None:
        line = plan_lines(plan_batches(dest, events, settings, subs, masker), settings, masker)
        out.write(masker.mask_text(orjson.dumps(line).decode()) + "\n")

    group: list[dict[str, Any]] = []
    with stream:
        for item in read_events(stream):
            if item.error:
                out.write(orjson.dumps({"error": item.error}).decode() + "\n")
                continue
            group.append(item.event)
            if len(group) >= size:
                flush(group)
                group = []
    if group:
        flush(group)
    return 0


def _input_waiting(stream: Any) -> Callable[[], bool]:
    """A check whether more input is waiting to be read (or the input has ended) on `stream`'s descriptor, without
    blocking; without one (no descriptor, no poll: not Linux or macOS) it always says no, so every line is written
    at once."""
    try:
        fd = stream.fileno()
        poller = select.poll()
        poller.register(fd, select.POLLIN)
    except (OSError, ValueError, AttributeError):
        return lambda: False
    return lambda: bool(poller.poll(0))
