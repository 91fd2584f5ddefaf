"""OAuth2 access tokens: a destination's `oauth2` section compiled once, and per instance a `TokenManager` that
refreshes the token before it expires (and once after a 401), keeps it in a `TokenStore` shared by the
instance's workers, and adds it to the Deliverer's Masker so that it is never printed.

Templates read the token as `auth.access_token` (typically `Authorization: "Bearer {{ auth.access_token }}"` in
request_defaults). A refresh that fails (an HTTP error such as 400 or 401, an answer without a token, a network
error after the delivery policy's attempts) raises `RefreshFailed`: the event gets a failed verdict saying so.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from engine.jsvalues import UNDEFINED
from engine.runtime.requests import CompiledRequest, compile_request
from engine.templates import TemplateError, compile_template

if TYPE_CHECKING:  # engine.queue (and sqlite3 under it) loads only when a token is needed
    from engine.queue.tokens import TokenStore

DEFAULT_LIFETIME = 3600.0  # seconds, when the answer gives no expires_in
MARGIN = 60.0  # refresh this long before the expiry


class RefreshFailed(Exception):
    """The token endpoint did not give a token; the message (masked) says why."""

    def __init__(self, message: str, outcome: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.outcome = outcome


@dataclass
class OAuth2:
    refresh: CompiledRequest
    access_token: Callable[[dict[str, Any]], Any]
    expires_in: Callable[[dict[str, Any]], Any] | None = None
    margin: float = MARGIN


def compile_oauth2(spec: dict[str, Any], data: dict[str, Any]) -> OAuth2:
    """The spec's `oauth2` section (already checked)."""
    return OAuth2(
        refresh=compile_request(spec["refresh"]),
        access_token=compile_template(spec.get("access_token", "{{ response.json.access_token }}")),
        expires_in=compile_template(spec.get("expires_in", "{{ response.json.expires_in }}")),
        margin=float(spec.get("refresh_before", MARGIN)),
    )


class TokenManager:
    """The access token of one destination instance."""

    def __init__(self, oauth: OAuth2, key: str, store: TokenStore | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.oauth = oauth
        self.key = key
        if store is None:
            from engine.queue.tokens import MemoryTokenStore

            store = MemoryTokenStore()
        self.store = store
        self.clock = clock
        self.refreshes = 0  # refresh requests that gave a token (for engine auth and tests)
        self.expires_at: float | None = None
        self._lock = asyncio.Lock()
        self._known: set[str] = set()

    async def token(self, settings: dict[str, Any], deliverer: Any, *, stale: str | None = None) -> str:
        """A token valid for at least the margin; refreshed when there is none, it is about to expire, or it is
        `stale` (the token a request was just refused with: refreshed once, unless another task already did)."""
        async with self._lock:
            held = self.store.get_token(self.key)
            if held is not None:
                token, expires_at = held
                if token != stale and expires_at - self.oauth.margin > self.clock():
                    self._masked(deliverer, token)
                    self.expires_at = expires_at
                    return token
            return await self._refresh(settings, deliverer)

    async def _refresh(self, settings: dict[str, Any], deliverer: Any) -> str:
        context = {"payload": {}, "settings": settings, "steps": {}, "now": _dt.datetime.now(_dt.UTC)}
        try:
            request = self.oauth.refresh.render(context, "oauth2_refresh")
        except TemplateError as exc:
            raise RefreshFailed(f"the token refresh request could not be rendered: {exc}") from None
        outcome = await deliverer.send(request)
        if not outcome.ok:
            raise RefreshFailed(f"OAuth2 token refresh failed: {outcome.error}", outcome)
        answer = {"response": outcome.response.to_context() if outcome.response is not None else {}}
        try:
            token = self.oauth.access_token(answer)
            lifetime = self.oauth.expires_in(answer) if self.oauth.expires_in else None
        except TemplateError as exc:
            raise RefreshFailed(f"OAuth2 token refresh: the answer could not be read: {exc}", outcome) from None
        if not isinstance(token, str) or not token:
            raise RefreshFailed(f"OAuth2 token refresh: the answer (HTTP {outcome.status}) has no access token", outcome)
        self._masked(deliverer, token)
        if isinstance(lifetime, str):
            try:
                lifetime = float(lifetime)
            except ValueError:
                lifetime = None
        seconds = float(lifetime) if isinstance(lifetime, (int, float)) and not isinstance(lifetime, bool) \
            and lifetime > 0 else DEFAULT_LIFETIME
        self.expires_at = self.clock() + seconds
        self.store.put_token(self.key, token, self.expires_at)
        self.refreshes += 1
        return token

    def _masked(self, deliverer: Any, token: str) -> None:
        """The deliverer's Masker masks `token` from now on (it prints every verdict and excerpt)."""
        if token not in self._known:
            self._known.add(token)
            deliverer.masker = deliverer.masker.with_secrets([token])


_MANAGERS: weakref.WeakKeyDictionary[Any, TokenManager] = weakref.WeakKeyDictionary()


def use_token_store(deliverer: Any, dest: Any, store: TokenStore, key: str) -> TokenManager:
    """Let `deliverer` (one instance of `dest`) keep its token in `store` under `key` (the instance id): what a
    runner does so that all workers of an instance share one token (the queue implements TokenStore)."""
    manager = TokenManager(dest.oauth2, key, store)
    _MANAGERS[deliverer] = manager
    return manager


def manager_for(deliverer: Any, dest: Any) -> TokenManager:
    """The TokenManager of `deliverer`; an in-memory one keyed by the spec's slug unless `use_token_store` set one."""
    manager = _MANAGERS.get(deliverer)
    if manager is None:
        manager = _MANAGERS[deliverer] = TokenManager(dest.oauth2, dest.slug)
    return manager


def auth_context(token: str | None) -> dict[str, Any]:
    return {"access_token": token if token is not None else UNDEFINED}
