"""Usermaven server-to-server API emulator (https://events.usermaven.com).

Auth: query ``token=<api_key>.<server_token>`` → 401 otherwise; the body's ``api_key`` must be the
same key (401 when it differs). Route: POST /api/v1/s2s/event with a JSON object holding
``api_key`` (string), ``event_type`` (non-empty string), ``ids`` (object), ``user`` (object with a
string ``anonymous_id``); ``company`` when present is an object with an ``id``. Answers 200
``{"status": "ok"}``.
"""

from __future__ import annotations

from .base import Emulator, HTTPError, Recorded, Response, bad_request, check_shape


class UsermavenEmulator(Emulator):
    name = "usermaven"

    def __init__(self, api_key: str = "mv-key", server_token: str = "mv-server-token") -> None:
        super().__init__()
        self.api_key = api_key
        self.server_token = server_token
        self.route("POST", r"/api/v1/s2s/event/?", self.event)

    def check_auth(self, request: Recorded) -> None:
        if request.query.get("token") != f"{self.api_key}.{self.server_token}":
            raise HTTPError(401, {"status": "error", "error": "invalid token"})

    def event(self, request: Recorded) -> Response:
        body = request.json
        check_shape(
            body,
            {"api_key": "string", "event_type": "string", "ids": "object", "user": "object"},
            {
                "company": "object",
                "doc_encoding": "string",
                "src": "string",
                "screen_resolution": "string",
                "vp_size": "string",
                "local_tz_offset": "number",
                "url": "string",
                "doc_host": "string",
                "doc_path": "string",
                "event_id": "string",
                "event_attributes": "object",
                "utc_time": "string",
            },
        )
        if body["api_key"] != self.api_key:
            raise HTTPError(401, {"status": "error", "error": "api_key does not match the token"})
        if not body["event_type"]:
            raise bad_request("event_type", "must not be empty")
        check_shape(
            body["user"],
            {"anonymous_id": "string"},
            {
                "id": "string",
                "email": "string",
                "first_name": "string",
                "last_name": "string",
                "created_at": "string",
                "custom": "object",
            },
            where="user",
        )
        if body.get("company") is not None:
            check_shape(
                body["company"],
                {"id": "string"},
                {"name": "string", "created_at": "string", "custom": "object"},
                where="company",
            )
        return Response(200, {"status": "ok"})
