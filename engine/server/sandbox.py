"""The sandbox: requests for hosts routed to `sandbox` are captured here and answered 200 `{}`.

Each captured request is logged (`sandbox: POST https://api.usermotion.com/v1/track 200 [usermotion-dev]`)
and the last ones are kept, masked, for `GET /sandbox`.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any, TextIO

import httpx
import orjson

from engine.secrets import Masker

DEFAULT_PORTS = {"http": 80, "https": 443}


class SandboxLog:
    """The last `keep` sandbox requests (masked), and a line per request on `stream` (None: silent)."""

    def __init__(self, masker: Masker, keep: int = 200, stream: TextIO | None = sys.stderr) -> None:
        self.masker = masker
        self.entries: deque[dict[str, Any]] = deque(maxlen=keep)
        self.stream = stream
        self.total = 0

    def record(self, instance: str, request: httpx.Request, body: bytes, status: int) -> None:
        try:
            parsed: Any = orjson.loads(body) if body else None
        except orjson.JSONDecodeError:
            parsed = body.decode("utf-8", "replace")
        entry = {
            "at": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "instance": instance,
            "method": request.method,
            "url": str(request.url),
            "status": status,
            "headers": {k.lower(): v for k, v in request.headers.items()},
            "body": parsed,
        }
        entry = self.masker.mask(entry)
        self.entries.append(entry)
        self.total += 1
        if self.stream is not None:
            print(f"sandbox: {entry['method']} {entry['url']} {status} [{instance}]", file=self.stream, flush=True)

    def recent(self, limit: int | None = None) -> list[dict[str, Any]]:
        items = list(self.entries)
        return items[-limit:] if limit else items


class SandboxTransport(httpx.AsyncBaseTransport):
    """Requests for `hosts` (HOST or HOST:PORT) are recorded in `log` and answered 200 `{}`; the rest
    go to `inner`."""

    def __init__(self, hosts: Iterable[str], inner: httpx.AsyncBaseTransport, log: SandboxLog,
                 instance: str, *, status: int = 200,
                 on_request: Callable[[httpx.Request], None] | None = None) -> None:
        self.hosts = {h.strip().lower() for h in hosts}
        self.inner = inner
        self.log = log
        self.instance = instance
        self.status = status
        self.on_request = on_request

    def captures(self, url: httpx.URL) -> bool:
        host = (url.host or "").lower()
        port = url.port if url.port is not None else DEFAULT_PORTS.get(url.scheme)
        return host in self.hosts or f"{host}:{port}" in self.hosts

    def direct_route(self, url: httpx.URL) -> tuple[Any, httpx.URL] | None:
        """For the Deliverer's direct path: captured hosts go through httpx (here), the rest as `inner` says."""
        inner = getattr(self.inner, "direct_route", None)
        if inner is None or self.captures(url):
            return None
        return inner(url)  # type: ignore[no-any-return]

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if not self.captures(request.url):
            return await self.inner.handle_async_request(request)
        body = await request.aread()
        self.log.record(self.instance, request, body, self.status)
        return httpx.Response(self.status, headers={"content-type": "application/json"}, content=b"{}",
                              request=request)

    async def aclose(self) -> None:
        await self.inner.aclose()
