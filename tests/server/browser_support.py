"""Helpers for the tests that drive a real browser (imported as `browser_support`; conftest.py puts this folder on
sys.path): headless Chromium from Debian's `chromium` package through Playwright, and a page server on its own
loopback port (its own origin).

Without Chromium or Playwright the browser tests are skipped, saying why; with ENGINE_REQUIRE_BROWSER=1 (what
.ci/run sets) they fail instead, so CI cannot pass without having run them.
"""

from __future__ import annotations

import http.server
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path(os.environ.get("ENGINE_CHROMIUM", "/usr/bin/chromium"))
HERE = Path(__file__).resolve().parent
# analytics.js: the UMD build of the npm package @segment/analytics-next 1.84.3 (dist/umd/index.js, MIT licensed,
# see browser/analytics-next-LICENSE.md), vendored so the test needs no network and no npm.
ANALYTICS_JS = HERE / "browser" / "analytics-next-1.84.3.umd.js"


def _unavailable(reason: str) -> None:
    if os.environ.get("ENGINE_REQUIRE_BROWSER") == "1":
        pytest.fail(f"ENGINE_REQUIRE_BROWSER=1 but {reason}")
    pytest.skip(reason)


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless Chromium (a Playwright Browser); skips (or fails under ENGINE_REQUIRE_BROWSER=1) without one."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is not installed (pip install playwright)")
    if not CHROMIUM.exists():
        _unavailable(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                     args=["--no-sandbox", "--disable-dev-shm-usage"])
        try:
            yield browser
        finally:
            browser.close()


class PageServer:
    """Serves `pages` ({path: (content type, bytes)}) on 127.0.0.1 (reachable as localhost too) from a thread."""

    def __init__(self, pages: dict[str, tuple[str, bytes]]) -> None:
        served = pages

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
                page = served.get(self.path.split("?")[0])
                if page is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", page[0])
                self.send_header("Content-Length", str(len(page[1])))
                self.end_headers()
                self.wfile.write(page[1])

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> PageServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(10)
