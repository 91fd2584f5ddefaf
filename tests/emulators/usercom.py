"""User.com REST API emulator (``https://<appSubdomain>.user.com/api/public``; Host is ignored).

Auth: ``Authorization: Token <apiKey>`` → 403 with the revoked-key / untrusted-domain advice;
``Accept: */*; version=2`` → 406 otherwise. Errors are Django-REST-Framework style: ``{"detail": ...}``
or ``{"<key>": ["<message>"]}`` (400 names the key).

Users and companies live in memory (``.users`` / ``.companies`` keyed by integer id, ``.events``,
``.site_views``). Routes (all under /api/public, trailing slash required):
GET users-by-id/<custom_id>/, GET users/search/?key=|custom_id=|email=, POST users/ → 201,
PUT users/<id>/ → 200, POST events/ → 201, POST site-views/ → 201, GET companies-by-id/<custom_id>/,
POST companies/ → 201, PUT companies/<id>/ → 200, POST companies/<id>/add_member/ → 200.
"""

from __future__ import annotations

import random
from typing import Any

from .base import Emulator, HTTPError, Recorded, Response, check_shape, type_ok

PREFIX = "/api/public"

FORBIDDEN_DETAIL = (
    "Invalid API key. Verify that the API key you are using is not revoked "
    "(App settings > Advanced > Segment API keys at app.user.com). If problems still persist, verify that "
    "the domain the request comes from is trusted (App settings > Advanced > Domains)."
)

USER_FIELDS: dict[str, str] = {
    "email": "string",
    "first_name": "string",
    "last_name": "string",
    "phone_number": "string",
    "gender": "integer",
    "country": "string",
    "region": "string",
    "city": "string",
    "user_agent": "string",
    "os": "string",
    "device_name": "string",
    "device_type": "string",
    "language": "string",
    "resolution": "string",
    "ip_address": "string",
    "browser_family": "string",
    "browser_version": "string",
    "timezone": "string",
    "current_url": "string",
}

COMPANY_FIELDS: dict[str, str] = {
    "name": "string",
    "address": "string",
    "description": "string",
    "email": "string",
    "phone": "string",
}


def _drf_shape(body: Any, required: dict[str, str], optional: dict[str, str] | None = None) -> None:
    """``check_shape`` with DRF-style error bodies ``{"<key>": ["..."]}``."""
    try:
        check_shape(body, required, optional)
    except HTTPError as err:
        key = err.response.body["key"]
        message = err.response.body["error"].split(": ", 1)[1]
        text = "This field is required." if message == "is required" else f"This field {message}."
        err.response.body = {"non_field_errors": [text]} if key == "body" else {key: [text]}
        raise


def _bad(key: str, message: str) -> HTTPError:
    return HTTPError(400, {key: [message]})


class UserComEmulator(Emulator):
    name = "usercom"

    def __init__(self, api_key: str = "uc-test-key", seed: int = 0) -> None:
        super().__init__()
        self.api_key = api_key
        self.users: dict[int, dict[str, Any]] = {}
        self.companies: dict[int, dict[str, Any]] = {}
        self.events: list[dict[str, Any]] = []
        self.site_views: list[dict[str, Any]] = []
        self._rng = random.Random(seed)
        self._next_id = 1
        p = PREFIX
        self.route("GET", rf"{p}/users-by-id/([^/]+)/", self.user_by_custom_id, json_body=False)
        self.route("GET", rf"{p}/users/search/", self.search_user, json_body=False)
        self.route("POST", rf"{p}/users/", self.create_user)
        self.route("PUT", rf"{p}/users/(\d+)/", self.update_user)
        self.route("POST", rf"{p}/events/", self.create_event)
        self.route("POST", rf"{p}/site-views/", self.create_site_view)
        self.route("GET", rf"{p}/companies-by-id/([^/]+)/", self.company_by_custom_id, json_body=False)
        self.route("POST", rf"{p}/companies/", self.create_company)
        self.route("PUT", rf"{p}/companies/(\d+)/", self.update_company)
        self.route("POST", rf"{p}/companies/(\d+)/add_member/", self.add_member)

    # -- auth ---------------------------------------------------------------------------------

    def check_auth(self, request: Recorded) -> None:
        if request.headers.get("authorization") != f"Token {self.api_key}":
            raise HTTPError(403, {"detail": FORBIDDEN_DETAIL})
        parts = [p.strip().lower() for p in request.headers.get("accept", "").split(";")]
        if parts[0] not in ("*/*", "application/json") or "version=2" not in [
            p.replace(" ", "") for p in parts
        ]:
            raise HTTPError(406, {"detail": "Could not satisfy the request Accept header (need version=2)."})

    # -- state helpers (public: tests may seed data) ------------------------------------------

    def _new_id(self) -> int:
        value = self._next_id
        self._next_id += 1
        return value

    def add_user(self, **fields: Any) -> dict[str, Any]:
        """Create a user directly (no request recorded); returns the stored user."""
        user: dict[str, Any] = {"id": self._new_id(), "user_key": None, "custom_id": None}
        user.update({k: None for k in USER_FIELDS})
        user.update(fields)
        if not user["user_key"]:
            user["user_key"] = "".join(self._rng.choices("abcdefghijklmnopqrstuvwxyz0123456789", k=32))
        self.users[user["id"]] = user
        return user

    def add_company(self, **fields: Any) -> dict[str, Any]:
        """Create a company directly (no request recorded); returns the stored company."""
        company: dict[str, Any] = {"id": self._new_id(), "custom_id": None, "employees": None, "members": []}
        company.update({k: None for k in COMPANY_FIELDS})
        company.update(fields)
        self.companies[company["id"]] = company
        return company

    def find_user(self, **criteria: Any) -> dict[str, Any] | None:
        for user in self.users.values():
            if all(user.get(k) == v for k, v in criteria.items()):
                return user
        return None

    def find_company(self, **criteria: Any) -> dict[str, Any] | None:
        for company in self.companies.values():
            if all(company.get(k) == v for k, v in criteria.items()):
                return company
        return None

    # -- validation ---------------------------------------------------------------------------

    def _check_user_body(self, body: Any, current: dict[str, Any] | None) -> None:
        _drf_shape(body, {}, {"custom_id": "string", "user_key": "string", **USER_FIELDS})
        gender = body.get("gender")
        if gender is not None and gender not in (1, 2, 3):
            raise _bad("gender", f'"{gender}" is not a valid choice.')
        for key in ("custom_id", "user_key"):
            value = body.get(key)
            if value is None:
                continue
            if value == "":
                raise _bad(key, "This field may not be blank.")
            other = self.find_user(**{key: value})
            if other is not None and other is not current:
                raise _bad(key, f"user with this {key} already exists.")

    def _user(self, user_id: str) -> dict[str, Any]:
        user = self.users.get(int(user_id))
        if user is None:
            raise HTTPError(404, {"detail": "Not found."})
        return user

    def _company(self, company_id: str) -> dict[str, Any]:
        company = self.companies.get(int(company_id))
        if company is None:
            raise HTTPError(404, {"detail": "Not found."})
        return company

    def _user_ref(self, body: dict[str, Any], key: str) -> dict[str, Any]:
        user = self.users.get(body[key])
        if user is None:
            raise _bad(key, f'Invalid pk "{body[key]}" - object does not exist.')
        return user

    # -- users --------------------------------------------------------------------------------

    def user_by_custom_id(self, request: Recorded, custom_id: str) -> Response:
        user = self.find_user(custom_id=custom_id)
        if user is None:
            return Response(404, {"detail": "Not found."})
        return Response(200, dict(user))

    def search_user(self, request: Recorded) -> Response:
        criteria = {
            field: request.query[param]
            for param, field in (("key", "user_key"), ("custom_id", "custom_id"), ("email", "email"))
            if param in request.query
        }
        if not criteria:
            raise HTTPError(400, {"detail": "Provide one of the query parameters: key, custom_id, email."})
        user = self.find_user(**criteria)
        if user is None:
            return Response(404, {"detail": "Not found."})
        return Response(200, dict(user))

    def create_user(self, request: Recorded) -> Response:
        self._check_user_body(request.json, None)
        fields = {k: v for k, v in request.json.items() if k not in ("id", "members")}
        return Response(201, dict(self.add_user(**fields)))

    def update_user(self, request: Recorded, user_id: str) -> Response:
        user = self._user(user_id)
        self._check_user_body(request.json, user)
        user.update({k: v for k, v in request.json.items() if k != "id"})
        return Response(200, dict(user))

    # -- events and page views ----------------------------------------------------------------

    def create_event(self, request: Recorded) -> Response:
        body = request.json
        _drf_shape(body, {"user_id": "integer", "name": "string", "timestamp": "integer", "data": "object"})
        if not body["name"]:
            raise _bad("name", "This field may not be blank.")
        self._user_ref(body, "user_id")
        event = {"id": len(self.events) + 1, **{k: body[k] for k in ("user_id", "name", "timestamp", "data")}}
        self.events.append(event)
        return Response(201, event)

    def create_site_view(self, request: Recorded) -> Response:
        body = request.json
        _drf_shape(
            body,
            {"client_user": "string", "page_domain": "string", "page_path": "string", "timestamp": "integer"},
        )
        if self.find_user(user_key=body["client_user"]) is None:
            raise _bad("client_user", f"Object with user_key={body['client_user']} does not exist.")
        view = {"id": len(self.site_views) + 1, **body}
        self.site_views.append(view)
        return Response(201, view)

    # -- companies ----------------------------------------------------------------------------

    def _check_company_body(self, body: Any, current: dict[str, Any] | None) -> None:
        _drf_shape(
            body,
            {"custom_id": "string"} if current is None else {},
            {"custom_id": "string", **COMPANY_FIELDS},
        )
        employees = body.get("employees")
        if employees is not None and not (type_ok(employees, "number") or type_ok(employees, "string")):
            raise _bad("employees", "A valid number or text is required.")
        custom_id = body.get("custom_id")
        if custom_id is not None:
            if custom_id == "":
                raise _bad("custom_id", "This field may not be blank.")
            other = self.find_company(custom_id=custom_id)
            if other is not None and other is not current:
                raise _bad("custom_id", "company with this custom_id already exists.")

    def company_by_custom_id(self, request: Recorded, custom_id: str) -> Response:
        company = self.find_company(custom_id=custom_id)
        if company is None:
            return Response(404, {"detail": "Not found."})
        return Response(200, dict(company))

    def create_company(self, request: Recorded) -> Response:
        self._check_company_body(request.json, None)
        fields = {k: v for k, v in request.json.items() if k not in ("id", "members")}
        return Response(201, dict(self.add_company(**fields)))

    def update_company(self, request: Recorded, company_id: str) -> Response:
        company = self._company(company_id)
        self._check_company_body(request.json, company)
        company.update({k: v for k, v in request.json.items() if k not in ("id", "members")})
        return Response(200, dict(company))

    def add_member(self, request: Recorded, company_id: str) -> Response:
        company = self._company(company_id)
        _drf_shape(request.json, {"user_id": "integer"})
        user = self._user_ref(request.json, "user_id")
        if user["id"] not in company["members"]:
            company["members"].append(user["id"])
        return Response(200, {**company, "members": list(company["members"])})
