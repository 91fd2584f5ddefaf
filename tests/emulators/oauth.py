"""An OAuth2 API: a token endpoint (refresh_token grant) and endpoints that want the current access token.

    POST /oauth/token   form grant_type=refresh_token, client_id, client_secret, refresh_token
                        -> 200 {"access_token", "token_type", "expires_in"}; 400 invalid_grant; 401 invalid_client
    GET  /v1/me         Bearer token -> 200 {"ok": true}; 401 otherwise
    POST /v1/events     Bearer token -> 202 {"accepted": true}; 401 otherwise

`revoke()` makes every token issued so far invalid (as an expiry on the provider's side would).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

import orjson

from .server import read_body


class OAuthEmulator:
    def __init__(self, client_id: str = "cid", client_secret: str = "csecret", refresh_token: str = "rtok",
                 expires_in: int = 3600) -> None:
        self.client_id, self.client_secret, self.refresh_token = client_id, client_secret, refresh_token
        self.expires_in = expires_in
        self.issued: list[str] = []
        self.valid: set[str] = set()
        self.requests: list[tuple[str, str, str | None]] = []  # (method, path, bearer token)
        self.token_status: int | None = None  # force the token endpoint to answer this status

    def revoke(self) -> None:
        self.valid.clear()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = await read_body(receive)
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        auth = headers.get("authorization", "")
        bearer = auth[7:] if auth.startswith("Bearer ") else None
        path, method = scope["path"], scope["method"]
        self.requests.append((method, path, bearer))
        status, answer = self._answer(method, path, body, bearer)
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": orjson.dumps(answer)})

    def _answer(self, method: str, path: str, body: bytes, bearer: str | None) -> tuple[int, Any]:
        if path == "/oauth/token" and method == "POST":
            if self.token_status is not None:
                return self.token_status, {"error": "server_said_no"}
            form = dict(parse_qsl(body.decode()))
            if form.get("client_id") != self.client_id or form.get("client_secret") != self.client_secret:
                return 401, {"error": "invalid_client"}
            if form.get("grant_type") != "refresh_token" or form.get("refresh_token") != self.refresh_token:
                return 400, {"error": "invalid_grant"}
            token = f"access-token-{len(self.issued) + 1}-xyz"
            self.issued.append(token)
            self.valid.add(token)
            return 200, {"access_token": token, "token_type": "Bearer", "expires_in": self.expires_in}
        if bearer not in self.valid:
            return 401, {"error": "invalid_token"}
        if path == "/v1/me":
            return 200, {"ok": True}
        if path == "/v1/events" and method == "POST":
            return 202, {"accepted": True}
        return 404, {"error": "not found"}
