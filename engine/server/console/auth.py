"""Who may use the console: the operator token of the config (`console.token`), given as `Authorization: Bearer
TOKEN` or once in the sign-in form, which opens a session kept in an HttpOnly, SameSite=Strict cookie. Every
state-changing request (POST) also needs the CSRF value of its session, in the form field `csrf` or the
`X-CSRF-Token` header: an HMAC of the session id under a key made at start, so it is never stored and differs per
session (Bearer callers read theirs from GET /console/api/session)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections import OrderedDict

COOKIE = "engine_console"
SESSION_SECONDS = 12 * 3600.0
MAX_SESSIONS = 1000
BEARER = "bearer"  # the "session" of requests that carry the token itself


class ConsoleAuth:
    def __init__(self, token: str) -> None:
        self._token = token.encode()
        self._key = secrets.token_bytes(32)
        self._sessions: OrderedDict[str, float] = OrderedDict()  # session id -> expiry (monotonic)

    def token_ok(self, given: str | None) -> bool:
        return given is not None and hmac.compare_digest(given.encode(), self._token)

    def open_session(self) -> str:
        session = secrets.token_urlsafe(32)
        self._sessions[session] = time.monotonic() + SESSION_SECONDS
        while len(self._sessions) > MAX_SESSIONS:
            self._sessions.popitem(last=False)
        return session

    def close_session(self, session: str | None) -> None:
        if session:
            self._sessions.pop(session, None)

    def who(self, authorization: str | None, cookie_header: str | None) -> str | None:
        """The session of a request (BEARER for a valid Bearer token), or None: not signed in."""
        if authorization and authorization[:7].lower() == "bearer " and self.token_ok(authorization[7:].strip()):
            return BEARER
        session = cookie_value(cookie_header, COOKIE)
        if session is not None:
            expiry = self._sessions.get(session)
            if expiry is not None and expiry > time.monotonic():
                return session
            self._sessions.pop(session, None)
        return None

    def csrf(self, session: str) -> str:
        return hmac.new(self._key, session.encode(), hashlib.sha256).hexdigest()

    def csrf_ok(self, session: str, given: str | None) -> bool:
        return given is not None and hmac.compare_digest(given.encode(), self.csrf(session).encode())


def cookie_value(header: str | None, name: str) -> str | None:
    for part in (header or "").split(";"):
        key, _, value = part.strip().partition("=")
        if key == name and value:
            return value
    return None
