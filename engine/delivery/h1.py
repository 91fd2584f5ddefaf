"""A lean HTTP/1.1 client for the direct delivery path: asyncio Protocols and httptools' parser.

`H1Transport` keeps, per origin (scheme, host, port), a bounded pool of keep-alive connections. A
request is written in one `transport.write`; the answer is parsed by `httptools.HttpResponseParser`
(Content-Length, chunked, or up to the end of the connection), its body read up to a byte limit.
A connection is reused only when its answer was read to its end and neither side said
`Connection: close`; one closed by the server, cut at the limit or that failed is dropped. TLS
(https) uses a verifying `ssl.SSLContext` (certifi's CA bundle by default): verification is never
turned off. Under httpx (the sandbox, URLs the direct path does not take) the transport hands
requests to an `httpx.AsyncHTTPTransport` with the same context.
"""

from __future__ import annotations

import asyncio
import re
import socket
import ssl
from collections import deque
from dataclasses import dataclass
from typing import Any

import httptools
import httpx

USER_AGENT = b"engine/0.1"
_DEFAULT_PORTS = {"http": 80, "https": 443}
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
_BAD_VALUE = re.compile(r"[\r\n\x00]")
_NO_BODY_STATUSES = frozenset({204, 304})
_BLOCK_CACHE_LIMIT = 256  # distinct header sets kept encoded


def default_ssl_context() -> ssl.SSLContext:
    """A verifying context over certifi's CA bundle (httpx's default), else the system's."""
    try:
        import certifi
    except ImportError:  # pragma: no cover - httpx depends on certifi
        return ssl.create_default_context()
    return ssl.create_default_context(cafile=certifi.where())


@dataclass
class H1Answer:
    """What came back: status, header items as sent (latin-1), body (at most limit + 1 bytes), cut or not."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes
    truncated: bool


class _Connection(asyncio.Protocol):
    """One connection; one request at a time. Parser callbacks fill the current answer."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self._parser = httptools.HttpResponseParser(self)
        self._waiter: asyncio.Future[None] | None = None
        self._reset(0, False)

    def _reset(self, limit: int, head: bool) -> None:
        self._limit = limit
        self._head = head
        self._headers: list[tuple[str, str]] = []
        self._name = b""
        self._chunks: list[bytes] = []
        self._size = 0
        self.headers_done = False
        self.complete = False
        self.truncated = False
        self.keep_alive = False
        self.received = False
        self._error: BaseException | None = None

    # -- asyncio.Protocol --------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self._waiter is None or self._waiter.done():
            self.closed = True  # bytes nobody asked for: the connection is not reused
            if self.transport is not None:
                self.transport.close()
            return
        self.received = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:  # pragma: no cover - no upgrade is asked for
            self._fail(httpx.RemoteProtocolError("the server switched protocols"))
            return
        except httptools.HttpParserError as exc:
            if not self.complete and not self.truncated:
                self._fail(httpx.RemoteProtocolError(f"invalid HTTP answer: {exc}"))
                return
        if self.complete or self.truncated:
            self._done()

    def eof_received(self) -> bool | None:
        return None  # close the connection

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._waiter is None or self._waiter.done():
            return
        if self.headers_done and not self._framed and not self._head:
            self.complete = True  # a body delimited by the end of the connection
            self._done()
            return
        if isinstance(exc, OSError):
            self._fail(exc)
        else:
            self._fail(httpx.RemoteProtocolError("the server closed the connection before the answer ended"
                                                 if self.received else
                                                 "the server closed the connection without answering"))

    # -- httptools callbacks -----------------------------------------------------------------------
    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name.decode("latin-1"), value.decode("latin-1")))

    def on_headers_complete(self) -> None:
        self.status = self._parser.get_status_code()
        if self.status < 200:  # an interim answer (100 Continue): the real one follows
            self._headers = []
            return
        self.headers_done = True
        self._framed = any(n.lower() in ("content-length", "transfer-encoding") for n, _ in self._headers)
        if self._head or self.status in _NO_BODY_STATUSES:
            self._framed = True
            self._finish_message()

    def on_body(self, body: bytes) -> None:
        if self.truncated:
            return
        self._chunks.append(body)
        self._size += len(body)
        if self._size > self._limit:
            self.truncated = True

    def on_message_complete(self) -> None:
        if not self.headers_done:
            return  # the end of an interim answer
        self._finish_message()

    def _finish_message(self) -> None:
        if self.complete:
            return
        self.complete = True
        self.keep_alive = self._parser.should_keep_alive() and not self._head

    # -- the request side --------------------------------------------------------------------------
    def _fail(self, exc: BaseException) -> None:
        self._error = exc
        self.closed = True
        if self.transport is not None:
            self.transport.close()
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def _done(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def expire(self) -> None:
        """The request's time is up (`_Deadlines`): the exchange ends with TimeoutError, the connection is dropped."""
        if self._waiter is not None and not self._waiter.done():
            self._fail(TimeoutError())

    async def exchange(self, data: bytes, limit: int, head: bool, deadlines: _Deadlines, deadline: float) -> H1Answer:
        """Write `data` (a whole request) and read its answer; TimeoutError once the loop's clock passes
        `deadline`."""
        assert self.transport is not None
        self._reset(limit, head)
        self._framed = False
        self.status = 0
        self._waiter = asyncio.get_running_loop().create_future()
        deadlines.add(self, deadline)
        self.transport.write(data)
        try:
            await self._waiter
        finally:
            self._waiter = None
            deadlines.remove(self)
        if self._error is not None:
            raise self._error
        body = b"".join(self._chunks)
        if self.truncated or not self.complete or not self.keep_alive:
            self.close()
        return H1Answer(self.status, self._headers, body, self.truncated)

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class _Deadlines:
    """The time limits of the exchanges in flight, with one timer for all of them instead of one per request:
    the timer is set for the earliest deadline; when it fires, the exchanges past theirs end (`expire`) and it is
    set for the next. Deadlines grow with time (now + the request's timeout), so the timer seldom moves."""

    def __init__(self) -> None:
        self._at: dict[_Connection, float] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._when = 0.0

    def add(self, conn: _Connection, deadline: float) -> None:
        self._at[conn] = deadline
        if self._timer is None or deadline < self._when:
            self._schedule(deadline)

    def remove(self, conn: _Connection) -> None:
        self._at.pop(conn, None)

    def _schedule(self, when: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._when = when
        self._timer = asyncio.get_running_loop().call_at(when, self._fire)

    def _fire(self) -> None:
        self._timer = None
        now = asyncio.get_running_loop().time()
        due = [conn for conn, at in self._at.items() if at <= now]
        for conn in due:
            del self._at[conn]
            conn.expire()
        if self._at:
            self._schedule(min(self._at.values()))

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._at.clear()


class _Pool:
    """The idle keep-alive connections of one origin (at most `size`)."""

    def __init__(self, scheme: str, host: str, port: int, size: int, ssl_context: ssl.SSLContext) -> None:
        self.host, self.port = host, port
        self.ssl = ssl_context if scheme == "https" else None
        self.size = size
        self.idle: deque[_Connection] = deque()
        default = _DEFAULT_PORTS[scheme] == port
        shown = f"[{host}]" if ":" in host else host
        self.host_header = (shown if default else f"{shown}:{port}").encode("ascii")

    async def connect(self, timeout: float) -> _Connection:
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(timeout):
            _, conn = await loop.create_connection(_Connection, self.host, self.port, ssl=self.ssl,
                                                   server_hostname=self.host if self.ssl else None)
        sock = conn.transport.get_extra_info("socket") if conn.transport is not None else None
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn

    def take(self) -> _Connection | None:
        idle = self.idle
        while idle:
            conn = idle.pop()
            if not conn.closed and conn.transport is not None and not conn.transport.is_closing():
                return conn
        return None

    def put(self, conn: _Connection) -> None:
        if conn.closed or len(self.idle) >= self.size:
            conn.close()
        else:
            self.idle.append(conn)

    def close(self) -> None:
        while self.idle:
            self.idle.pop().close()


def _check_header(name: str, value: str) -> None:
    if not _TOKEN.match(name):
        raise httpx.LocalProtocolError(f"invalid header name {name!r}")
    if _BAD_VALUE.search(value):
        raise httpx.LocalProtocolError(f"invalid value for header {name!r}: line breaks and NUL are not allowed")


class H1Transport(httpx.AsyncBaseTransport):
    """The lean client (see the module's doc). `ssl_context` must verify (a custom CA is fine)."""

    def __init__(self, *, max_connections: int = 100, ssl_context: ssl.SSLContext | None = None) -> None:
        context = ssl_context or default_ssl_context()
        if context.verify_mode != ssl.CERT_REQUIRED or not context.check_hostname:
            raise ValueError("the TLS context must verify certificates and host names")
        self.ssl_context = context
        self.max_connections = max_connections
        self._pools: dict[tuple[str, str, int], _Pool] = {}
        self._bases: dict[str, tuple[_Pool, str]] = {}
        self._inner: httpx.AsyncHTTPTransport | None = None
        self._deadlines = _Deadlines()
        self._blocks: dict[tuple[Any, ...], bytes] = {}  # (Host, *header items) -> the encoded header lines

    # -- under httpx -------------------------------------------------------------------------------
    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._inner is None:
            limits = httpx.Limits(max_connections=self.max_connections,
                                  max_keepalive_connections=self.max_connections)
            self._inner = httpx.AsyncHTTPTransport(verify=self.ssl_context, limits=limits)
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        self._deadlines.cancel()
        for pool in self._pools.values():
            pool.close()
        self._pools.clear()
        self._bases.clear()
        if self._inner is not None:
            await self._inner.aclose()

    def direct_route(self, url: httpx.URL) -> tuple[Any, httpx.URL] | None:
        return self, url

    # -- the direct path ---------------------------------------------------------------------------
    def _pool_for(self, base: str) -> tuple[_Pool, str]:
        """The pool and path prefix of `base` (`scheme://authority[/prefix]`), decided once per base."""
        try:
            return self._bases[base]
        except KeyError:
            pass
        url = httpx.URL(base + "/")
        scheme, host = url.scheme, url.host
        port = url.port or _DEFAULT_PORTS[scheme]
        key = (scheme, host, port)
        pool = self._pools.get(key)
        if pool is None:
            pool = self._pools[key] = _Pool(scheme, host, port, self.max_connections, self.ssl_context)
        prefix = url.raw_path.decode("ascii").rstrip("/")
        if len(self._bases) >= 4096:
            self._bases.clear()
        self._bases[base] = found = (pool, prefix)
        return found

    def _header_block(self, pool: _Pool, headers: Any) -> bytes:
        """The header lines of `headers` (checked, Host and User-Agent added when absent, no framing headers),
        encoded once per distinct set: an instance sends the same headers with every event."""
        key = (pool.host_header, *headers.items())
        try:
            return self._blocks[key]
        except (KeyError, TypeError):  # TypeError: a value that cannot be a key (it is made a string below)
            pass
        lines: list[bytes] = []
        seen_host = seen_agent = False
        for name, value in headers.items():
            if not isinstance(value, str):
                value = str(value)
            _check_header(name, value)
            low = name.lower()
            if low == "content-length" or low == "transfer-encoding":
                continue  # the body's length is written by the caller
            if low == "host":
                seen_host = True
            elif low == "user-agent":
                seen_agent = True
            lines += (name.encode("latin-1"), b": ", value.encode("latin-1"), b"\r\n")
        if not seen_host:
            lines += (b"Host: ", pool.host_header, b"\r\n")
        if not seen_agent:
            lines += (b"User-Agent: ", USER_AGENT, b"\r\n")
        block = b"".join(lines)
        try:
            if len(self._blocks) >= _BLOCK_CACHE_LIMIT:  # headers that change per request: start over
                self._blocks.clear()
            self._blocks[key] = block
        except TypeError:
            pass
        return block

    async def request(self, method: str, base: str, target: str, headers: Any, body: bytes | None, *,
                      limit: int, connect_timeout: float, timeout: float) -> H1Answer:
        """Send `method base+target` with `headers` (a mapping) and `body`; the answer, its body read
        up to `limit` + 1 bytes. TimeoutError when it all takes more than `timeout` seconds (connecting: more
        than `connect_timeout`)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        pool, prefix = self._pool_for(base)
        lines = [method.encode("ascii"), b" ", (prefix + target).encode("ascii"), b" HTTP/1.1\r\n",
                 self._header_block(pool, headers)]
        if body:
            lines += (b"Content-Length: ", str(len(body)).encode("ascii"), b"\r\n\r\n", body)
        elif method in ("POST", "PUT", "PATCH"):
            lines.append(b"Content-Length: 0\r\n\r\n")
        else:
            lines.append(b"\r\n")
        data = b"".join(lines)
        conn = pool.take()
        if conn is None:
            conn = await pool.connect(min(connect_timeout, timeout))
        try:
            if loop.time() >= deadline:
                raise TimeoutError
            answer = await conn.exchange(data, limit, method == "HEAD", self._deadlines, deadline)
        except BaseException:
            conn.close()  # an error, a timeout or a cancellation: the connection's state is unknown
            raise
        pool.put(conn)
        return answer
