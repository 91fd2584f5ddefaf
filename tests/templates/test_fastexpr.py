"""The generated expression functions (engine/templates/fastexpr.py) against Jinja: same values (UNDEFINED vs
None included), same errors, for every template of the seed specs and for a list of expressions that exercise
each node kind, over random payloads, settings and steps."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from engine.templates import filters
from engine.templates.compile import compile_template, is_template, make_context, single_expression
from engine.templates.environment import TemplateError, make_environment, parse
from engine.templates.fastexpr import ExprCompiler

SPECS = Path(__file__).resolve().parents[2] / "specs"


def _spec_templates() -> list[str]:
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, str) and is_template(value):
            found.append(value)
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    for path in sorted(SPECS.glob("*.yaml")):
        if not path.name.endswith(".tests.yaml"):
            spec = YAML(typ="safe").load(path.read_text())
            # a spec's macros compile only in that spec's environment: their bodies and the templates that call
            # them are left out here (tests/templates/test_macros.py covers them)
            macros = spec.pop("macros", None) or {}
            start = len(found)
            walk(spec)
            calls = re.compile(r"\b(" + "|".join(map(re.escape, macros)) + r")\s*\(") if macros else None
            found[start:] = [t for t in found[start:] if calls is None or not calls.search(t)]
    return sorted(set(found))


SPEC_TEMPLATES = _spec_templates()
EXPRESSIONS = [
    "{{ payload.a[1:] }}",
    "{{ payload.s[:2] ~ payload.s[::2] }}",
    "{{ 1 < payload.n < 5 }}",
    "{{ payload.n in [1, 2, 3] and payload.s not in 'abc' }}",
    "{{ payload.a | default('x', true) }}",
    "{{ payload.a | default(payload.b) }}",
    "{{ payload.s | lower ~ payload.s | upper ~ payload.n | string }}",
    "{{ payload.n | int(7) + 1 }}",
    "{{ [payload.a, payload.b, payload.s] | select | join(', ') }}",
    "{{ payload.items() | list if payload.items is defined else none }}",
    "{{ payload.s.split('/') if payload.s is string }}",
    "{{ payload.n * 3 - 1 }}",
    "{{ payload.n / 2 }}{{ payload.n // 2 }}{{ payload.n % 3 }}{{ payload.n ** 2 }}",
    "{{ -payload.n if payload.n is number else +payload.n }}",
    "{{ 'a' * payload.n }}",
    "{{ payload.x if payload.y }}",
    "x{{ payload.x if payload.y }}y{{ (payload.x if payload.y) ~ 'z' }}",
    "{{ {payload.s: payload.n, 'k': [payload.a, (payload.b,)]} }}",
    "{{ {'a': 1, 'b': [1, 2]} }}",
    "{{ payload.a.b.c.d }}",
    "{{ payload['a'][0]['b'] }}",
    "{{ payload[payload.s] }}",
    "{{ not payload.a or payload.b }}",
    "{{ payload.a is none }}{{ payload.a is mapping }}{{ payload.a is undefined }}",
    "{{ now.hour * 60 + now.minute }}",
    "{{ fail(payload.s) if payload.n == 3 else payload.s }}",
    "{{ random_digits(payload.n) | length if payload.n is number and payload.n < 5 }}",
    "{{ 10 | random_digits }}",
    "{{ uuid4() | length }}",
    "{{ range(3) | list }}",
    "{{ dict(a=payload.a) }}",
    "{{ payload | tojson }}",
    "{{ payload.a | merge(payload.b) }}",
    "{{ payload.b | omit('a', '') }}",
    "{{ payload.s.upper() }}",
    "{{ payload.s.format(payload.n) }}",
    "{{ payload.a.items }}",
    "{{ settings.keys }}",
    "{{ (steps.one or steps.two).json.id or 'none' }}",
    "{{ payload.a.__class__ if false }}",
    # repeated lookups are computed once, lazily (a lookup in a branch that does not run is not run)
    "{{ [(payload.a or {}).b, (payload.a or {}).b, payload.a.b, payload['a']['b'], payload.a['b']] }}",
    "{{ payload.a.append if payload.n == 3 else (payload.a.append if payload.n == 4 else payload.a) }}",
    "{{ [payload.s.upper, payload.s.upper] if payload.s is string }}{{ (payload.a or []).b ~ (payload.a or []).b }}",
    "{{ payload.a.b if payload.a.b is defined and payload.a.b is not none else [payload.a.b] }}",
    "{{ (payload.a and payload.b).c or (payload.a and payload.b).c }}",
    "{{ {'k': now.hour, 'j': now.hour} }}",
    # values that go straight into the result give UNDEFINED where Jinja's undefined would be normalised
    "{{ {'a': payload.a, 'b': payload.x if payload.y, 'c': [payload.b, (payload.c,)], 'd': payload.a or payload.b} }}",
    "{{ {} | merge(payload.a, {'x': payload.x, 'y': {'z': payload.y}}, {'b': payload.b} if payload.n else {'c': payload.c},"
    " payload.b or {'d': payload.d}, {} | merge({'e': payload.e})) }}",
    "{{ {'k': payload.a} | merge({'x': payload['x'], 'a': payload.a.b}) }}",
    "{{ payload.a.b }}{{ payload.x if payload.y }}",
    "{{ payload.x if payload.y }}",
    "{{ [payload.a, payload.a.b] | merge({'q': payload.q}) if payload.n == 5 else [payload.a] }}",
    "{{ {'a': payload.a | default(payload.b), 'b': payload.a and payload.b, 'c': [1, 2] | first} }}",
    "{{ ({'k': [1, {'z': none}], 't': (1, 'a')} | merge({})) ~ (payload.a, 'b', [none, true]) | string }}",
]
EXPRESSIONS += [  # `~` of strings and ints takes a short way; anything else (and ints JS prints otherwise) does not
    "{{ payload.n ~ 'x' ~ payload.s ~ (payload.n | int) ~ -7 }}",
    "{{ 'a' ~ payload.a ~ payload.b ~ 1e21 ~ true ~ none }}",
    "{{ (10 ** 21) ~ '|' ~ (10 ** 21 - 1) ~ '|' ~ (-(10 ** 21) + 1) ~ '|' ~ (-(10 ** 21)) ~ (payload.n * 2.5) }}",
    "{{ payload.screen.width ~ 'x' ~ payload.screen.height }}{{ payload.a ~ payload.s }}",
]
EXPRESSIONS += [  # repeated deterministic filters and `~` over lookups are computed once per render (see SHARED)
    "{{ [(payload.n | int) ~ 'x' ~ (payload.s | int), (payload.n | int) ~ 'x' ~ (payload.s | int), payload.n | int] }}",
    "{{ {'r': (payload.screen.width | int) ~ 'x' ~ (payload.screen.height | int),"
    " 'v': (payload.screen.width | int) ~ 'x' ~ (payload.screen.height | int)} if (payload.screen or {}).width else {} }}",
    "{{ (payload.s | url_host) if (payload.s | url_host) else (payload.a | url_host) ~ (payload.a | url_host) }}",
    "{{ [payload.s | int(7), payload.s | int(7), payload.s | int(8), payload.n | float, payload.n | float] }}",
    "{{ [payload.a | urlencode, payload.a | urlencode, payload.s | b64encode, payload.s | b64encode(true),"
    " payload.s | b64encode] }}",
    "{{ [payload.s | snake_case ~ payload.a, payload.s | snake_case ~ payload.a, (payload.s | snake_case) | int] }}",
    "{{ ((payload.a | omit('x')) | int) ~ ((payload.a | omit('x')) | int) ~ (payload.a ~ 1) ~ (payload.a ~ 1) }}",
    "{{ [payload.a ~ payload.b, payload.b ~ payload.a, payload.a ~ payload.b, payload.a.b ~ 'x' if payload.n else"
    " payload.a.b ~ 'x'] }}",
]
SHARED = EXPRESSIONS[-8:]
EXPRESSIONS += [  # the random filters are called without making a Jinja Context (see test_random_filters_need_no_context)
    "{{ [payload.a | uuid4, payload.n | random_digits if payload.n is number and 0 <= payload.n < 5, 3 | random_digits] }}",
    "{{ payload.s | random_digits }}",
]
EXPRESSIONS += [  # a missing key's undefined is made inline for plain dicts: its message names the key and the object
    "{{ payload.zz - 1 }}", "{{ payload['zz'] - 1 }}", "{{ [payload.zz, payload.zz] | first - 1 }}",
    "{{ payload.a.zz - 1 if payload.n == 1 else payload.s.zz - 1 if payload.n == 2 else payload.a['zz'] - 1 }}",
]
EXPRESSIONS += [  # merge is one dict display when all its inputs are plain dicts, else the filter (same values, errors)
    "{{ payload.a | merge(payload.b, {'k': fail('m')} if payload.n == 3 else {'a': payload.n}, payload.s) }}",
    "{{ {'a': 1, 'b': payload.b} | merge({'b': payload.a, 'c': 2}, payload.a or {}, {'a': payload.s}) }}",
]
EXPRESSIONS = [e for e in EXPRESSIONS if "__" not in e]

json_leaf = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 5), st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=4),
    st.sampled_from(["https://Example.com:8080/p", "http://x", "not a url", "Europe/Paris", "Mars/Base", "m", "female",
                     "2024-01-01T00:00:00Z", "/a/b", "{}"]),
)
json_value = st.recursive(
    json_leaf,
    lambda c: st.lists(c, max_size=3)
    | st.dictionaries(st.sampled_from(["a", "b", "width", "height", "id", "json", "status", "address", "items", "s"]), c, max_size=3),
    max_leaves=10,
)
KEYS = ["a", "b", "s", "n", "x", "y", "items", "url", "screen", "timezone", "event", "event_attributes", "user_id",
        "user_anonymous_id", "user_email", "user_custom_attributes", "traits", "company_traits", "gender", "userId",
        "anonymousId", "timestamp", "createdAt", "user_agent", "email", "name", "properties", "context", "endpoint",
        "apiKey", "api_key", "appSubdomain", "path"]
objects = st.dictionaries(st.sampled_from(KEYS), json_value, max_size=8)
steps_ = st.dictionaries(st.sampled_from(["one", "two", "user_by_id", "user_by_key", "user_created", "company_lookup"]),
                         st.fixed_dictionaries({}, optional={"status": st.sampled_from([200, 404]), "json": json_value}),
                         max_size=3)
NOW = dt.datetime(2024, 3, 31, 0, 30, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def _deterministic(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(filters.secrets, "randbelow", lambda n: n // 3)  # "333..."
    monkeypatch.setattr(filters._uuid, "uuid4", lambda: "00000000-0000-4000-8000-000000000000")


def _outcome(render: Any, ctx: dict[str, Any]) -> tuple[Any, ...]:
    try:
        value = render(ctx)
    except TemplateError as exc:
        return ("error", type(exc).__name__, exc.message, getattr(exc, "path", None))
    except Exception as exc:  # noqa: BLE001 - the same unexpected error on both sides counts as the same
        return ("raised", type(exc).__name__, str(exc))
    return ("ok", repr(value), type(value))


_COMPILED: dict[str, tuple[str, Any, Any]] = {}


def _compiled(texts: list[str]) -> list[tuple[str, Any, Any]]:
    """Compiled once for the whole module, as a spec is: every render must start afresh (no value computed
    for one context, such as a shared lookup, may be seen by the next)."""
    for t in texts:
        if t not in _COMPILED:
            _COMPILED[t] = (t, compile_template(t), compile_template(t, fast=False))
    return [_COMPILED[t] for t in texts]


def test_spec_templates_compile_without_jinja_except_statements() -> None:
    env = make_environment()
    slow = []
    for text in SPEC_TEMPLATES:
        expr = single_expression(parse(env, text))
        if expr is None:
            continue
        compiler = ExprCompiler(env)
        compiler.compile(expr)
        if compiler.fallbacks:
            slow.append(text)
    # User.com's page_domain slices a str.split() result, and its company address uses select: generated too;
    # nothing in the seed specs needs Jinja any more
    assert slow == []


@settings(max_examples=200, deadline=None)
@given(payload=objects, settings_=objects, steps=steps_)
def test_spec_templates_match_jinja(payload: dict, settings_: dict, steps: dict) -> None:
    ctx = make_context(payload, settings_, steps, now=NOW)
    for text, fast, slow in _compiled(SPEC_TEMPLATES):
        assert _outcome(fast, ctx) == _outcome(slow, ctx), text


@settings(max_examples=200, deadline=None)
@given(payload=objects, settings_=objects, steps=steps_, n=st.one_of(st.integers(-3, 6), st.none(), st.just("2")),
       s=st.sampled_from(["", "abc", "a/b/c", "{0}-{0}", "x"]))
def test_expressions_match_jinja(payload: dict, settings_: dict, steps: dict, n: Any, s: Any) -> None:
    payload = {**payload, "n": n, "s": s}
    ctx = make_context(payload, settings_, steps, now=NOW)
    for text, fast, slow in _compiled(EXPRESSIONS):
        assert _outcome(fast, ctx) == _outcome(slow, ctx), text


@pytest.mark.parametrize("payload", [{}, {"a": {"b": 1}}, {"a": None}])
def test_undefined_context_roots(payload: dict) -> None:
    for text in EXPRESSIONS:
        for ctx in ({"payload": payload}, {}, make_context()):
            assert _outcome(compile_template(text), ctx) == _outcome(compile_template(text, fast=False), ctx), text


URL_TEMPLATES = [t for t in SPEC_TEMPLATES if t.startswith(("http", "{{ settings.endpoint"))] + [
    "https://{{ settings.appSubdomain }}.x.test/{{ payload.a or fail('no a') }}/{{ payload.s | urlencode }}?q={{ payload.n }}",
]


@settings(max_examples=150, deadline=None)
@given(payload=objects, settings_=objects, steps=steps_)
def test_url_templates_match_jinja(payload: dict, settings_: dict, steps: dict) -> None:
    from engine.templates import compile_url

    ctx = make_context(payload, settings_, steps, now=NOW)
    for text in URL_TEMPLATES:
        assert _outcome(compile_url(text), ctx) == _outcome(compile_url(text, fast=False), ctx), text


# expressions where a Jinja undefined can reach the native value (the clean analysis must not claim otherwise)
# and where it cannot
CLEAN_PROBES = [
    "{{ {'a': payload.a | omit('x')} }}",
    "{{ payload.a | omit('x') }}",
    "{{ [payload.a and payload.b] }}",
    "{{ {'a': payload.a or payload.b, 'b': payload['k'] if payload.n else none} }}",
    "{{ {'a': payload.a if payload.b} }}",
    "{{ [payload.a if payload.b] | first }}",
    "{{ {} | merge(payload.a | omit('x'), {'k': payload.b or 1}, payload.s if payload.n) }}",
    "{{ {} | merge({'k': payload.a and payload.b}) }}",
    "{{ {'k': [payload.a, payload[payload.s]]} }}",
    "{{ {'k': payload.a[1:]} }}",
    "{{ {'k': -(payload.n | int), 's': payload.s ~ 'x', 'h': payload.s | url_host, 't': payload.a is defined} }}",
    "{{ payload }}",
    "{{ {'k': payload.a | omit('x') if payload.a else payload.b | omit('y')} }}",
    "{{ {'k': payload.a | omit('x') if payload.b else 1} }}",
    "{{ {'k': payload.a | omit('x') if payload.a else 1, 'j': payload.a | omit('y')} }}",
    "{{ {'k': nothere, 'j': [payload]} }}",
    "{{ {'k': ({'z': 1} if payload.b) | omit('x')} }}",
    "{{ {'k': payload.a and 1} }}",
    # a lookup into a literal that holds a Jinja undefined gives a value holding it (not clean)
    "{{ {'k': {'a': [payload.x if payload.y]}.a} }}",
    "{{ {'k': {'a': [payload.x if payload.y]}['a'], 'j': [[payload.x if payload.y]][0]} }}",
    "{{ {} | merge({'a': {'z': payload.x if payload.y}}.a) }}",
    # a computed key into a literal or the payload, in output, and filters that give text or numbers (clean)
    "{{ {'k': {'u': 1, 'm': 2}[payload.s | lower] if payload.a is defined, 'p': payload[payload.s]} }}",
    "{{ {'j': [payload.a | join(', '), payload.s | upper, payload.s | length, payload.b | string]} }}",
]


def _holds_jinja_undefined(value: Any) -> bool:
    import jinja2

    if isinstance(value, jinja2.Undefined):
        return True
    if isinstance(value, dict):
        return any(_holds_jinja_undefined(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_holds_jinja_undefined(v) for v in value)
    return False


_NATIVE: dict[tuple[str, bool], Any] = {}


def _native(text: str, json_body: bool) -> Any:
    if (text, json_body) not in _NATIVE:
        env = make_environment()
        expr = single_expression(parse(env, text))
        assert expr is not None
        _NATIVE[text, json_body] = ExprCompiler(env).compile(expr, native=True, json_body=json_body)
    return _NATIVE[text, json_body]


def test_clean_analysis_covers_the_spec_bodies() -> None:
    """Usermaven's request bodies (merges of literals, omit of the payload, guarded lookups) skip normalize (the
    fast path below is in use)."""
    bodies = [t for t in SPEC_TEMPLATES if "usermaven-segment" in t and single_expression(parse(make_environment(), t))]
    assert bodies and all(_native(t, True).clean for t in bodies)
    assert not _native("{{ payload.a | omit('x') }}", True).clean
    assert _native("{{ {'k': -(payload.n | int), 's': payload.s ~ 'x'} }}", False).clean
    # User.com's user and company bodies: omit of the traits merged with a literal (a computed key into a literal,
    # a join of the address parts)
    omitted = [t for t in SPEC_TEMPLATES if "| omit(" in t and "| merge(" in t and "usermaven-segment" not in t
               and single_expression(parse(make_environment(), t))]
    assert omitted and all(_native(t, True).clean for t in omitted)
    assert _native(CLEAN_PROBES[-2], True).clean and _native(CLEAN_PROBES[-1], True).clean
    assert not any(_native(t, True).clean for t in CLEAN_PROBES[-5:-2])


@settings(max_examples=200, deadline=None)
@given(payload=objects, settings_=objects, steps=steps_, n=st.one_of(st.integers(-3, 6), st.none(), st.just("2")),
       s=st.sampled_from(["", "abc", "a/b/c", "https://X.test:8080/p", "x"]))
def test_clean_values_hold_no_jinja_undefined(payload: dict, settings_: dict, steps: dict, n: Any, s: Any) -> None:
    """Where fastexpr marks an expression clean (its renderer then skips `normalize`), no random context makes
    its value hold a Jinja undefined; through the renderer, values equal Jinja's as everywhere else."""
    payload = {**payload, "n": n, "s": s}
    ctx = make_context(payload, settings_, steps, now=NOW)
    for text in SPEC_TEMPLATES + EXPRESSIONS + CLEAN_PROBES:
        if single_expression(parse(make_environment(), text)) is None:
            continue
        for json_body in (False, True):
            closure = _native(text, json_body)
            if not closure.clean:
                continue
            try:
                value = closure(ctx)
            except Exception:  # noqa: BLE001, S112 - errors are compared with Jinja's by the tests above
                continue
            assert not _holds_jinja_undefined(value), text
    for text, fast, slow in _compiled(CLEAN_PROBES):
        assert _outcome(fast, ctx) == _outcome(slow, ctx), text


def test_shared_calls_are_generated() -> None:
    """The expressions above do reuse their repeated filters and `~` (a memo local each; `~` charges its step)."""
    env = make_environment()
    sources = [ExprCompiler(env).compile(single_expression(parse(env, t))).source for t in SHARED]
    assert all("_c0" in src for src in sources)
    assert "(_spend(1) or _c" in sources[0] and "(_spend(1) or _c" in sources[1]
    # a filter over an argument that is not shareable (omit makes a new object) is not reused: only the two
    # `(payload.a ~ 1)` carry a memo of a call
    omit_source = sources[6].split("return", 1)[1]
    assert omit_source.count("(_spend(1) or _c") == 2
    assert not re.search(r"_c[0-9]+ := _f", omit_source)


@pytest.mark.parametrize("steps_left", range(8))
@pytest.mark.parametrize("text", SHARED)
def test_shared_calls_spend_the_budget_as_jinja(text: str, steps_left: int) -> None:
    """A reused `~` still charges one budget step: with a nearly spent budget (a render nested in a larger
    one), the fast path fails exactly where Jinja does, or not at all."""
    from engine.templates.environment import _BUDGET, Budget

    payload = {"n": 3, "s": "https://X.test:8080/p", "a": "y", "b": 2, "screen": {"width": 640, "height": 480}}
    ctx = make_context(payload, {}, {}, now=NOW)
    outcomes: list[tuple[Any, int]] = []
    for render in _compiled([text])[0][1:]:
        token = _BUDGET.set(Budget(steps_left))
        try:
            outcomes.append((_outcome(render, ctx), _BUDGET.get().left))
        finally:
            _BUDGET.reset(token)
    assert outcomes[0] == outcomes[1]


def test_random_filters_need_no_context() -> None:
    env = make_environment()
    text = "{{ [payload.a | uuid4, payload.n | random_digits] }}"
    source = ExprCompiler(env).compile(single_expression(parse(env, text))).source
    assert "_jinja_context" not in source


@settings(max_examples=150, deadline=None)
@given(payload=objects, settings_=objects, steps=steps_, n=st.one_of(st.integers(-3, 6), st.none(), st.just("2")),
       s=st.sampled_from(["", "abc", "a/b/c", "https://X.test:8080/p", "x"]))
def test_json_body_values_match_jinja_stripped(payload: dict, settings_: dict, steps: dict, n: Any, s: Any) -> None:
    """A JSON body's expression (`json_body`: object literals in output leave out their UNDEFINED keys, by
    `_drop_keys` or `_drop_undefined`) sends what Jinja's value sends once `strip_undefined` has run."""
    from engine.mapping.compile import strip_undefined
    from engine.templates.environment import normalize, run_guarded

    payload = {**payload, "n": n, "s": s}
    ctx = make_context(payload, settings_, steps, now=NOW)
    for text in SPEC_TEMPLATES + EXPRESSIONS + CLEAN_PROBES:
        if single_expression(parse(make_environment(), text)) is None:
            continue
        closure = _native(text, True)
        fast = _outcome(lambda c, f=closure: strip_undefined(run_guarded(
            lambda x: f(x) if f.clean else normalize(f(x)), c)), ctx)
        slow = _outcome(lambda c, t=text: strip_undefined(_COMPILED_SLOW(t)(c)), ctx)
        assert fast == slow, text


def _COMPILED_SLOW(text: str) -> Any:  # noqa: N802 - reads like the compiled template it gives
    return _compiled([text])[0][2]
