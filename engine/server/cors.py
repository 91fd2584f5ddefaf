"""CORS for browser sources (analytics.js): which origins may call the ingestion API, and the headers that say so.

A browser sends analytics.js's events as `text/plain` POSTs (a "simple" request: no preflight) with the write key
in the body, and asks first with a preflight `OPTIONS` when a request has other headers (`Authorization`, a JSON
content type). So:

- a preflight is answered 204 with `Access-Control-Allow-Origin: <the origin>`, the methods, the headers and a
  `Max-Age` when some source allows the origin (the write key is not known yet: a preflight has no body), else 403
  without those headers (the browser then does not send the request);
- an actual request that carries an `Origin` is accepted only when *its* source (found by the write key) allows
  the origin; otherwise it is refused with 403 before anything is queued. An allowed request's answer (also an
  error) carries `Access-Control-Allow-Origin`, so the page's library can read it;
- requests without `Origin` (server libraries, curl) are not affected.

Every answer that depends on the origin carries `Vary: Origin`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engine.config import Source

Headers = list[tuple[bytes, bytes]]

ALLOW_METHODS = b"POST, OPTIONS"
ALLOW_HEADERS = b"content-type, authorization, content-encoding"
MAX_AGE = b"86400"  # browsers cap it lower (Chromium: 2 h); one preflight per page load at most


class CorsPolicy:
    """The origins of every source; `preflight` and `headers` give the CORS headers for one request."""

    def __init__(self, sources: Iterable[Source]) -> None:
        self.sources = list(sources)
        self.any = any("*" in s.allowed_origins for s in self.sources)
        self.origins = frozenset(o for s in self.sources for o in s.allowed_origins if o != "*")

    def known(self, origin: str) -> bool:
        """Some source allows `origin`."""
        return self.any or origin.lower() in self.origins

    def preflight(self, origin: str | None) -> tuple[int, Headers]:
        """Status and headers for an `OPTIONS` on an ingestion path."""
        if origin is None or not self.known(origin):
            return 403, [(b"vary", b"Origin")]
        return 204, [*self.headers(origin),
                     (b"access-control-allow-methods", ALLOW_METHODS),
                     (b"access-control-allow-headers", ALLOW_HEADERS),
                     (b"access-control-max-age", MAX_AGE)]

    @staticmethod
    def headers(origin: str | None) -> Headers:
        """The headers of an answer to an allowed origin (none without an Origin)."""
        if origin is None:
            return []
        return [(b"access-control-allow-origin", origin.encode("latin-1")), (b"vary", b"Origin")]
