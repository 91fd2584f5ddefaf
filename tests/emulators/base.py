"""Shared machinery of the API emulators: ASGI plumbing, routing, recording, fault injection.

Each emulator is a plain ASGI 3 application (``await emulator(scope, receive, send)``), usable
in-process through ``httpx.ASGITransport`` or over loopback through ``server.serve_in_thread``.
"""

from __future__ import annotations

import asyncio
import random
import re
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote

import httpx
import orjson

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class ConnectionDropped(httpx.RemoteProtocolError):
    """Raised by an emulator in-process (httpx.ASGITransport) when a fault drops the connection.

    It subclasses ``httpx.RemoteProtocolError`` so that a client sees the same exception family it
    sees over a real socket, where uvicorn's connection is closed with no response bytes and httpx
    raises ``RemoteProtocolError("Server disconnected without sending a response.")``.
    """

    def __init__(self, message: str = "Server disconnected without sending a response.") -> None:
        super().__init__(message)


@dataclass
class Recorded:
    """One request as the emulator received it (recorded before faults are applied)."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    json: Any
    body: bytes = b""
    status: int | None = None  # status answered; None when the connection was dropped
    raw_path: str = ""  # as sent, percent-encoding kept (``path`` is decoded)


@dataclass
class Response:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


class HTTPError(Exception):
    """Raised inside handlers to answer with an error response."""

    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(status, body)
        self.response = Response(status, body, headers or {})


@dataclass
class Fault:
    """One injected fault. ``times=None`` means unlimited."""

    status: int | None = None
    times: int | None = 1
    path_prefix: str | None = None
    method: str | None = None
    retry_after: str | int | float | None = None
    delay: float = 0.0
    drop: bool = False
    body: Any = None
    hits: int = 0

    def matches(self, method: str, path: str) -> bool:
        if self.times is not None and self.hits >= self.times:
            return False
        if self.method is not None and self.method.upper() != method:
            return False
        return self.path_prefix is None or path.startswith(self.path_prefix)

    def response(self) -> Response:
        assert self.status is not None
        headers: dict[str, str] = {}
        if self.retry_after is not None:
            headers["retry-after"] = str(self.retry_after)
        body = self.body if self.body is not None else {"error": "injected fault", "status": self.status}
        return Response(self.status, body, headers)


class Faults:
    """Fault injection for one emulator.

    - ``add(status=503, times=2, ...)``: answer the next matching requests with ``status``.
    - ``add(delay=0.2)``: wait before handling (alone, the request is then handled normally).
    - ``add(drop=True)``: close the connection without any response.
    - ``set_fail_ratio(0.1, seed=7)``: fail that share of requests (seeded, reproducible).

    Faults are checked in the order added; latency-only faults let checking continue.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.items: list[Fault] = []
        self.fail_ratio: float = 0.0
        self.fail_status: int = 503
        self.fail_retry_after: str | int | float | None = None
        self.rng = random.Random(0)

    def add(
        self,
        status: int | None = None,
        times: int | None = 1,
        path_prefix: str | None = None,
        method: str | None = None,
        retry_after: str | int | float | None = None,
        *,
        delay: float = 0.0,
        drop: bool = False,
        body: Any = None,
    ) -> Fault:
        if status is None and not drop and delay <= 0:
            raise ValueError("a fault needs a status, drop=True or a delay")
        fault = Fault(status, times, path_prefix, method, retry_after, delay, drop, body)
        with self._lock:
            self.items.append(fault)
        return fault

    def set_fail_ratio(
        self, ratio: float, *, status: int = 503, seed: int = 0, retry_after: str | int | float | None = None
    ) -> None:
        if not 0.0 <= ratio <= 1.0:
            raise ValueError("ratio must be within [0, 1]")
        with self._lock:
            self.fail_ratio = ratio
            self.fail_status = status
            self.fail_retry_after = retry_after
            self.rng = random.Random(seed)

    def clear(self) -> None:
        with self._lock:
            self.items.clear()
            self.fail_ratio = 0.0

    def take(self, method: str, path: str) -> list[Fault]:
        """Consume and return the faults applying to this request (latency ones first, then one final)."""
        chosen: list[Fault] = []
        with self._lock:
            for fault in self.items:
                if fault.matches(method, path):
                    fault.hits += 1
                    chosen.append(fault)
                    if fault.status is not None or fault.drop:
                        return chosen
            if self.fail_ratio > 0 and self.rng.random() < self.fail_ratio:
                chosen.append(Fault(self.fail_status, None, retry_after=self.fail_retry_after, hits=1))
        return chosen


Handler = Callable[..., Response]


@dataclass
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler
    json_body: bool  # requires Content-Type: application/json and a JSON body


_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "object": (dict,),
    "array": (list,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
}


def type_ok(value: Any, kind: str) -> bool:
    if kind in ("integer", "number") and isinstance(value, bool):
        return False
    return isinstance(value, _TYPES[kind])


def bad_request(key: str, message: str) -> HTTPError:
    return HTTPError(400, {"error": f"{key}: {message}", "key": key})


def check_shape(
    body: Any,
    required: dict[str, str],
    optional: dict[str, str] | None = None,
    *,
    where: str = "",
) -> None:
    """Raise a 400 naming the key when ``body`` lacks a required key or a key has the wrong type.

    Optional keys may be absent or null.
    """
    if not isinstance(body, dict):
        raise bad_request(where or "body", "must be a JSON object")
    for key, kind in required.items():
        name = f"{where}.{key}" if where else key
        if key not in body or body[key] is None:
            raise bad_request(name, "is required")
        if not type_ok(body[key], kind):
            raise bad_request(name, f"must be of type {kind}")
    for key, kind in (optional or {}).items():
        name = f"{where}.{key}" if where else key
        if body.get(key) is not None and not type_ok(body[key], kind):
            raise bad_request(name, f"must be of type {kind}")


class Emulator:
    """Base class: subclasses register routes in ``__init__`` with ``self.route(...)``.

    Handlers are called as ``handler(request, *path_groups)`` and return a ``Response``
    (or raise ``HTTPError``). ``request`` is the ``Recorded`` entry of the call.
    """

    name = "emulator"

    def __init__(self) -> None:
        self.received: list[Recorded] = []
        self.faults = Faults()
        self.routes: list[Route] = []
        self._state_lock = threading.Lock()

    # -- set-up -------------------------------------------------------------------------------

    def route(self, method: str, pattern: str, handler: Handler, *, json_body: bool = True) -> None:
        self.routes.append(Route(method.upper(), re.compile(pattern + r"\Z"), handler, json_body))

    def check_auth(self, request: Recorded) -> None:
        """Raise HTTPError when the request's credentials are wrong; subclasses override."""

    def reset(self) -> None:
        self.received.clear()
        self.faults.clear()

    # -- inspection helpers -------------------------------------------------------------------

    def requests_to(self, path: str, method: str | None = None) -> list[Recorded]:
        return [r for r in self.received if r.path == path and (method is None or r.method == method)]

    # -- ASGI ---------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            raise RuntimeError(f"unsupported ASGI scope type {scope['type']!r}")
        body = b""
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        request = self._record(scope, body)
        for fault in self.faults.take(request.method, request.path):
            if fault.delay > 0:
                await asyncio.sleep(fault.delay)
            if fault.drop:
                await self._drop(receive)
                return
            if fault.status is not None:
                await self._send(send, request, fault.response())
                return
        await self._send(send, request, self._dispatch(request))

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return

    def _record(self, scope: Scope, body: bytes) -> Recorded:
        headers: dict[str, str] = {}
        for raw_name, raw_value in scope.get("headers", []):
            name = raw_name.decode("latin-1").lower()
            value = raw_value.decode("latin-1")
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        query_string = scope.get("query_string", b"").decode("latin-1")
        query = dict(parse_qsl(query_string, keep_blank_values=True))
        parsed: Any = None
        if body:
            try:
                parsed = orjson.loads(body)
            except orjson.JSONDecodeError:
                parsed = None
        raw_path = (scope.get("raw_path") or scope["path"].encode("utf-8")).split(b"?")[0].decode("latin-1")
        request = Recorded(
            scope["method"].upper(), scope["path"], query, headers, parsed, body, None, raw_path
        )
        self.received.append(request)
        return request

    def _dispatch(self, request: Recorded) -> Response:
        # Match on the raw path so that %2F inside one segment stays inside it; groups are decoded.
        path = request.raw_path
        allowed: list[str] = []
        try:
            for route in self.routes:
                match = route.pattern.match(path)
                if not match:
                    continue
                if route.method != request.method:
                    allowed.append(route.method)
                    continue
                self.check_auth(request)
                if route.json_body:
                    self._check_json(request)
                groups = [unquote(g, encoding="utf-8", errors="replace") for g in match.groups()]
                with self._state_lock:
                    return route.handler(request, *groups)
            if allowed:
                return Response(
                    405, {"error": f"method {request.method} not allowed"}, {"allow": ", ".join(allowed)}
                )
            return Response(404, {"error": f"no route for {request.method} {request.path}"})
        except HTTPError as err:
            return err.response

    @staticmethod
    def _check_json(request: Recorded) -> None:
        content_type = request.headers.get("content-type", "")
        if content_type.split(";")[0].strip().lower() != "application/json":
            raise HTTPError(415, {"error": f"Content-Type must be application/json, got {content_type!r}"})
        if not request.body:
            raise HTTPError(400, {"error": "body: a JSON body is required", "key": "body"})
        if request.json is None:
            try:
                orjson.loads(request.body)
            except orjson.JSONDecodeError:
                raise HTTPError(400, {"error": "body: not valid JSON", "key": "body"}) from None

    async def _send(self, send: Send, request: Recorded, response: Response) -> None:
        request.status = response.status
        payload = b"" if response.body is None else orjson.dumps(response.body)
        headers = [(b"content-length", str(len(payload)).encode())]
        if response.body is not None:
            headers.append((b"content-type", b"application/json"))
        headers += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in response.headers.items()]
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})

    @staticmethod
    async def _drop(receive: Receive) -> None:
        """Close the connection without sending a response.

        Under uvicorn (h11 or httptools) ``receive`` is a bound method of the request cycle that
        owns the socket transport: abort it and wait for the disconnect, so uvicorn does not send
        its own 500. The client sees the connection closed with no response bytes (httpx:
        ``RemoteProtocolError: Server disconnected without sending a response``; aiohttp:
        ``ServerDisconnectedError``). In-process there is no socket: raise ``ConnectionDropped``.
        """
        cycle = getattr(receive, "__self__", None)
        transport = getattr(cycle, "transport", None)
        if transport is None:
            raise ConnectionDropped()
        transport.close()

        async def until_disconnect() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass

        try:
            await asyncio.wait_for(until_disconnect(), timeout=5)
        except TimeoutError:
            pass
