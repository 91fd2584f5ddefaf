"""`engine serve`: Segment's HTTP Tracking API in front of a durable queue and the delivery worker."""

from __future__ import annotations

import argparse
import sys

from engine.commands._common import load_config_for_command
from engine.commands.config import add_config_option

EPILOG = """\
examples:
  engine serve --config examples/engine.yaml
  engine serve --config engine.yaml --host 0.0.0.0 --port 8080

Accepts events from the analytics libraries (set their host to this server): POST /v1/batch,
/v1/track, /v1/identify, /v1/page, /v1/screen, /v1/group, /v1/alias, with the write key as the
Basic-auth user name or writeKey in the body. 200 {"success": true} means the events are in the
durable queue; each enabled destination instance then gets them with retries, or they are
dead-lettered (engine dlq). GET /health, /metrics (Prometheus), /sandbox (requests captured for hosts
routed to `sandbox`). SIGTERM or Ctrl-C: stop accepting, let deliveries in flight finish
(--drain-timeout), keep the rest queued for the next start. See docs/serve.md.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "serve", help="run the Segment-compatible ingestion API and deliver to the configured destinations",
        description="Accept events over Segment's HTTP Tracking API, queue them durably and deliver them to every "
                    "enabled destination instance of the configuration.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_config_option(p)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8080, help="port to listen on (default 8080; 0 picks a free one)")
    p.add_argument("--drain-timeout", type=float, default=10.0, metavar="SECONDS",
                   help="on SIGTERM/Ctrl-C, how long deliveries in flight may take to finish (default 10)")
    p.add_argument("--max-attempts", type=int, default=30, metavar="N",
                   help="delivery rounds for a retryable failure before the job is dead-lettered (default 30)")
    p.add_argument("--max-age", type=float, default=4 * 3600.0, metavar="SECONDS",
                   help="a job still failing this long after it was accepted is dead-lettered (default 14400)")
    p.add_argument("--backoff-cap", type=float, default=600.0, metavar="SECONDS",
                   help="longest wait between delivery rounds (default 600; the base is the config's retry.base)")
    p.add_argument("--poll-interval", type=float, default=0.5, metavar="SECONDS",
                   help="how often idle instances look for jobs that became due (default 0.5)")
    p.add_argument("--transport", choices=["auto", "aiohttp", "httpx"], default="auto",
                   help="HTTP client pool for deliveries (default auto: aiohttp when installed)")
    p.add_argument("--header-timeout", type=float, default=10.0, metavar="SECONDS",
                   help="a request's headers must arrive within this time of the connection opening or the "
                        "previous answer, else 408 and close (default 10)")
    p.add_argument("--body-timeout", type=float, default=30.0, metavar="SECONDS",
                   help="a request's body must arrive within this time of its headers, else 408 and close "
                        "(default 30)")
    p.add_argument("--max-connections", type=int, default=None, metavar="N",
                   help="client connections at once; one more is answered 503 and closed (default 4096, never "
                        "more than the open-file limit minus 256)")
    p.add_argument("--quiet-sandbox", action="store_true", help="do not print a line per sandbox request")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from engine.server import WorkerOptions, build_app
    from engine.server.http import (
        EngineServer,
        HttpLimits,
        connection_cap,
        listen_socket,
        raise_nofile_limit,
        server_config,
    )

    config = load_config_for_command(args.config, invalid_status=1)
    if isinstance(config, int):
        return config
    if args.max_attempts < 1 or args.drain_timeout < 0 or args.poll_interval <= 0 or args.header_timeout <= 0 \
            or args.body_timeout <= 0 or (args.max_connections is not None and args.max_connections < 1):
        print("engine serve: --max-attempts and --max-connections must be at least 1, --drain-timeout >= 0, "
              "--poll-interval, --header-timeout and --body-timeout > 0", file=sys.stderr)
        return 2
    soft_limit, _ = raise_nofile_limit()
    limits = HttpLimits(header_timeout=args.header_timeout, body_timeout=args.body_timeout,
                        max_connections=connection_cap(args.max_connections, soft_limit))
    options = WorkerOptions(max_attempts=args.max_attempts, max_age=args.max_age, backoff_cap=args.backoff_cap,
                            poll_interval=args.poll_interval, drain_timeout=args.drain_timeout,
                            transport=args.transport)
    try:
        sock = listen_socket(args.host, args.port)  # connections made after the 'listening' line wait in the backlog
    except OSError as exc:
        print(f"engine serve: cannot listen on {args.host}:{args.port}: {exc.strerror}", file=sys.stderr)
        return 2
    queue = config.queue.open()
    app = build_app(config, queue, options, log=sys.stderr)
    app.sandbox.stream = None if args.quiet_sandbox else sys.stderr
    host, port = sock.getsockname()[:2]
    url = f"http://{'[' + host + ']' if ':' in host else host}:{port}"
    enabled = ", ".join(app.instances) or "none"
    key = "YOUR_WRITE_KEY" if not config.sources else config.sources[0].write_key
    shown_key = key if key == "dev-write-key" else "YOUR_WRITE_KEY"  # a real write key is a secret
    print(f"engine serve: listening on {url} (queue in {config.queue.path}; delivering to {enabled})", flush=True)
    if config.sandbox_hosts:
        print(f"engine serve: sandbox hosts (captured, answered 200): {', '.join(config.sandbox_hosts)}; "
              f"see {url}/sandbox", flush=True)
    print(f"engine serve: try: curl -u '{shown_key}:' {url}/v1/track -H 'Content-Type: application/json' "
          f"-d '{{\"userId\": \"u1\", \"event\": \"Signed Up\"}}'", flush=True)
    print(f"engine serve: health {url}/health, metrics {url}/metrics; Ctrl-C stops", flush=True)
    server = EngineServer(server_config(app, limits, drain_timeout=args.drain_timeout), log=sys.stderr)
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
        queue.close()
    print("engine serve: stopped; undelivered events stay queued for the next start", file=sys.stderr)
    return 0
