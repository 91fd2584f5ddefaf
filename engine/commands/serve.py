"""`engine serve`: Segment's HTTP Tracking API in front of a durable queue and the delivery worker."""

from __future__ import annotations

import argparse
import contextlib
import errno
import importlib.util
import os
import signal
import socket
import sys
import time
from typing import Any

from engine.commands._common import load_config_for_command
from engine.commands.config import add_config_option

EPILOG = """\
examples:
  engine serve --config examples/engine.yaml
  engine serve --config engine.yaml --host 0.0.0.0 --port 8080
  engine serve --config engine.yaml --workers 2      # two processes sharing the port and the queue

Accepts events from the analytics libraries (set their host to this server): POST /v1/batch,
/v1/track, /v1/identify, /v1/page, /v1/screen, /v1/group, /v1/alias, with the write key as the
Basic-auth user name or writeKey in the body. 200 {"success": true} means the events are in the
durable queue; each enabled destination instance then gets them with retries, or they are
dead-lettered (engine dlq). GET /health (liveness, per-instance state), /ready (the queue takes writes),
/metrics (Prometheus), /sandbox (requests captured for hosts
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
                   help="how often the worker looks for jobs that became due, one look for all instances (default 0.5)")
    p.add_argument("--transport", choices=["auto", "h1", "aiohttp", "httpx"], default="auto",
                   help="HTTP client pool for deliveries (default auto: the lean HTTP/1.1 client h1; "
                        "aiohttp is the fallback)")
    p.add_argument("--no-batch", action="store_true",
                   help="deliver every job alone, also for instances whose destination has a batch request")
    p.add_argument("--workers", type=int, default=1, metavar="N",
                   help="processes serving the port and delivering from the queue (default 1; see README)")
    p.add_argument("--header-timeout", type=float, default=10.0, metavar="SECONDS",
                   help="a request's headers must arrive within this time of the connection opening or the "
                        "previous answer, else 408 and close (default 10)")
    p.add_argument("--body-timeout", type=float, default=30.0, metavar="SECONDS",
                   help="a request's body must arrive within this time of its headers, else 408 and close "
                        "(default 30)")
    p.add_argument("--max-connections", type=int, default=None, metavar="N",
                   help="client connections at once; one more is answered 503 and closed (default 4096, never "
                        "more than the open-file limit minus 256)")
    p.add_argument("--loop", choices=("auto", "uvloop", "asyncio"), default="auto",
                   help="the event loop: uvloop (faster: ~10-15 %% more deliveries per second in bench/deliver.py) "
                        "or asyncio's own; auto (default) takes uvloop when it is installed")
    p.add_argument("--quiet-sandbox", action="store_true", help="do not print a line per sandbox request")
    p.set_defaults(func=run)


def _serve(args: argparse.Namespace, config: Any, options: Any, sock: socket.socket, queue: Any) -> None:
    """One process: the app (ingestion and the delivery worker) under the guarded uvicorn server on `sock`."""
    from engine.server import build_app
    from engine.server.collector import settle_for_serving
    from engine.server.http import EngineServer, server_config

    app = build_app(config, queue, options, log=sys.stderr)
    settle_for_serving()
    app.sandbox.stream = None if args.quiet_sandbox else sys.stderr
    server = EngineServer(server_config(app, args.http_limits, drain_timeout=args.drain_timeout, loop=args.loop),
                          log=sys.stderr)
    if app.console is not None:
        server.on_exit = app.console.close
    server.run(sockets=[sock])


def _supervise(args: argparse.Namespace, config: Any, options: Any, sock: socket.socket, queue: Any) -> int:
    """`--workers N`: this process keeps the queue's lock (it reclaimed the last owner's leases when it opened
    the queue) and forks N workers sharing the listening socket and the queue file (SQLite WAL across processes;
    each opens its own connection). A worker that dies is replaced (its leases expire within one lease and its
    jobs are delivered by the others); SIGTERM/SIGINT stop them all."""
    lock_fd = queue.detach_lock() if hasattr(queue, "detach_lock") else None
    queue.close()  # no SQLite connection may cross a fork
    children: dict[int, int] = {}  # pid -> worker number
    parent = os.getpid()
    stopping = False

    def spawn(number: int) -> None:
        pid = os.fork()
        if pid == 0:  # the worker
            code = 1
            try:
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                _stop_with_parent(parent)  # the lock's copy stays open here: no new owner while a worker lives
                worker_queue = config.queue.open()
                try:
                    _serve(args, config, options, sock, worker_queue)
                finally:
                    worker_queue.close()
                code = 0
            except BaseException as exc:  # noqa: BLE001 - a worker reports and exits, the supervisor goes on
                print(f"engine serve: worker {number}: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
            finally:
                os._exit(code)
        children[pid] = number

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True
        for pid in list(children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for number in range(args.workers):
        spawn(number)
    while children:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        number = children.pop(pid, None)
        if number is not None and not stopping:
            print(f"engine serve: worker {number} (pid {pid}) ended ({_how(status)}); starting another",
                  file=sys.stderr, flush=True)
            time.sleep(0.5)  # a worker that dies at once must not spin
            if not stopping:
                spawn(number)
    sock.close()
    if lock_fd is not None:
        os.close(lock_fd)
    print("engine serve: stopped; undelivered events stay queued for the next start", file=sys.stderr)
    return 0


def _stop_with_parent(parent: int) -> None:
    """Linux: SIGTERM this worker when the supervisor dies (even by SIGKILL), so no worker outlives it."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # it died before the prctl
        os.kill(os.getpid(), signal.SIGTERM)


def _how(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"killed by signal {os.WTERMSIG(status)}"
    return f"exit code {os.waitstatus_to_exitcode(status)}"


def run(args: argparse.Namespace) -> int:
    from engine.server import WorkerOptions
    from engine.server.http import HttpLimits, connection_cap, listen_socket, raise_nofile_limit

    config = load_config_for_command(args.config, invalid_status=1)
    if isinstance(config, int):
        return config
    if args.max_attempts < 1 or args.drain_timeout < 0 or args.poll_interval <= 0 or args.workers < 1 \
            or args.header_timeout <= 0 or args.body_timeout <= 0 \
            or (args.max_connections is not None and args.max_connections < 1):
        print("engine serve: --max-attempts, --workers and --max-connections must be at least 1, --drain-timeout "
              ">= 0, --poll-interval, --header-timeout and --body-timeout > 0", file=sys.stderr)
        return 2
    if args.loop == "uvloop" and importlib.util.find_spec("uvloop") is None:
        print("engine serve: --loop uvloop needs the uvloop package, which is not installed here (pip install "
              "uvloop; it does not build on Windows); use --loop asyncio or auto", file=sys.stderr)
        return 2
    soft_limit, _ = raise_nofile_limit()
    args.http_limits = HttpLimits(header_timeout=args.header_timeout, body_timeout=args.body_timeout,
                                  max_connections=connection_cap(args.max_connections, soft_limit))
    options = WorkerOptions(max_attempts=args.max_attempts, max_age=args.max_age, backoff_cap=args.backoff_cap,
                            poll_interval=args.poll_interval, drain_timeout=args.drain_timeout,
                            transport=args.transport, batching=not args.no_batch)
    try:
        sock = listen_socket(args.host, args.port)  # connections made after the 'listening' line wait in the backlog
    except OSError as exc:
        hint = ""
        if exc.errno == errno.EADDRINUSE:
            hint = f"; another process uses port {args.port}: stop it, or give another with --port (0 picks a free one)"
        print(f"engine serve: cannot listen on {args.host}:{args.port}: {exc.strerror}{hint}", file=sys.stderr)
        return 2
    from engine.queue import QueueError

    try:
        queue = config.queue.open(owner=True)  # the OS lock: one engine serve per queue; the last one's leases end
    except QueueError as exc:
        sock.close()
        print(f"engine serve: {exc}", file=sys.stderr)
        return 2
    host, port = sock.getsockname()[:2]
    url = f"http://{'[' + host + ']' if ':' in host else host}:{port}"
    enabled = ", ".join(d.id for d in config.enabled_destinations) or "none"
    key = "YOUR_WRITE_KEY" if not config.sources else config.sources[0].write_key
    shown_key = key if key == "dev-write-key" else "YOUR_WRITE_KEY"  # a real write key is a secret
    workers = f"; {args.workers} worker processes" if args.workers > 1 else ""
    print(f"engine serve: listening on {url} (queue in {config.queue.describe()}; delivering to {enabled}{workers})",
          flush=True)
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
    if args.workers > 1:
        return _supervise(args, config, options, sock, queue)
    try:
        _serve(args, config, options, sock, queue)
    finally:
        sock.close()
        queue.close()
    print("engine serve: stopped; undelivered events stay queued for the next start", file=sys.stderr)
    return 0
