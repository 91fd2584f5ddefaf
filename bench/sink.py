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
import sys

RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\n{}"
COUNT_PATH = b"/__count"


def count_response(count: int) -> bytes:
    body = b'{"count": %d}' % count
    return (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
            b"Connection: keep-alive\r\n\r\n" % len(body)) + body


class Sink(asyncio.Protocol):
    received = 0  # requests received by every connection of this process, /__count excluded

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
            buf = buf[end + 4 + length:]
            target = head[:head.find(b"\r\n")].split(b" ")
            if len(target) > 1 and target[0] == b"get" and target[1] == COUNT_PATH:
                out.append(count_response(Sink.received))
            else:
                Sink.received += 1
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
