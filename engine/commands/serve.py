"""`engine serve`: Segment's HTTP Tracking API in front of a durable queue and the delivery worker."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import sys
from collections.abc import Callable

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
    p.add_argument("--quiet-sandbox", action="store_true", help="do not print a line per sandbox request")
    p.set_defaults(func=run)


def _server_class() -> type:
    import uvicorn

    class Server(uvicorn.Server):
        """uvicorn re-raises SIGTERM/SIGINT after a graceful shutdown (the process then dies of the signal);
        `engine serve` instead reports that it stopped and exits 0."""

        on_exit: Callable[[], None] | None = None  # e.g. the console ends its live tails (they would hold the stop)

        def handle_exit(self, sig: int, frame: object) -> None:
            super().handle_exit(sig, frame)  # type: ignore[arg-type]
            self._captured_signals.clear()
            if self.on_exit is not None:
                with contextlib.suppress(RuntimeError):  # no loop running: nothing to end
                    asyncio.get_running_loop().call_soon_threadsafe(self.on_exit)

    return Server


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from engine.server import WorkerOptions, build_app

    config = load_config_for_command(args.config, invalid_status=1)
    if isinstance(config, int):
        return config
    if args.max_attempts < 1 or args.drain_timeout < 0 or args.poll_interval <= 0:
        print("engine serve: --max-attempts must be at least 1, --drain-timeout >= 0, --poll-interval > 0",
              file=sys.stderr)
        return 2
    options = WorkerOptions(max_attempts=args.max_attempts, max_age=args.max_age, backoff_cap=args.backoff_cap,
                            poll_interval=args.poll_interval, drain_timeout=args.drain_timeout,
                            transport=args.transport)
    try:
        sock = socket.socket(socket.AF_INET6 if ":" in args.host else socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((args.host, args.port))
        sock.listen(2048)  # connections made after the 'listening' line wait in the backlog until uvicorn runs
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
    if config.console.token:
        print(f"engine serve: console {url}/console (sign in with console.token; it binds where the server binds: "
              f"{'loopback only' if host in ('127.0.0.1', '::1') else 'reachable from the network, use TLS in front'})",
              flush=True)
    else:
        print("engine serve: console off (set console.token in the config to turn it on)", flush=True)
    server = _server_class()(uvicorn.Config(
        app, lifespan="on", log_level="warning", access_log=False, http="h11", ws="none",
        timeout_graceful_shutdown=max(1, int(args.drain_timeout)),
    ))
    if app.console is not None:
        server.on_exit = app.console.close
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
        queue.close()
    print("engine serve: stopped; undelivered events stay queued for the next start", file=sys.stderr)
    return 0
