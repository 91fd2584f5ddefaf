"""`engine dlq`: list, show, replay and purge dead letters of the runner's queue."""

from __future__ import annotations

import argparse
import datetime as dt
import re
import sys
from typing import Any

from engine.commands._common import load_config_for_command, print_error
from engine.commands.config import add_config_option

EPILOG = """\
examples:
  engine dlq list --config engine.yaml
  engine dlq list --instance usermotion-prod --reason "HTTP 400" --since 2h
  engine dlq show 42 --format json
  engine dlq replay --instance usermotion-prod --since 2025-06-01T00:00:00Z
  engine dlq replay 42 43
  engine dlq purge --until 7d --yes

A dead letter is an event a destination instance will not get without help: a permanent error
(4xx other than 408/423/429) or retries exhausted. It keeps the event, the instance, the last verdict
and the response excerpt (secrets masked). `replay` puts dead letters back into the queue (a running
`engine serve` delivers them); `purge` deletes them for good and needs --yes.
--since/--until take an ISO time (2025-06-01, 2025-06-01T10:00:00Z) or an age: 30s, 15m, 2h, 7d, 1w.
--reason matches part of the reason, ignoring case.
Exit status: 0 done, 1 nothing matched (show: no such id), 2 usage or configuration error.
"""

_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$", re.I)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_when(text: str, now: float) -> float:
    """Epoch seconds for an ISO time (UTC when no offset is given) or an age such as 2h ('2h ago')."""
    match = _AGE.match(text)
    if match:
        return now - float(match.group(1)) * _UNITS[match.group(2).lower()]
    try:
        when = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(f"{text!r} is neither an ISO time (2025-06-01T10:00:00Z) nor an age (30m, 2h, 7d)") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.timestamp()


def _filters(p: argparse.ArgumentParser) -> None:
    p.add_argument("--instance", metavar="ID", help="only this destination instance")
    p.add_argument("--reason", metavar="TEXT", help="only reasons containing TEXT (case-insensitive)")
    p.add_argument("--since", metavar="WHEN", help="failed at or after WHEN (ISO time or age like 2h)")
    p.add_argument("--until", metavar="WHEN", help="failed before WHEN (ISO time or age like 2h)")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "dlq", help="list, show, replay or purge dead letters",
        description="Dead letters: events a destination instance did not get (permanent error or retries exhausted).",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="dlq_command", metavar="SUBCOMMAND")
    listing = sub.add_parser("list", help="dead letters, oldest first", epilog=EPILOG,
                             formatter_class=argparse.RawDescriptionHelpFormatter)
    show = sub.add_parser("show", help="one dead letter in full: event, verdict, response excerpt")
    replay = sub.add_parser("replay", help="put dead letters back into the queue")
    purge = sub.add_parser("purge", help="delete dead letters for good (needs --yes)")
    for q in (listing, show, replay, purge):
        add_config_option(q)
        q.add_argument("--format", choices=["text", "json"], default="text", help="text for people (default) or JSON")
    for q in (listing, replay, purge):
        _filters(q)
    listing.add_argument("--limit", type=int, default=100, metavar="N", help="at most N (default 100; 0 for all)")
    show.add_argument("id", type=int, metavar="ID", help="the dead letter's id (from engine dlq list)")
    for q in (replay, purge):
        q.add_argument("ids", type=int, nargs="*", metavar="ID", help="these dead letters (filters narrow them further)")
    purge.add_argument("--yes", action="store_true", help="really delete")
    listing.set_defaults(func=run_list)
    show.set_defaults(func=run_show)
    replay.set_defaults(func=run_replay)
    purge.set_defaults(func=run_purge)
    p.set_defaults(func=lambda args: (p.print_help(sys.stderr), 2)[1])


def _open(args: argparse.Namespace) -> Any:
    """The queue named by the config, or an exit code after printing why not."""

    config = load_config_for_command(args.config)
    if isinstance(config, int):
        return config
    if config.queue.kind == "sqlite" and not (config.queue.path / "queue.db").exists():
        print_error(f"no queue in {config.queue.path} yet (engine serve creates it)")
        return 2
    from engine.queue import QueueError

    try:
        return config.queue.open(maintenance=False) if config.queue.kind == "postgres" else config.queue.open()
    except QueueError as exc:
        print_error(str(exc))
        return 2


def _filter_values(args: argparse.Namespace) -> dict[str, Any] | int:
    import time

    now = time.time()
    try:
        since = parse_when(args.since, now) if args.since else None
        until = parse_when(args.until, now) if args.until else None
    except ValueError as exc:
        print_error(str(exc))
        return 2
    return {"instance": args.instance, "reason": args.reason, "since": since, "until": until}


def _iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _short(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[:width - 1] + "…"


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows)


def _dump(value: Any) -> str:
    import orjson

    return orjson.dumps(value).decode()


def run_list(args: argparse.Namespace) -> int:
    filters = _filter_values(args)
    if isinstance(filters, int):
        return filters
    queue = _open(args)
    if isinstance(queue, int):
        return queue
    with queue:
        letters = queue.dlq.list(limit=args.limit or None, **filters)
        total = queue.dlq.count(**filters)
    if args.format == "json":
        for d in letters:
            sys.stdout.write(_dump(d.to_json()) + "\n")
    elif letters:
        rows = [["ID", "FAILED AT", "INSTANCE", "TYPE", "MESSAGE ID", "ATTEMPTS", "REASON"]]
        for d in letters:
            kind = str(d.event.get("type", "?"))
            if kind == "track" and d.event.get("event"):
                kind = f"track {_short(str(d.event['event']), 24)}"
            rows.append([str(d.id), _iso(d.failed_at), d.instance, kind, str(d.message_id or "-"),
                         str(d.attempts), _short(d.reason, 60)])
        print(_table(rows))
    if args.format == "text":
        more = f" (showing {len(letters)}; --limit 0 for all)" if total > len(letters) else ""
        print(f"{total} dead letter{'s' if total != 1 else ''}{more}", file=sys.stderr)
    return 0 if letters else 1


def run_show(args: argparse.Namespace) -> int:
    queue = _open(args)
    if isinstance(queue, int):
        return queue
    with queue:
        letter = queue.dlq.get(args.id)
    if letter is None:
        print_error(f"no dead letter {args.id}")
        return 1
    if args.format == "json":
        sys.stdout.write(_dump(letter.to_json()) + "\n")
        return 0
    import orjson

    v = letter.verdict
    lines = [
        f"dead letter {letter.id} (job {letter.job_id})",
        f"instance:    {letter.instance}",
        f"message id:  {letter.message_id or '-'}",
        f"enqueued at: {_iso(letter.enqueued_at)}",
        f"failed at:   {_iso(letter.failed_at)} after {letter.attempts} attempt{'s' if letter.attempts != 1 else ''}",
        f"reason:      {letter.reason}",
    ]
    for key in ("action", "preset", "error", "hint"):
        if v.get(key):
            lines.append(f"{key + ':':<13}{v[key]}")
    if v.get("response_excerpt"):
        lines.append(f"response:    {v['response_excerpt']}")
    lines.append("event:")
    lines.append(orjson.dumps(letter.event, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode())
    print("\n".join(lines))
    return 0


def _selection(args: argparse.Namespace) -> tuple[dict[str, Any], str] | int:
    filters = _filter_values(args)
    if isinstance(filters, int):
        return filters
    ids = args.ids or None
    words = [f"ids {', '.join(map(str, args.ids))}"] if ids else []
    words += [f"{k} {getattr(args, k)}" for k in ("instance", "reason", "since", "until") if getattr(args, k)]
    return {"ids": ids, **filters}, (" and ".join(words) if words else "all")


def _selected_queue(args: argparse.Namespace) -> tuple[dict[str, Any], str, Any] | int:
    """The filters of replay/purge, their description, and the open queue; or an exit code."""
    selected = _selection(args)
    if isinstance(selected, int):
        return selected
    queue = _open(args)
    if isinstance(queue, int):
        return queue
    return (*selected, queue)


def run_replay(args: argparse.Namespace) -> int:
    opened = _selected_queue(args)
    if isinstance(opened, int):
        return opened
    selection, described, queue = opened
    with queue:
        count = queue.dlq.replay(selection.pop("ids"), **selection)
    if args.format == "json":
        sys.stdout.write(_dump({"replayed": count}) + "\n")
    else:
        print(f"replayed {count} dead letter{'s' if count != 1 else ''} ({described}) into the queue", file=sys.stderr)
    return 0 if count else 1


def run_purge(args: argparse.Namespace) -> int:
    opened = _selected_queue(args)
    if isinstance(opened, int):
        return opened
    selection, described, queue = opened
    with queue:
        if not args.yes:
            matching = queue.dlq.list(limit=None, **{k: v for k, v in selection.items() if k != "ids"})
            count = len([d for d in matching if not selection["ids"] or d.id in selection["ids"]])
            print_error(f"would delete {count} dead letter{'s' if count != 1 else ''} ({described}); "
                        "add --yes to delete them")
            return 2
        count = queue.dlq.purge(selection.pop("ids"), **selection)
    if args.format == "json":
        sys.stdout.write(_dump({"purged": count}) + "\n")
    else:
        print(f"purged {count} dead letter{'s' if count != 1 else ''} ({described})", file=sys.stderr)
    return 0 if count else 1
