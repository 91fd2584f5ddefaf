"""Where OAuth2 access tokens of destination instances are kept, shared by every worker of an instance.

`TokenStore` is the whole interface: a queue backend that can keep a small key/value record implements it
(`SQLiteQueue` and `PostgresQueue` do, in a `tokens` table); `MemoryTokenStore` serves one process (engine send, engine auth).
"""

from __future__ import annotations

import threading
from typing import Protocol, runtime_checkable


@runtime_checkable
class TokenStore(Protocol):
    def get_token(self, key: str) -> tuple[str, float] | None:
        """(access token, expiry as epoch seconds) filed under `key`, or None."""

    def put_token(self, key: str, token: str, expires_at: float) -> None:
        """File `token` under `key`, replacing what was there."""


class MemoryTokenStore:
    """A TokenStore in this process only."""

    def __init__(self) -> None:
        self._tokens: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def get_token(self, key: str) -> tuple[str, float] | None:
        with self._lock:
            return self._tokens.get(key)

    def put_token(self, key: str, token: str, expires_at: float) -> None:
        with self._lock:
            self._tokens[key] = (token, expires_at)
