"""The HTTP layer of `engine serve`: the listening socket, uvicorn's h11 protocol with the guards a public
ingestion endpoint needs, and the file-descriptor limit.

- A request carrying both `Content-Length` and `Transfer-Encoding` is answered 400 and the connection is
  closed (RFC 9112 §6.3): h11 alone lets Transfer-Encoding win and keeps the connection, so bytes smuggled
  after the chunked body would run as a second request.
- Accepted connections get `TCP_NODELAY` (asyncio sets it only for sockets made with IPPROTO_TCP; without
  it a small answer waits for the client's delayed ACK, ~40 ms per request on a keep-alive connection).
- A request's headers must arrive within `header_timeout` seconds of the connection opening (or of the
  previous answer), its body within `body_timeout` seconds of its headers: otherwise 408 and close.
- At most `max_connections` client connections at once; one more is answered 503 and closed at once.
- `accept()` failing for lack of descriptors is logged once per `accept_log_interval` with a count, on uvloop as
  on asyncio's loop (`Acceptor`: the engine accepts, the loop makes the transports).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import resource
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

import h11
import uvicorn
from h11._connection import DEFAULT_MAX_INCOMPLETE_EVENT_SIZE
from uvicorn.protocols.http.h11_impl import H11Protocol

DEFAULT_MAX_CONNECTIONS = 4096
FD_RESERVE = 256  # descriptors kept for the queue, delivery connections and logs when capping connections


@dataclass(slots=True)
class HttpLimits:
    """Connection and read limits of the ingestion server (docs/serve.md, "Limits")."""

    header_timeout: float = 10.0
    body_timeout: float = 30.0
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    accept_log_interval: float = 10.0


@dataclass(slots=True)
class HttpStats:
    """What the HTTP layer refused (read by tests and the log)."""

    smuggling: int = 0
    timeouts: int = 0
    over_capacity: int = 0
    accept_errors: int = 0
    _unlogged: int = 0
    _last_log: float = field(default=0.0)


def listen_socket(host: str, port: int, backlog: int = 2048) -> socket.socket:
    """A bound, listening TCP socket made with IPPROTO_TCP (so asyncio sets TCP_NODELAY on accepted ones)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(backlog)  # connections made before uvicorn runs wait in the backlog
    except OSError:
        sock.close()
        raise
    return sock


def raise_nofile_limit() -> tuple[int, int]:
    """Raise the soft RLIMIT_NOFILE to the hard limit (as far as allowed); returns (soft, hard) after."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return soft, hard


def connection_cap(requested: int | None, soft_limit: int) -> int:
    """Client connections allowed at once: `requested` (default 4096), never more than the descriptor limit
    minus FD_RESERVE (at least 16)."""
    room = soft_limit - FD_RESERVE if soft_limit != resource.RLIM_INFINITY else 1 << 20
    return max(16, min(requested if requested is not None else DEFAULT_MAX_CONNECTIONS, room))


class _GuardedConnection(h11.Connection):
    """h11's server connection that refuses ambiguous framing and reports request boundaries."""

    def __init__(self, protocol: GuardedH11Protocol, max_size: int) -> None:
        super().__init__(h11.SERVER, max_size)
        self._protocol = protocol

    def next_event(self) -> Any:
        event = super().next_event()
        if isinstance(event, h11.Request):
            names = {name.lower() for name, _ in event.headers}
            if b"transfer-encoding" in names and b"content-length" in names:
                self._protocol.stats.smuggling += 1
                raise h11.RemoteProtocolError("both Content-Length and Transfer-Encoding", 400)
            self._protocol.request_started()
        elif isinstance(event, h11.EndOfMessage):
            self._protocol.body_done()
        return event


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with the guards of this module; `limits`/`stats` are set by `protocol_class`."""

    limits: HttpLimits = HttpLimits()
    stats: HttpStats = HttpStats()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        size = self.config.h11_max_incomplete_event_size
        self.conn = _GuardedConnection(self, size if size is not None else DEFAULT_MAX_INCOMPLETE_EVENT_SIZE)
        self._deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        if len(self.connections) >= self.limits.max_connections:
            self.stats.over_capacity += 1
            transport.write(b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain; charset=utf-8\r\n"
                            b"connection: close\r\ncontent-length: 26\r\n\r\ntoo many connections; retry")
            transport.close()
            self.transport = transport
            return
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
        super().connection_made(transport)
        self._arm(self.limits.header_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if self.flow is None:  # refused in connection_made: nothing was set up
            return
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.flow is None:
            return
        super().data_received(data)

    # -- deadlines ---------------------------------------------------------------------------------

    def _arm(self, seconds: float) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._timed_out)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def request_started(self) -> None:
        self._arm(self.limits.body_timeout)

    def body_done(self) -> None:
        self._disarm()

    def on_response_complete(self) -> None:
        if not self.transport.is_closing():  # before super(): it may parse a pipelined request (body deadline)
            self._arm(self.limits.header_timeout)
        super().on_response_complete()

    def _timed_out(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        self.stats.timeouts += 1
        if self.conn.our_state in (h11.IDLE, h11.SEND_RESPONSE) and not (self.cycle and self.cycle.response_started):
            try:
                body = b"the request was not received in time"
                out = self.conn.send(h11.Response(status_code=408, reason=b"Request Timeout", headers=[
                    (b"content-type", b"text/plain; charset=utf-8"), (b"connection", b"close"),
                    (b"content-length", str(len(body)).encode())]))
                out = (out or b"") + (self.conn.send(h11.Data(data=body)) or b"")
                out += self.conn.send(h11.EndOfMessage()) or b""
                self.transport.write(out)
            except h11.LocalProtocolError:
                pass
        self.transport.close()


def protocol_class(limits: HttpLimits, stats: HttpStats | None = None) -> type[GuardedH11Protocol]:
    """A GuardedH11Protocol bound to `limits` (one class per server)."""
    return type("EngineH11Protocol", (GuardedH11Protocol,), {"limits": limits, "stats": stats or HttpStats()})


ACCEPT_RETRY = 1.0  # seconds an Acceptor stops accepting after accept() failed (other than for one connection)
# errors Linux's accept() passes on from the connection it was about to return (accept(2)): that one is gone
_PASSED_ON = tuple(getattr(errno, name) for name in ("ENETDOWN", "EPROTO", "ENOPROTOOPT", "EHOSTDOWN", "ENONET",
                                                       "EHOSTUNREACH", "EOPNOTSUPP", "ENETUNREACH", "EINTR")
                   if hasattr(errno, name))


class Acceptor:
    """Accepts the connections of one listening socket and hands each to the event loop
    (`loop.connect_accepted_socket`, which makes the transport: asyncio's or uvloop's), in place of the loop's own
    server. asyncio's server reports a failed accept to the loop's exception handler, but uvloop's (libuv's) closes
    such connections at once without telling anyone, and gives up listening if that fails; here an accept that
    fails for lack of descriptors or memory (or for any reason but the passed-on network errors of one connection)
    goes to `on_error`, and accepting pauses for `ACCEPT_RETRY` seconds
    (the pending connections wait in the listen backlog), as asyncio's own server does. Connections are
    long-lived (keep-alive), so accepting in Python costs little. It has the two methods uvicorn calls on a
    server when it stops: `close` and `wait_closed`."""

    def __init__(self, loop: asyncio.AbstractEventLoop, sock: socket.socket,
                 protocol_factory: Callable[[], asyncio.Protocol], on_error: Callable[[OSError], None], *,
                 backlog: int = 100) -> None:
        self.loop = loop
        self.sock = sock
        self.protocol_factory = protocol_factory
        self.on_error = on_error
        self.backlog = max(1, backlog)
        self._pending: set[asyncio.Task[Any]] = set()
        self._retry: asyncio.TimerHandle | None = None
        self._closed = False
        sock.setblocking(False)
        self._fd = sock.fileno()
        loop.add_reader(self._fd, self._ready)

    def _ready(self) -> None:
        for _ in range(self.backlog):  # as asyncio: at most a backlog's worth per wake, then the loop goes on
            try:
                conn, _ = self.sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except ConnectionAbortedError:  # the client gave up while it waited in the backlog
                continue
            except OSError as exc:
                if exc.errno in _PASSED_ON:  # that connection's network error (accept(2)): the next one
                    continue
                self.on_error(exc)  # out of descriptors or memory, or anything else: said, then a pause (no
                self.loop.remove_reader(self._fd)  # busy loop of failures)
                self._retry = self.loop.call_later(ACCEPT_RETRY, self._resume)
                return
            conn.setblocking(False)
            task = self.loop.create_task(self._connect(conn))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

    async def _connect(self, conn: socket.socket) -> None:
        try:
            await self.loop.connect_accepted_socket(self.protocol_factory, conn)  # type: ignore[arg-type]
        except OSError:  # the client went away before its transport was made
            conn.close()

    def _resume(self) -> None:
        self._retry = None
        if not self._closed:
            self.loop.add_reader(self._fd, self._ready)

    def close(self) -> None:
        """Stop accepting (the socket itself is its owner's to close)."""
        if self._closed:
            return
        self._closed = True
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None
        else:
            self.loop.remove_reader(self._fd)

    async def wait_closed(self) -> None:
        """Returns once the connections accepted before `close` have their transports."""
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)


class EngineServer(uvicorn.Server):
    """uvicorn's server with the accept-error log of this module. uvicorn re-raises SIGTERM/SIGINT after a
    graceful shutdown (the process then dies of the signal); `engine serve` instead stops and exits 0."""

    def __init__(self, config: uvicorn.Config, *, log: TextIO | None = sys.stderr) -> None:
        super().__init__(config)
        self.log = log
        http = config.http if isinstance(config.http, type) and issubclass(config.http, GuardedH11Protocol) else None
        self.http_limits = http.limits if http is not None else HttpLimits()
        self.http_stats = http.stats if http is not None else HttpStats()

    on_exit: Callable[[], None] | None = None  # e.g. the console ends its live tails (they would hold the stop)

    def handle_exit(self, sig: int, frame: object) -> None:
        super().handle_exit(sig, frame)  # type: ignore[arg-type]
        self._captured_signals.clear()
        if self.on_exit is not None:
            with contextlib.suppress(RuntimeError):  # no loop running: nothing to end
                asyncio.get_running_loop().call_soon_threadsafe(self.on_exit)

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        """uvicorn's start-up, except that each of `sockets` is served by an `Acceptor` of this module rather than
        the loop's own server, so that a failed accept is seen on any event loop (`_accept_failed`)."""
        if sockets is None:  # uvicorn binds the socket itself (not engine serve's way): its own server
            await super().startup(sockets)
            return
        await self.lifespan.startup()
        if self.lifespan.should_exit:
            sys.exit(3)  # uvicorn's STARTUP_FAILURE
        config, loop = self.config, asyncio.get_running_loop()

        def create_protocol(_loop: asyncio.AbstractEventLoop | None = None) -> asyncio.Protocol:
            return config.http_protocol_class(config=config, server_state=self.server_state,  # type: ignore[call-arg]
                                              app_state=self.lifespan.state, _loop=_loop)

        self.servers = [Acceptor(loop, sock, create_protocol, self._accept_failed, backlog=config.backlog)
                        for sock in sockets]  # type: ignore[list-item]
        self.started = True

    def _accept_failed(self, exc: OSError) -> None:
        stats = self.http_stats
        stats.accept_errors += 1
        stats._unlogged += 1
        now = time.monotonic()
        if now - stats._last_log >= self.http_limits.accept_log_interval:
            soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
            hint = (f" (open-file limit {soft}; lower --max-connections or raise `ulimit -n`)"
                    if exc.errno in (errno.EMFILE, errno.ENFILE) else "")
            if self.log is not None:
                print(f"engine serve: could not accept {stats._unlogged} connection(s) since the last such line: "
                      f"{exc.strerror or exc}{hint}", file=self.log, flush=True)
            stats._unlogged = 0
            stats._last_log = now


def server_config(app: Any, limits: HttpLimits | None = None, *, drain_timeout: float = 1.0,
                  stats: HttpStats | None = None, loop: str = "auto") -> uvicorn.Config:
    """The uvicorn configuration `engine serve` runs `app` with: h11 with the guards, no websockets; `loop` "auto"
    is uvloop when it is installed (a dependency of the engine where it builds: not on Windows), else asyncio's
    own loop; "asyncio" and "uvloop" name one."""
    return uvicorn.Config(app, lifespan="on", log_level="warning", access_log=False, loop=loop,
                          http=protocol_class(limits or HttpLimits(), stats), ws="none",
                          timeout_graceful_shutdown=max(1, int(drain_timeout)))
