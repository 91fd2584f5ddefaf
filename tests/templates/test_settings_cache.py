"""Templates that read only `settings` are rendered once per settings value (engine/templates/compile.py,
`settings_cached`): compiled once, rendered over a sequence of settings (repeated, changed in place, values equal
in Python but not in JSON), they give what Jinja gives for each."""

from __future__ import annotations

import datetime as dt
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.templates import compile_url
from engine.templates.compile import compile_template, make_context, reads_only_settings
from engine.templates.environment import TemplateError, make_environment, parse

NOW = dt.datetime(2024, 3, 31, 0, 30, tzinfo=dt.UTC)

TEMPLATES = [
    "{{ settings.a ~ '/' ~ settings.b }}",
    "{{ settings.a | default('x') | string | upper }}x",
    "{{ settings.n * 2 }}",
    "{{ settings.n }}",
    "{{ settings.a if settings.a is absolute_url else 'http://d.test/' }}v1",
    "{{ settings | tojson }}",
    "{{ settings.x is none }}",
    "{{ settings.n is number and settings.n > 1 }}",
    "{{ {'k': settings.a} }}",
    "{{ [settings.a, settings.b] | join(',') }}",
    "{{ settings.a.b.c }}",
    "{{ settings.missing }}",
    "{{ settings.a | url_host or 'none' }}",
    "{{ settings.n / settings.b }}",
    "{{ settings.a | regex_replace('[^a-z]', '-') }}",
    "{{ settings.a | regex_split('/') if settings.a is search('^h') else settings.a | js_string }}",
    "{{ settings.a | js_or(settings.b) | tojson }}",
    "{{ settings.a | js_date_ms if settings.a is truthy else 0 }}",
]
URLS = [
    "https://events.test/api?token={{ settings.a }}.{{ settings.b }}",
    "{{ settings.a if settings.a is absolute_url else 'https://d.test/' }}v1/identify",
    "https://{{ settings.b }}.x.test/{{ settings.a }}",
]

leaf = st.one_of(
    st.none(), st.booleans(), st.sampled_from([0, 1, 2, 1.0, 2.0, -0.0, 0.0, float("nan"), float("inf"), 2**70]),
    st.sampled_from(["", "k", "https://Example.com:8080/p", "a b", "x/y", "\ud800"]),
)
value = st.recursive(leaf, lambda c: st.lists(c, max_size=2) | st.dictionaries(st.sampled_from(["a", "b", "c"]), c,
                                                                                   max_size=2), max_leaves=4)
settings_dicts = st.dictionaries(st.sampled_from(["a", "b", "n", "x"]), value, max_size=4)


def _outcome(render: Any, ctx: dict[str, Any]) -> tuple[Any, ...]:
    try:
        result = render(ctx)
    except TemplateError as exc:
        return ("error", type(exc).__name__, exc.message)
    except Exception as exc:  # noqa: BLE001 - the same unexpected error on both sides counts as the same
        return ("raised", type(exc).__name__, str(exc))
    return ("ok", repr(result), type(result))


def test_which_templates_read_only_settings() -> None:
    env = make_environment()
    for text in TEMPLATES + URLS:
        assert reads_only_settings(env, parse(env, text)), text
    for text in ["{{ settings.a ~ payload.b }}", "{{ now.hour }}", "{{ settings.a ~ (10 | random_digits) }}",
                 "{{ settings.tz | tz_offset }}", "{{ settings.tz | tz_short_name }}", "{{ uuid4() }}", "{{ settings.a ~ steps.x }}", "plain text",
                 "{% for x in settings.a %}{{ x }}{% endfor %}", "{{ settings.a.upper() }}", "{{ fail('x') }}",
                 "{{ settings.a | attr('b') }}", "{{ settings.a | random }}", "{{ range(3) | list }}"]:
        assert not reads_only_settings(env, parse(env, text)), text


_COMPILED: list[tuple[str, Any, Any]] = []


def _compiled() -> list[tuple[str, Any, Any]]:
    """Compiled once, as a spec is: the cache lives across the renders of one test example and of the next."""
    if not _COMPILED:
        _COMPILED.extend((t, compile_template(t), compile_template(t, fast=False)) for t in TEMPLATES)
        _COMPILED.extend((t, compile_url(t), compile_url(t, fast=False)) for t in URLS)
    return _COMPILED


@settings(max_examples=150, deadline=None)
@given(sequence=st.lists(settings_dicts, min_size=1, max_size=4), changes=st.lists(st.tuples(st.integers(0, 3),
       st.sampled_from(["a", "b", "n", "x"]), leaf), max_size=3))
def test_cached_renders_match_jinja(sequence: list[dict], changes: list[tuple[int, str, Any]]) -> None:
    contexts = [make_context({}, s, now=NOW) for s in sequence]
    rounds = [contexts, list(reversed(contexts))]
    for text, fast, slow in _compiled():
        for round_ in rounds:
            for ctx in round_:
                assert _outcome(fast, ctx) == _outcome(slow, ctx), (text, ctx["settings"])
        # the same settings objects changed in place are new settings
        for index, key, new in changes:
            target = sequence[index % len(sequence)]
            target[key] = new
            ctx = contexts[index % len(sequence)]
            assert _outcome(fast, ctx) == _outcome(slow, ctx), (text, ctx["settings"])


def test_equal_in_python_is_not_equal_here() -> None:
    fast = compile_template("{{ settings.n ~ 'x' }}")
    assert fast(make_context({}, {"n": 1})) == "1x"
    assert fast(make_context({}, {"n": True})) == "truex"
    assert fast(make_context({}, {"n": 1.5})) == "1.5x"
    assert fast(make_context({}, {"n": 1})) == "1x"
