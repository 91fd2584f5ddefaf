"""A minimal loopback HTTP/1.1 sink: keep-alive, reads each request (Content-Length bodies), answers 200 `{}`.

    python bench/sink.py [PORT]      # prints "listening PORT" and serves until killed (PORT 0: any free port)

`GET /__count` is answered by the sink itself with `{"count": N}`: the requests it has received so far, not
counting the `/__count` requests (for benchmarks that deliver through another process, e.g. `engine serve`,
and wait until everything arrived).

Deliberately tiny (no HTTP library) so that its ceiling (~30,000 req/s on one core) sits far above the
clients measured against it.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\n{}"
COUNT_PATH = b"/__count"
LATENCY_PATH = b"/__latency"
# A request body holding `"bench_sent_at":<epoch seconds>` (the bench stamps it into events it posts to
# `engine serve`) is timed from then to its arrival here; GET /__latency answers the latencies in ms
# collected since the last GET /__latency (sorted) and forgets them.
STAMP = b'"bench_sent_at":'


def count_response(count: int) -> bytes:
    return json_response(b'{"count": %d}' % count)


def json_response(body: bytes) -> bytes:
    return (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
            b"Connection: keep-alive\r\n\r\n" % len(body)) + body


def stamped_latency(body: bytes, now: float) -> float | None:
    """ms from the `bench_sent_at` stamp in `body` to `now`; None without a stamp."""
    at = body.find(STAMP)
    if at < 0:
        return None
    start = at + len(STAMP)
    end = start
    while end < len(body) and body[end] in b"0123456789.eE+-":
        end += 1
    return (now - float(body[start:end])) * 1000.0


class Sink(asyncio.Protocol):
    received = 0  # requests received by every connection of this process, /__count and /__latency excluded
    latencies: list[float] = []

    def __init__(self) -> None:
        self.buf = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        buf = self.buf + data
        out = []
        while True:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                break
            head = buf[:end].lower()
            length = 0
            i = head.find(b"\r\ncontent-length:")
            if i >= 0:
                j = head.find(b"\r\n", i + 2)
                length = int(head[i + 17: j if j >= 0 else len(head)])
            if len(buf) < end + 4 + length:
                break
            body = buf[end + 4:end + 4 + length]
            buf = buf[end + 4 + length:]
            target = head[:head.find(b"\r\n")].split(b" ")
            if len(target) > 1 and target[0] == b"get" and target[1] == COUNT_PATH:
                out.append(count_response(Sink.received))
            elif len(target) > 1 and target[0] == b"get" and target[1] == LATENCY_PATH:
                out.append(json_response(json.dumps(sorted(Sink.latencies)).encode()))
                Sink.latencies = []
            else:
                Sink.received += 1
                if length:
                    ms = stamped_latency(body, time.time())
                    if ms is not None:
                        Sink.latencies.append(ms)
                out.append(RESPONSE)
        self.buf = buf
        if out and self.transport is not None:
            self.transport.write(b"".join(out))


async def serve(port: int = 0) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Sink, "127.0.0.1", port, backlog=1024)
    print(f"listening {server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        import uvloop  # noqa: F401  (not required)
    except ImportError:
        pass
    asyncio.run(serve(int(sys.argv[1]) if len(sys.argv) > 1 else 0))
