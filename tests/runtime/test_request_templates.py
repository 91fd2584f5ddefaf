"""A request's method and headers as templates (Webhook: the method and the headers are mapping fields): the method
renders to one of the HTTP methods or fails the event; a headers template's object is merged over
request_defaults.headers by name in any case, undefined and null values left out, and a Content-Type of its own
replaces the JSON body's."""

from __future__ import annotations

import pytest

from engine.runtime.requests import compile_request
from engine.templates import TemplateRenderError
from engine.templates.compile import make_context

DEFAULTS = {"headers": {"Authorization": "Bearer {{ settings.key }}", "X-Source": "engine"}}
REQUEST = {"method": "{{ payload.method }}", "url": "https://hooks.example.test/in",
           "headers": "{{ {'X-Sig': payload.sig} | merge(payload.headers) }}", "json": "{{ payload.data }}"}


def render(payload: dict, request: dict | None = None):
    compiled = compile_request(request or REQUEST, DEFAULTS)
    return compiled.render(make_context(payload, {"key": "k-1"}))


@pytest.mark.parametrize("method", ["PUT", "patch", "Post"])
def test_method_template_gives_the_upper_case_method(method: str) -> None:
    assert render({"method": method, "data": {}}).method == method.upper()


@pytest.mark.parametrize("method", ["TRACE", "", None, 3])
def test_method_template_outside_the_methods_fails_the_event(method: object) -> None:
    with pytest.raises(TemplateRenderError, match="expected one of GET, POST, PUT, PATCH, DELETE, HEAD"):
        render({"method": method, "data": {}})


def test_headers_template_merges_over_the_defaults_by_name_in_any_case() -> None:
    request = render({"method": "POST", "data": {"a": 1}, "sig": "abc",
                      "headers": {"x-source": "mapping", "X-Empty": None, "X-Num": 5}})
    assert request.headers == {"Authorization": "Bearer k-1", "x-source": "mapping", "X-Sig": "abc",
                               "X-Num": "5", "Content-Type": "application/json"}


def test_headers_template_undefined_values_and_no_object_add_nothing() -> None:
    request = render({"method": "POST", "data": {"a": 1}})
    assert request.headers == {"Authorization": "Bearer k-1", "X-Source": "engine", "Content-Type": "application/json"}


def test_headers_template_content_type_replaces_the_json_default() -> None:
    request = render({"method": "POST", "data": {"a": 1}, "headers": {"content-type": "application/vnd.x+json"}})
    assert [k for k in request.headers if k.lower() == "content-type"] == ["content-type"]
    assert request.headers["content-type"] == "application/vnd.x+json"


def test_headers_template_that_is_not_an_object_fails_the_event() -> None:
    with pytest.raises(TemplateRenderError, match="expected an object of headers"):
        render({"method": "POST", "data": {}}, {**REQUEST, "headers": "{{ payload.method }}"})


def test_headers_template_value_with_a_line_break_is_refused() -> None:
    with pytest.raises(TemplateRenderError, match="control character"):
        render({"method": "POST", "data": {}, "headers": {"X-Bad": "a\r\nInjected: 1"}})


def test_settings_only_headers_stay_cached_while_the_template_part_changes() -> None:
    compiled = compile_request(REQUEST, DEFAULTS)
    first = compiled.render(make_context({"method": "POST", "sig": "one"}, {"key": "k-1"}))
    second = compiled.render(make_context({"method": "POST", "sig": "two"}, {"key": "k-1"}))
    assert (first.headers["X-Sig"], second.headers["X-Sig"]) == ("one", "two")
