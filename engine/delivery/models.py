"""What the delivery layer takes (`PreparedRequest`) and gives back (`Response`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from engine.jsvalues import UNDEFINED
from engine.secrets import Masker

if TYPE_CHECKING:  # only a type here: `engine plan` never loads an HTTP client
    import httpx

EXCERPT_LIMIT = 500


def _decode_json(data: bytes) -> Any:
    """Parsed JSON, or UNDEFINED when `data` is not JSON."""
    try:
        return orjson.loads(data)
    except (orjson.JSONDecodeError, ValueError):
        return UNDEFINED


@dataclass
class PreparedRequest:
    """One HTTP request, fully rendered, ready to send.

    `body` is what goes on the wire; `json` is the same body as data (UNDEFINED when the body
    is not JSON), kept for display. When `body` is None and `json` is set, the JSON is encoded
    at send time.
    """

    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    json: Any = UNDEFINED
    timeout: float | None = None
    step: str | None = None
    # (json, body) when `body` was made by `encode_display(json)`: the display can embed these bytes instead of
    # encoding `json` again (checked by identity, so replacing either field turns it off).
    encoded: tuple[Any, bytes] | None = field(default=None, compare=False, repr=False)

    @classmethod
    def from_json(
        cls,
        method: str,
        url: str,
        data: Any,
        *,
        headers: dict[str, str] | None = None,
        timeout: float | None = None,
        step: str | None = None,
    ) -> PreparedRequest:
        """A request whose body is `data` encoded as JSON (content-type set unless given)."""
        merged = dict(headers or {})
        if not any(k.lower() == "content-type" for k in merged):
            merged["content-type"] = "application/json"
        try:
            body = encode_display(data)
        except TypeError:
            return cls(method, url, merged, encode_json(data), data, timeout, step)
        return cls(method, url, merged, body, data, timeout, step, (data, body))

    def wire_body(self) -> bytes | None:
        """The bytes to send."""
        if self.body is not None:
            return self.body
        if self.json is UNDEFINED:
            return None
        return encode_json(self.json)

    def wire_headers(self) -> dict[str, str]:
        headers = dict(self.headers)
        if self.body is None and self.json is not UNDEFINED:
            if not any(k.lower() == "content-type" for k in headers):
                headers["content-type"] = "application/json"
        return headers

    def display_body(self) -> Any:
        """The body as data: parsed JSON, else text, else None."""
        if self.json is not UNDEFINED:
            return self.json
        if self.body is None or self.body == b"":
            return None
        parsed = _decode_json(self.body)
        if parsed is not UNDEFINED:
            return parsed
        return self.body.decode("utf-8", "replace")

    def display_body_json(self) -> bytes:
        """`orjson.dumps(self.display_body(), option=DISPLAY_JSON)`: the wire bytes themselves when they were made
        that way (TypeError when the body is not plain JSON data)."""
        encoded = self.encoded
        if encoded is not None and encoded[0] is self.json and encoded[1] is self.body:
            return encoded[1]
        return orjson.dumps(self.display_body(), option=DISPLAY_JSON)

    def to_display(self, masker: Masker | None = None) -> dict[str, Any]:
        """`{"method", "url", "headers", "body"}` for `engine plan`, secrets masked.

        Parts in which no secret occurs are not copied (a JSON body is the request's own data)."""
        headers = self.wire_headers()
        body = self.display_body()
        if not masker:
            return {"method": self.method.upper(), "url": self.url, "headers": headers, "body": body}
        if not masker.keeps(_DISPLAY_KEYS):  # a secret spelled like one of the keys: mask all of it
            return masker.mask({"method": self.method.upper(), "url": self.url, "headers": headers, "body": body})
        text = masker.mask_text
        return {"method": text(self.method.upper()), "url": text(self.url), "headers": masker.mask(headers),
                "body": masker.mask(body)}


_DISPLAY_KEYS = ("method", "url", "headers", "body")
# What a display encodes as it is: plain JSON types with str keys (anything else is masked by `to_display`).
DISPLAY_JSON = orjson.OPT_PASSTHROUGH_SUBCLASS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def encode_display(data: Any) -> bytes:
    """`data` as the display encodes it, TypeError unless it is plain JSON data (str keys, no datetimes,
    dataclasses or subclasses). Whenever it succeeds, the bytes are exactly `encode_json(data)` too."""
    return orjson.dumps(data, option=DISPLAY_JSON)


def encode_json(data: Any) -> bytes:
    """Compact JSON as JavaScript writes it; integers beyond 64 bits (which orjson refuses) go
    through the standard library, which writes them exactly."""
    try:
        return orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS)
    except TypeError as exc:
        if "Integer exceeds" not in str(exc):
            raise
        import json

        return json.dumps(data, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")


@dataclass
class Response:
    """An HTTP response as later steps see it: `steps.<id>.status/.headers/.json/.text`.

    Header names are lower-case; repeated headers are joined with ", ". `json` is the parsed
    body, or None when the body is empty or not JSON.
    """

    status: int
    headers: dict[str, str]
    text: str
    json: Any = None
    truncated: bool = False  # the answer was longer than the Deliverer's limit: `text` is its start, `json` None

    @classmethod
    def from_httpx(cls, response: httpx.Response) -> Response:
        headers: dict[str, str] = {}
        for name, value in response.headers.multi_items():
            key = name.lower()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        content = response.content
        data = None
        if content.strip():
            parsed = _decode_json(content)
            data = None if parsed is UNDEFINED else parsed
        try:
            text = response.text
        except (LookupError, ValueError):
            text = content.decode("utf-8", "replace")
        return cls(response.status_code, headers, text, data)

    def to_context(self) -> dict[str, Any]:
        """The mapping a template sees under `steps.<id>`."""
        return {"status": self.status, "headers": self.headers, "json": self.json, "text": self.text}

    def excerpt(self, masker: Masker | None = None, limit: int = EXCERPT_LIMIT) -> str:
        """The body text, masked, cut to `limit` characters."""
        text = (masker or Masker.empty()).mask_text(self.text)
        text = " ".join(text.split())
        if len(text) > limit:
            text = text[: limit - 1] + "…"
        return text
