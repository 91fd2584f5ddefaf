"""Userpilot API emulator (default endpoint https://analytex.userpilot.io/).

Auth: ``Authorization: Token <apiKey>`` and ``X-API-Version: 2020-09-22`` → 401 otherwise.
Routes: GET /v1/validate → 200; POST /v1/identify ``{user_id, metadata?}``,
POST /v1/companies/identify ``{company_id, metadata?}``, POST /v1/track ``{user_id, event_name,
metadata?}`` → 202; DELETE /v1/users ``{users: [string, ...]}`` → 202.
"""

from __future__ import annotations

from .base import Emulator, HTTPError, Recorded, Response, bad_request, check_shape

API_VERSION = "2020-09-22"


class UserpilotEmulator(Emulator):
    name = "userpilot"

    def __init__(self, api_key: str = "up-test-key") -> None:
        super().__init__()
        self.api_key = api_key
        self.route("GET", r"/v1/validate", self.validate, json_body=False)
        self.route("POST", r"/v1/identify", self.identify)
        self.route("POST", r"/v1/companies/identify", self.identify_company)
        self.route("POST", r"/v1/track", self.track)
        self.route("DELETE", r"/v1/users", self.delete_users)

    def check_auth(self, request: Recorded) -> None:
        if request.headers.get("authorization") != f"Token {self.api_key}":
            raise HTTPError(401, {"error": "Unauthorized", "message": "invalid API token"})
        if request.headers.get("x-api-version") != API_VERSION:
            raise HTTPError(401, {"error": "Unauthorized", "message": f"X-API-Version must be {API_VERSION}"})

    def validate(self, request: Recorded) -> Response:
        return Response(200, {"valid": True})

    def identify(self, request: Recorded) -> Response:
        check_shape(request.json, {"user_id": "string"}, {"metadata": "object", "company": "object"})
        return Response(202, {"status": "accepted"})

    def identify_company(self, request: Recorded) -> Response:
        check_shape(request.json, {"company_id": "string"}, {"metadata": "object"})
        return Response(202, {"status": "accepted"})

    def track(self, request: Recorded) -> Response:
        check_shape(request.json, {"user_id": "string", "event_name": "string"}, {"metadata": "object"})
        return Response(202, {"status": "accepted"})

    def delete_users(self, request: Recorded) -> Response:
        check_shape(request.json, {"users": "array"})
        users = request.json["users"]
        if not users:
            raise bad_request("users", "must not be empty")
        if not all(isinstance(u, str) for u in users):
            raise bad_request("users", "must be a list of strings")
        return Response(202, {"status": "accepted", "users": users})
