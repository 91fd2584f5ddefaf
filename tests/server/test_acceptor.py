"""engine.server.http.Acceptor on asyncio's loop and on uvloop: connections reach the protocol, a connection's
passed-on network error skips to the next, and a failing accept is reported once and pauses accepting."""

from __future__ import annotations

import asyncio
import errno
import socket
from collections.abc import Callable

import pytest

from engine.server import http
from engine.server.http import Acceptor

uvloop = pytest.importorskip("uvloop", reason="uvloop is not installed (it does not build on Windows)")


class FlakySocket(socket.socket):
    """A listening socket whose next accepts raise the errors queued in `failures` (then accept for real)."""

    failures: list[int]
    calls: int

    def accept(self) -> tuple[socket.socket, object]:
        self.calls += 1
        if self.failures:
            code = self.failures.pop(0)
            raise OSError(code, f"simulated {errno.errorcode[code]}")
        return super().accept()


def listening(failures: list[int]) -> FlakySocket:
    sock = FlakySocket(socket.AF_INET, socket.SOCK_STREAM)
    sock.failures, sock.calls = list(failures), 0
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    return sock


class Echo(asyncio.Protocol):
    def __init__(self, made: list[asyncio.Transport]) -> None:
        self.made = made

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.made.append(transport)  # type: ignore[arg-type]
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.transport.write(data.upper())  # type: ignore[attr-defined]


async def _exchange(port: int) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"ping")
    await writer.drain()
    answer = await asyncio.wait_for(reader.readexactly(4), 5)
    writer.close()
    return answer


async def _shut(acceptor: Acceptor, made: list[asyncio.Transport], sock: socket.socket) -> None:
    acceptor.close()
    await acceptor.wait_closed()
    for transport in made:
        transport.close()
    sock.close()


def _run(loop_name: str, scenario: Callable[[], object]) -> object:
    if loop_name == "uvloop":
        return uvloop.run(scenario())  # type: ignore[arg-type]
    return asyncio.run(scenario())  # type: ignore[arg-type]


@pytest.mark.parametrize("loop_name", ["asyncio", "uvloop"])
def test_connections_reach_the_protocol_past_a_connections_own_network_error(loop_name: str) -> None:
    errors: list[OSError] = []

    async def scenario() -> tuple[bytes, int, int]:
        made: list[asyncio.Transport] = []
        sock = listening([errno.EPROTO])
        acceptor = Acceptor(asyncio.get_running_loop(), sock, lambda: Echo(made), errors.append)
        try:
            answer = await _exchange(sock.getsockname()[1])
        finally:
            await _shut(acceptor, made, sock)
        return answer, len(made), sock.calls

    answer, made, calls = _run(loop_name, scenario)  # type: ignore[misc]
    assert answer == b"PING"
    assert made == 1 and calls >= 2  # the EPROTO was skipped, the connection behind it accepted
    assert errors == []


@pytest.mark.parametrize("loop_name", ["asyncio", "uvloop"])
def test_a_failing_accept_is_reported_and_pauses_then_accepting_resumes(loop_name: str,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http, "ACCEPT_RETRY", 0.3)
    errors: list[OSError] = []

    async def scenario() -> tuple[bytes, float, int]:
        loop = asyncio.get_running_loop()
        made: list[asyncio.Transport] = []
        sock = listening([errno.EMFILE])
        acceptor = Acceptor(loop, sock, lambda: Echo(made), errors.append)
        try:
            started = loop.time()
            answer = await _exchange(sock.getsockname()[1])  # waits in the backlog through the pause
            waited = loop.time() - started
        finally:
            await _shut(acceptor, made, sock)
        return answer, waited, sock.calls

    answer, waited, calls = _run(loop_name, scenario)  # type: ignore[misc]
    assert [e.errno for e in errors] == [errno.EMFILE]  # reported once, not once per retry
    assert answer == b"PING"
    assert waited >= 0.25  # accepted only after the pause, not in a busy loop of failures
    assert calls == 3  # the failure, the connection after the pause, then "none pending": no retries between


@pytest.mark.parametrize("loop_name", ["asyncio", "uvloop"])
def test_after_close_nothing_more_is_accepted(loop_name: str) -> None:
    async def scenario() -> tuple[int, int]:
        made: list[asyncio.Transport] = []
        sock = listening([])
        acceptor = Acceptor(asyncio.get_running_loop(), sock, lambda: Echo(made), lambda exc: None)
        acceptor.close()
        client = socket.create_connection(sock.getsockname(), timeout=5)
        await asyncio.sleep(0.2)
        calls = sock.calls
        client.close()
        sock.close()
        return len(made), calls

    made, calls = _run(loop_name, scenario)  # type: ignore[misc]
    assert made == 0 and calls == 0
