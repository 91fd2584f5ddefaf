"""UserMotion API emulator (https://api.usermotion.com).

Auth: ``Authorization: Basic <apiKey>`` with the key as given (not base64) → 401 otherwise.
Routes: POST /v1/verify (auth test, no body needed), POST /v1/identify ``{id, properties}``,
POST /v1/group ``{id, properties}``, POST /v1/track ``{event}``; all answer 200 ``{"success": true}``.
"""

from __future__ import annotations

from .base import Emulator, HTTPError, Recorded, Response, check_shape


class UserMotionEmulator(Emulator):
    name = "usermotion"

    def __init__(self, api_key: str = "um-test-key") -> None:
        super().__init__()
        self.api_key = api_key
        self.route("POST", r"/v1/verify", self.verify, json_body=False)
        self.route("POST", r"/v1/identify", self.identify)
        self.route("POST", r"/v1/group", self.group)
        self.route("POST", r"/v1/track", self.track)

    def check_auth(self, request: Recorded) -> None:
        if request.headers.get("authorization") != f"Basic {self.api_key}":
            raise HTTPError(401, {"success": False, "error": "Unauthorized: invalid API key"})

    def verify(self, request: Recorded) -> Response:
        return Response(200, {"success": True})

    def identify(self, request: Recorded) -> Response:
        check_shape(request.json, {"id": "string", "properties": "object"}, {"anonymousId": "string"})
        return Response(200, {"success": True})

    def group(self, request: Recorded) -> Response:
        check_shape(
            request.json,
            {"id": "string", "properties": "object"},
            {"userId": "string", "anonymousId": "string"},
        )
        return Response(200, {"success": True})

    def track(self, request: Recorded) -> Response:
        check_shape(
            request.json,
            {"event": "string"},
            {"userId": "string", "anonymousId": "string", "context": "object", "properties": "object"},
        )
        return Response(200, {"success": True})
