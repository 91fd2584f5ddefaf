"""The HTTP layer of `engine serve` (engine/server/http.py), over raw sockets: request smuggling closes the
connection, accepted sockets have TCP_NODELAY, header/body read deadlines, the connection cap and the
accept-error log."""

from __future__ import annotations

import base64
import json
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from serve_helpers import WRITE_KEY, AppServer, ServeProcess, wait_until, write_config

from engine.server.http import HttpLimits, connection_cap

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


SHORT = HttpLimits(header_timeout=0.5, body_timeout=0.5, max_connections=3)


def test_headers_that_never_finish_are_cut(tmp_path: Path, app_server: Callable[..., AppServer]) -> None:
    server = app_server(write_config(tmp_path, DESTS, {"api.usermotion.com": "sandbox"}), limits=SHORT)
    with socket.create_connection(("127.0.0.1", server.port)) as idle, \
            socket.create_connection(("127.0.0.1", server.port)) as slow:
        slow.sendall(b"POST /v1/track HTTP/1.1\r\nHost: x\r\n")  # the blank line never comes
        for sock in (idle, slow):
            data, closed = _read_until_closed(sock)
            assert closed and data.startswith(b"HTTP/1.1 408 "), data


def test_a_body_shorter_than_its_content_length_is_cut(tmp_path: Path,
                                                       app_server: Callable[..., AppServer]) -> None:
    server = app_server(write_config(tmp_path, DESTS, {"api.usermotion.com": "sandbox"}), limits=SHORT)
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(b"POST /v1/track HTTP/1.1\r\nHost: x\r\n" + AUTH + b"Content-Length: 1000\r\n\r\n{\"userId\":")
        data, closed = _read_until_closed(sock)
    assert closed and data.startswith(b"HTTP/1.1 408 "), data
    assert server.server.http_stats.timeouts == 1
    with socket.create_connection(("127.0.0.1", server.port)) as sock:  # the server still answers
        sock.sendall(_track("u1"))
        sock.settimeout(10)
        assert sock.recv(65536).startswith(b"HTTP/1.1 200 ")


def test_connections_over_the_cap_are_refused_at_once(tmp_path: Path,
                                                      app_server: Callable[..., AppServer]) -> None:
    server = app_server(write_config(tmp_path, DESTS, {"api.usermotion.com": "sandbox"}),
                        limits=HttpLimits(max_connections=3))
    held = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(3)]
    try:
        wait_until(lambda: len(server.server.server_state.connections) == 3, timeout=10)
        with socket.create_connection(("127.0.0.1", server.port)) as extra:
            data, closed = _read_until_closed(extra)
        assert closed and data.startswith(b"HTTP/1.1 503 "), data
        held[0].sendall(_track("u1"))  # the held ones still work
        held[0].settimeout(10)
        assert held[0].recv(65536).startswith(b"HTTP/1.1 200 ")
    finally:
        for sock in held:
            sock.close()


def test_connection_cap_stays_below_the_descriptor_limit() -> None:
    assert connection_cap(None, 1024) == 1024 - 256
    assert connection_cap(100, 1024) == 100
    assert connection_cap(None, 1_000_000) == 4096


FILL_DESCRIPTORS = """
import os, pathlib, resource, threading, time
flag = pathlib.Path({flag!r})
resource.setrlimit(resource.RLIMIT_NOFILE, (256, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
def fill():
    while not flag.exists():
        time.sleep(0.05)
    held = []
    try:
        while True:
            held.append(os.open('/dev/null', os.O_RDONLY))
    except OSError:
        pass
    os.close(held.pop())  # one descriptor to write the flag with, then fill it again
    flag.with_suffix('.done').write_text(str(len(held)))
    held.append(os.open('/dev/null', os.O_RDONLY))
threading.Thread(target=fill, daemon=True).start()
"""


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_soft_limit_raised_and_accept_errors_logged_once_with_a_count(tmp_path: Path, loop: str) -> None:
    # on both loops: uvloop's own server would drop such connections without a word (engine.server.http.Acceptor)
    flag = tmp_path / "fill"
    config = write_config(tmp_path, DESTS, {"api.usermotion.com": "sandbox"})
    with ServeProcess(config, "--loop", loop, prelude=FILL_DESCRIPTORS.format(flag=str(flag))) as serve:
        limits = Path(f"/proc/{serve.proc.pid}/limits").read_text()
        [line] = [row for row in limits.splitlines() if row.startswith("Max open files")]
        soft, hard = line.split()[3:5]
        assert soft == hard, line  # the prelude lowered it to 256; serve raised it back to the hard limit
        flag.write_text("")
        wait_until(lambda: flag.with_suffix(".done").exists(), timeout=20)
        port = int(serve.base_url.rsplit(":", 1)[1])
        clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(20)]
        try:
            wait_until(lambda: "could not accept" in serve.stderr(), timeout=10)
            time.sleep(1.5)  # asyncio retries accept() every second: more failures, no more lines
        finally:
            for sock in clients:
                sock.close()
        serve.kill()
        err = serve.stderr()
    assert "Traceback" not in err and "out of system resource" not in err, err[:2000]
    assert err.count("could not accept") == 1, err
    assert "Too many open files" in err


def _loaded_uvloop(pid: int) -> bool:
    """Whether uvloop's compiled loop is mapped into the process (not merely a path naming it: the test's folder)."""
    return "/uvloop/loop." in Path(f"/proc/{pid}/maps").read_text()


@pytest.mark.parametrize(("args", "uvloop"), [((), True), (("--loop", "uvloop"), True), (("--loop", "asyncio"), False)])
def test_serve_runs_on_uvloop_unless_told_otherwise_and_answers_on_either(tmp_path: Path, args: tuple[str, ...],
                                                                         uvloop: bool) -> None:
    config = write_config(tmp_path, DESTS, {"api.usermotion.com": "sandbox"})
    with ServeProcess(config, *args) as serve:
        port = int(serve.base_url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(_track("loop-user"))
            sock.settimeout(10)
            answer = b""
            while b"success" not in answer:
                chunk = sock.recv(65536)
                assert chunk, answer
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 200"), answer
        assert _loaded_uvloop(serve.proc.pid) is uvloop


def test_loop_uvloop_without_the_package_is_one_clear_error(tmp_path: Path) -> None:
    config = write_config(tmp_path, DESTS, {"api.usermotion.com": "sandbox"})
    blocker = "import sys\nsys.modules['uvloop'] = None  # as if it were not installed\n"
    done = subprocess.run([sys.executable, "-c", blocker + "from engine.cli import main\n"
                           "sys.exit(main(sys.argv[1:]))", "serve", "--config", str(config), "--port", "0",
                           "--loop", "uvloop"], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert "--loop uvloop needs the uvloop package" in done.stderr
    assert "Traceback" not in done.stderr
