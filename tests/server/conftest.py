"""Puts this folder on sys.path (for `serve_helpers`) and provides the `app_server` fixture."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

HERE = str(Path(__file__).resolve().parent)
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from serve_helpers import AppServer  # noqa: E402

from engine.server import WorkerOptions  # noqa: E402
from engine.server.http import HttpLimits  # noqa: E402


@pytest.fixture
def app_server() -> Iterator[Callable[..., AppServer]]:
    started: list[AppServer] = []

    def start(config_path: Path, options: WorkerOptions | None = None, limits: HttpLimits | None = None) -> AppServer:
        server = AppServer(config_path, options, limits).__enter__()
        started.append(server)
        return server

    yield start
    for server in reversed(started):
        server.__exit__()
