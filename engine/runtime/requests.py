"""Request templates compiled once: method, URL, headers, query and body closures.

`CompiledRequest.render(context)` is the per-event work: call the closures and assemble
a PreparedRequest. request_defaults are merged in at compile time (action headers win).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlencode

import orjson

from engine.delivery.models import DISPLAY_JSON, PreparedRequest, encode_json
from engine.jsvalues import UNDEFINED, js_string
from engine.mapping.compile import strip_undefined
from engine.templates import TemplateRenderError, compile_url, compile_value
from engine.templates.compile import is_template, remember, settings_key, tree_reads_only_settings

Render = Callable[[dict[str, Any]], Any]
# C0 controls but tab, and DEL: a header value holding CR/LF/NUL would split or cut the request (issue 18)
_HEADER_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_PATH_END = re.compile(r"[?#]")
_PLAIN_JSON = DISPLAY_JSON  # bytes the display embeds as they are (PreparedRequest.encoded)
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD")


def _encode_plain(data: Any) -> bytes:
    """`encode_json(data)` when `data` is plain JSON data without UNDEFINED; TypeError otherwise."""
    return orjson.dumps(data, option=_PLAIN_JSON)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else js_string(value)


def check_header(name: str, value: str) -> None:
    """TemplateRenderError when a rendered header value holds a control character (CR, LF, NUL, ...)."""
    found = _HEADER_CONTROL.search(value)
    if found is not None:
        raise TemplateRenderError(f"header {name!r}: the rendered value holds the control character "
                                  f"{found.group()!r}; header values may not hold CR, LF, NUL or other controls")


def check_path(url: str) -> None:
    """TemplateRenderError when a segment of the URL's path is `.` or `..` (after percent-decoding): it
    would move the request to another path (`/users/../profile` is `/profile`)."""
    start = url.find("//")
    slash = url.find("/", start + 2 if start >= 0 else 0)
    if slash < 0:
        return
    end = _PATH_END.search(url, slash)
    path = url[slash : end.start() if end else len(url)]
    if "." not in path and "%" not in path:
        return
    for segment in path.split("/"):
        if segment and unquote(segment) in (".", ".."):
            raise TemplateRenderError(f"the URL path has a {segment!r} segment in {path!r}; "
                                      "a value placed in a path may not be '.' or '..'")


@dataclass
class CompiledRequest:
    method: str
    url: Callable[[dict[str, Any]], str]
    headers: Render
    query: Render | None
    body_kind: str | None  # "json" | "form" | "body" | None
    body: Render | None
    timeout: float | None
    content_type: tuple[str, ...] = ()  # the header names that are Content-Type (any case)
    header_cache: dict[bytes, dict[str, str]] | None = None  # per settings key, when the headers read only settings
    url_cache: dict[bytes, str] | None = None  # per settings key, when the URL is a template reading only settings
    url_constant: bool = False  # the URL is plain text (no template)
    method_render: Render | None = None  # a method template (`"{{ payload.method }}"`); None: `method` is constant
    headers_render: Render | None = None  # a headers template giving an object, merged over the headers above

    def _method(self, context: dict[str, Any]) -> str:
        render = self.method_render
        if render is None:
            return self.method
        value = render(context)
        method = value.upper() if isinstance(value, str) else None
        if method not in METHODS:
            shown = js_string(value) if value is not UNDEFINED else "nothing"
            raise TemplateRenderError(f"the method template gave {shown!r}; expected one of {', '.join(METHODS)}")
        return method

    def _more_headers(self, context: dict[str, Any], headers: dict[str, str]) -> None:
        """The headers template's object, merged into `headers` (names compare case-insensitively; an undefined or
        null value removes nothing and adds nothing)."""
        value = self.headers_render(context)  # type: ignore[misc]
        if value is UNDEFINED or value is None:
            return
        if not isinstance(value, dict):
            raise TemplateRenderError(f"the headers template gave {js_string(value)!r}; expected an object of headers")
        for name, item in value.items():
            if item is UNDEFINED or item is None:
                continue
            name = str(name)
            for existing in [k for k in headers if k.lower() == name.lower()]:
                del headers[existing]
            text = _text(item)
            check_header(name, text)
            headers[name] = text

    def _headers(self, context: dict[str, Any], key: bytes | None = None) -> dict[str, str]:
        """The headers; `key` is the settings key of this render (None: not cached)."""
        cache = self.header_cache
        if cache is None:
            key = None
        if key is not None:
            hit = cache.get(key)  # type: ignore[union-attr]
            if hit is not None:
                headers = dict(hit)
                if self.headers_render is not None:
                    self._more_headers(context, headers)
                return headers
        headers = {}
        for name, value in self.headers(context).items():
            if value is UNDEFINED or value is None:
                continue
            text = _text(value)
            check_header(name, text)
            headers[name] = text
        if key is not None:
            remember(cache, key, dict(headers))  # type: ignore[arg-type]
        if self.headers_render is not None:
            self._more_headers(context, headers)
        return headers

    def _url(self, context: dict[str, Any], key: bytes | None) -> str:
        cache = self.url_cache
        if cache is None or key is None:
            return self.url(context)
        url = cache.get(key)
        if url is None:
            url = self.url(context)
            remember(cache, key, url)
        return url

    def render(self, context: dict[str, Any], step: str | None = None) -> PreparedRequest:
        # the settings' key once per render (not per cached part); never kept across renders: settings may change
        skey = settings_key(context) if self.header_cache is not None or self.url_cache is not None else None
        url = self._url(context, skey)
        if not self.url_constant:
            check_path(url)
        if self.query is not None:
            query = self.query(context)
            if isinstance(query, dict):
                pairs = []
                for key, value in query.items():
                    if value is UNDEFINED or value is None:
                        continue
                    if isinstance(value, list):
                        pairs.extend((key, _text(v)) for v in value if v is not None and v is not UNDEFINED)
                    else:
                        pairs.append((key, _text(value)))
                if pairs:
                    url += ("&" if "?" in url else "?") + urlencode(pairs)
        headers = self._headers(context, skey)
        method = self.method if self.method_render is None else self._method(context)
        if self.body_kind == "json":
            data = self.body(context)  # type: ignore[misc]
            if data is UNDEFINED:
                return PreparedRequest(method, url, headers, None, UNDEFINED, self.timeout, step)
            names = self.content_type if self.headers_render is None else tuple(headers)
            for name in names:  # a Content-Type of the spec's own (any case) stays
                if name in headers and name.lower() == "content-type":
                    break
            else:
                headers["Content-Type"] = "application/json"
            try:  # orjson refuses UNDEFINED: when it encodes, there is nothing to remove
                body = _encode_plain(data)
            except TypeError:
                # a filter (merge, pick, ...) may build objects holding undefined: JSON drops those keys
                data = strip_undefined(data)
                return PreparedRequest(method, url, headers, encode_json(data), data, self.timeout, step)
            return PreparedRequest(method, url, headers, body, data, self.timeout, step, (data, body))
        if self.body_kind == "form":
            data = self.body(context)  # type: ignore[misc]
            pairs = [(k, _text(v)) for k, v in (data or {}).items() if v is not UNDEFINED and v is not None]
            if not any(k.lower() == "content-type" for k in headers):
                headers["Content-Type"] = "application/x-www-form-urlencoded"
            return PreparedRequest(method, url, headers, urlencode(pairs).encode(), UNDEFINED, self.timeout, step)
        if self.body_kind == "body":
            data = self.body(context)  # type: ignore[misc]
            raw = None if data is UNDEFINED or data is None else _text(data).encode("utf-8")
            return PreparedRequest(method, url, headers, raw, UNDEFINED, self.timeout, step)
        return PreparedRequest(method, url, headers, None, UNDEFINED, self.timeout, step)


def merged_headers(defaults: dict[str, Any] | None, own: dict[str, Any] | None) -> dict[str, Any]:
    """request_defaults headers under the request's own; names compare case-insensitively."""
    merged: dict[str, Any] = {}
    for source in (defaults or {}, own or {}):
        for key, value in source.items():
            for existing in [k for k in merged if k.lower() == key.lower()]:
                del merged[existing]
            merged[key] = value if isinstance(value, str) else js_string(value)
    return merged


def compile_request(spec: dict[str, Any], defaults: dict[str, Any] | None = None, *, fast: bool = True) -> CompiledRequest:
    """`fast=False` renders every template through Jinja (for tests comparing the fast paths with it)."""
    defaults = defaults or {}
    body_kind = next((k for k in ("json", "form", "body") if k in spec), None)
    timeout = spec.get("timeout", defaults.get("timeout"))
    own = spec.get("headers")
    headers_render = compile_value(own, fast=fast) if isinstance(own, str) else None
    headers = merged_headers(defaults.get("headers"), None if headers_render is not None else own)
    method = spec["method"]
    method_render = compile_value(method, fast=fast) if is_template(method) else None
    return CompiledRequest(
        method=method if method_render is None else "POST",
        url=compile_url(spec["url"], fast=fast),
        headers=compile_value(headers, fast=fast),
        query=compile_value(spec["query"], fast=fast) if spec.get("query") else None,
        body_kind=body_kind,
        body=compile_value(spec[body_kind], fast=fast, json_body=fast and body_kind == "json") if body_kind else None,
        timeout=float(timeout) if timeout is not None else None,
        content_type=tuple(k for k in headers if k.lower() == "content-type"),
        # headers made of settings only are the same for every event with the same settings
        header_cache={} if fast and tree_reads_only_settings(headers) else None,
        url_cache={} if fast and is_template(spec["url"]) and tree_reads_only_settings(spec["url"]) else None,
        url_constant=not is_template(spec["url"]),
        method_render=method_render,
        headers_render=headers_render,
    )
