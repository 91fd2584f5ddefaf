"""Run an ASGI app with uvicorn on 127.0.0.1 in a background thread (for loopback tests).

with serve_in_thread(UserComEmulator(api_key="k")) as server:
    httpx.get(server.base_url + "/api/public/users-by-id/u1/")
"""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType
from typing import Any

import uvicorn


async def read_body(receive: Any) -> bytes:
    """The whole body of an ASGI http request (its `http.request` messages joined)."""
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            return body


class _ThreadServer(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # older uvicorn; newer ones skip it off the main thread
        pass


class ServerHandle:
    """A running uvicorn server. ``base_url`` is ``http://127.0.0.1:<port>`` (no trailing slash)."""

    def __init__(self, server: uvicorn.Server, thread: threading.Thread, sock: socket.socket) -> None:
        self._server = server
        self._thread = thread
        self._sock = sock
        self.host, self.port = sock.getsockname()[:2]
        self.base_url = f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def stop(self, timeout: float = 5.0) -> None:
        """Ask uvicorn to exit, force it after half of ``timeout``; idempotent."""
        self._server.should_exit = True
        self._thread.join(timeout / 2)
        if self._thread.is_alive():
            self._server.force_exit = True
            self._thread.join(timeout / 2)
        self._sock.close()
        if self._thread.is_alive():
            raise RuntimeError("uvicorn server thread did not stop")

    def __enter__(self) -> ServerHandle:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def serve_in_thread(app: Any, *, startup_timeout: float = 5.0) -> ServerHandle:
    """Start ``app`` under uvicorn (h11, asyncio, lifespan off, log level warning) on an ephemeral port.

    The socket is bound here (port 0) so the port is known before uvicorn starts; returns once
    uvicorn accepts connections.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        loop="none",
        http="h11",
        ws="none",
        lifespan="off",
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=1,
    )
    server = _ThreadServer(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="uvicorn-emulator", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            thread.join(1)
            sock.close()
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    return ServerHandle(server, thread, sock)
