"""The HTTP layer of `engine serve` (engine/server/http.py), over raw sockets: request smuggling closes the
connection, accepted sockets have TCP_NODELAY, header/body read deadlines, the connection cap and the
accept-error log."""

from __future__ import annotations

import base64
import json
import socket
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from serve_helpers import WRITE_KEY, AppServer, wait_until, write_config

DESTS = "  - {id: um, spec: usermotion, settings: {apiKey: um-secret-key-42}}\n"
AUTH = b"Authorization: Basic " + base64.b64encode(f"{WRITE_KEY}:".encode()) + b"\r\n"


def _read_until_closed(sock: socket.socket, timeout: float = 10.0) -> tuple[bytes, bool]:
    """Everything the server sends; True when it closed the connection (False: still open at `timeout`)."""
    sock.settimeout(timeout)
    data = b""
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return data, True
            data += chunk
    except TimeoutError:
        return data, False
    except ConnectionResetError:
        return data, True


def _track(user: str) -> bytes:
    body = json.dumps({"userId": user, "event": "Signed Up"}).encode()
    return (b"POST /v1/track HTTP/1.1\r\nHost: x\r\n" + AUTH + b"Content-Type: application/json\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)


@pytest.mark.parametrize("te", [b"chunked", b"\tchunked", b"CHUNKED"])
def test_content_length_with_transfer_encoding_is_400_and_closed(tmp_path: Path, app_server: Callable[..., AppServer],
                                                                 te: bytes) -> None:
    server = app_server(write_config(tmp_path, DESTS, {"api.usermotion.com": "sandbox"}))
    body = b"0\r\n\r\n" + _track("smuggled")  # a chunked body of zero bytes, then a whole second request
    request = (b"POST /v1/track HTTP/1.1\r\nHost: x\r\n" + AUTH + b"Content-Length: " + str(len(body)).encode()
               + b"\r\nTransfer-Encoding: " + te + b"\r\n\r\n" + body)
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(request)
        data, closed = _read_until_closed(sock)
    assert data.startswith(b"HTTP/1.1 400 "), data
    assert closed, "the connection stayed open after an ambiguous request"
    assert data.count(b"HTTP/1.1 ") == 1, data  # the smuggled request was not answered
    # the inner event never reached the queue: a normal request afterwards is the only one delivered
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(_track("after"))
        sock.settimeout(10)
        assert sock.recv(65536).startswith(b"HTTP/1.1 200 ")
    wait_until(lambda: server.app.sandbox.total >= 1)
    time.sleep(0.3)
    bodies = json.dumps(server.app.sandbox.recent())
    assert "after" in bodies and "smuggled" not in bodies
    assert server.app.sandbox.total == 1


def test_accepted_connections_have_tcp_nodelay(tmp_path: Path, app_server: Callable[..., AppServer]) -> None:
    server = app_server(write_config(tmp_path, DESTS, {"api.usermotion.com": "sandbox"}))
    assert server.sock.proto == socket.IPPROTO_TCP  # asyncio sets TCP_NODELAY only for such sockets
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(_track("u1"))  # keep-alive: the connection stays open after the answer
        sock.settimeout(10)
        assert sock.recv(65536).startswith(b"HTTP/1.1 200 ")
        [conn] = list(server.server.server_state.connections)
        accepted = conn.transport.get_extra_info("socket")
        assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
