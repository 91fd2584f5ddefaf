"""m3ter API emulator: the token endpoint (https://api.m3ter.com) and the ingest API (https://ingest.m3ter.com),
written from m3ter's API description.

Auth: POST /oauth/token with ``Authorization: Basic base64(<access key id>:<api secret>)`` and the JSON body
``{"grant_type": "client_credentials"}`` → 200 ``{"access_token", "token_type": "Bearer", "expires_in"}``;
wrong credentials → 401 ``invalid_client``, another grant → 400 ``unsupported_grant_type``.
POST /organizations/<org>/measurements with ``Authorization: Bearer <token>`` and ``{"measurements": [...]}``
(1 to 1,000, each with uid, meter, account and ts) → 200 ``{"result": "accepted"}``; an unknown token → 401,
another organization → 403, a bad body → 400.

``revoke()`` makes every token issued so far invalid (as its expiry on m3ter's side would).
"""

from __future__ import annotations

import base64
from typing import Any

from .base import Emulator, HTTPError, Recorded, Response, check_shape


class M3terEmulator(Emulator):
    name = "m3ter"

    def __init__(self, access_key_id: str = "m3-key", api_secret: str = "m3-secret", org_id: str = "org-1",
                 expires_in: int = 18000) -> None:
        super().__init__()
        self.access_key_id, self.api_secret, self.org_id = access_key_id, api_secret, org_id
        self.expires_in = expires_in
        self.issued: list[str] = []
        self.valid: set[str] = set()
        self.measurements: list[dict[str, Any]] = []
        self.route("POST", r"/oauth/token", self.token)
        self.route("POST", r"/organizations/([^/]+)/measurements", self.ingest)

    def revoke(self) -> None:
        self.valid.clear()

    def token(self, request: Recorded) -> Response:
        basic = base64.b64encode(f"{self.access_key_id}:{self.api_secret}".encode()).decode()
        if request.headers.get("authorization") != f"Basic {basic}":
            raise HTTPError(401, {"error": "invalid_client"})
        if not isinstance(request.json, dict) or request.json.get("grant_type") != "client_credentials":
            raise HTTPError(400, {"error": "unsupported_grant_type"})
        token = f"m3-token-{len(self.issued) + 1}"
        self.issued.append(token)
        self.valid.add(token)
        return Response(200, {"access_token": token, "token_type": "Bearer", "expires_in": self.expires_in})

    def ingest(self, request: Recorded, org: str) -> Response:
        auth = request.headers.get("authorization", "")
        if not auth.startswith("Bearer ") or auth[7:] not in self.valid:
            raise HTTPError(401, {"message": "Unauthorized"})
        if org != self.org_id:
            raise HTTPError(403, {"message": f"no access to organization {org}"})
        check_shape(request.json, {"measurements": "array"})
        items = request.json["measurements"]
        if not 1 <= len(items) <= 1000:
            raise HTTPError(400, {"message": "between 1 and 1000 measurements per request"})
        for i, item in enumerate(items):
            check_shape(item, {"uid": "string", "meter": "string", "account": "string"}, where=f"measurements[{i}]")
            if "ts" not in item:
                raise HTTPError(400, {"message": f"measurements[{i}].ts is required"})
        self.measurements.extend(items)
        return Response(200, {"result": "accepted"})
