"""Generated expressions: the inline number path of `+ * %` and the per-render sharing of `tz_offset`, each against
Jinja's own rendering of the same template (the reference)."""

from __future__ import annotations

import datetime as dt
import types
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.templates import filters
from engine.templates.compile import compile_template, make_context, single_expression
from engine.templates.environment import (
    _BUDGET,
    Budget,
    TemplateEnvironment,
    TemplateError,
    make_environment,
    parse,
)
from engine.templates.fastexpr import ExprCompiler

NOW = dt.datetime(2024, 3, 31, 0, 30, tzinfo=dt.UTC)


def _outcome(render: Any, ctx: dict[str, Any]) -> tuple[Any, ...]:
    try:
        value = render(ctx)
    except TemplateError as exc:
        return ("error", type(exc).__name__, exc.message, getattr(exc, "path", None))
    except Exception as exc:  # noqa: BLE001 - the same unexpected error on both sides counts as the same
        return ("raised", type(exc).__name__, str(exc))
    return ("ok", hex(value) if type(value) is int else repr(value), type(value))  # hex: ints of any size


def _agree(texts: list[str], ctx: dict[str, Any]) -> None:
    """Each template gives the same outcome generated and through Jinja."""
    for text in texts:
        fast, slow = _both(text)
        assert _outcome(fast, ctx) == _outcome(slow, ctx), text


def _budgeted(text: str, ctx: dict[str, Any], steps_left: int) -> list[tuple[Any, int]]:
    """(outcome, budget steps left after it) of the generated and the Jinja render, each under `steps_left` steps."""
    outcomes: list[tuple[Any, int]] = []
    for render in _both(text):
        token = _BUDGET.set(Budget(steps_left))
        try:
            outcomes.append((_outcome(render, ctx), _BUDGET.get().left))  # type: ignore[union-attr]
        finally:
            _BUDGET.reset(token)
    return outcomes


_COMPILED: dict[str, tuple[Any, Any]] = {}


def _both(text: str) -> tuple[Any, Any]:
    if text not in _COMPILED:
        _COMPILED[text] = (compile_template(text), compile_template(text, fast=False))
    return _COMPILED[text]


def _source(text: str, env: TemplateEnvironment | None = None) -> str:
    env = env or make_environment()
    expr = single_expression(parse(env, text))
    assert expr is not None
    return ExprCompiler(env).compile(expr).source  # type: ignore[attr-defined, no-any-return]


# -- arithmetic: `+ * %` of two plain numbers is the operator itself, anything else goes through the sandbox --

ARITHMETIC = [
    "{{ payload.a + payload.b }}",
    "{{ payload.a * payload.b }}",
    "{{ payload.a % payload.b }}",
    "{{ payload.a * 60 + payload.b }}",
    "{{ 2.5 % payload.b }}",
    "{{ 7 + payload.a }}",
    "{{ (payload.a * 60 + payload.b + payload.a) % 1440 < 60 }}",
    "{{ (payload.a * payload.b) % (payload.b + 1) ~ '|' ~ (payload.a - payload.b) ~ '|' ~ payload.a // payload.b }}",
    "{{ payload.a ** payload.b if payload.b is number and payload.b < 40 else payload.a / payload.b }}",
    "{{ [payload.a + payload.b, payload.a + payload.b] }}",
    "{{ payload.zz + payload.a }}",
    "{{ payload.a * payload.zz }}",
    "{{ payload.a + payload.b if payload.a is number else -payload.a }}",
    "{{ 1 % 0 }}",
]

number = st.one_of(
    st.integers(-5, 5), st.integers(), st.sampled_from([0, 1, -1, 10**30, -(2**70), 2**63, 0.0, -0.0, 1e308]),
    st.floats(), st.floats(allow_nan=False, allow_infinity=False, min_value=-1e6, max_value=1e6),
)
operand = st.one_of(
    number, st.booleans(), st.none(), st.text(max_size=3), st.sampled_from(["%s", "%d%%", "x" * 50, "%(a)s"]),
    st.lists(st.integers(0, 3), max_size=3), st.tuples(st.integers(0, 3)), st.just({"a": 1}),
)


@settings(max_examples=400, deadline=None)
@given(a=operand, b=operand)
def test_arithmetic_matches_jinja(a: Any, b: Any) -> None:
    ctx = make_context({"a": a, "b": b}, {}, {}, now=NOW)
    _agree(ARITHMETIC, ctx)


@settings(max_examples=200, deadline=None)
@given(a=number, b=number)
def test_arithmetic_of_numbers_matches_jinja(a: Any, b: Any) -> None:
    """Numbers only (each takes the inline path): same values, same int/float, same errors (zero divisors)."""
    ctx = make_context({"a": a, "b": b}, {}, {}, now=NOW)
    _agree(ARITHMETIC, ctx)


@pytest.mark.parametrize(("a", "b"), [(10**4000, 10**4000), (5, 0), (5.0, 0), (0, 0.0), (True, 2), (2, False),
                                      ("ab", 10**7), ("%s", 1), ([1], 10**7), (1e308, 10.0), (-7, 3), (7, -3.5)],
                         ids=lambda v: repr(v)[:12])
def test_arithmetic_edges_match_jinja(a: Any, b: Any) -> None:
    ctx = make_context({"a": a, "b": b}, {}, {}, now=NOW)
    _agree(ARITHMETIC, ctx)


def test_arithmetic_inline_path_is_generated() -> None:
    source = _source("{{ (now.hour * 60 + now.minute + payload.t) % 1440 }}")
    assert source.count("in _number") == 6  # two sides of each `+`, one side of `* 60` and of `% 1440`
    assert source.count("_call_binop(None, ") == 4  # and the sandbox for every other operand
    assert "in _number" not in _source("{{ payload.a ** 2 }}")  # the sandbox limits ints' powers

    class Changed(TemplateEnvironment):  # an environment of its own choice of binop: always the sandbox's call
        def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
            return super().call_binop(context, operator, left, right)

    assert "in _number" not in _source("{{ payload.a + payload.b }}", Changed())


# -- tz_offset: one clock reading per render, shared by every repeat over the same argument --

TZ = [
    "{{ {'local_tz_offset': none if (now.hour * 60 + now.minute + (payload.z | tz_offset)) % 1440 < 60"
    " else -(payload.z | tz_offset)} if (payload.z | tz_offset) is defined"
    " else fail('Invalid time zone specified: ' ~ payload.z) if payload.z else {} }}",
    "{{ [payload.z | tz_offset, payload.z | tz_offset, (payload.z | tz_offset) is defined, payload.y | tz_offset] }}",
    "{{ (payload.z | tz_offset(payload.at)) ~ '/' ~ (payload.z | tz_offset(payload.at)) ~ '/' ~ (payload.z | tz_offset) }}",
    "{{ -(payload.z | tz_offset) if (payload.z | tz_offset) is number else 'none' }}",
]
ZONES = ["UTC", "Europe/Paris", "America/St_Johns", "Asia/Kathmandu", "Etc/GMT+5", "Mars/Base", "", "../etc/passwd",
         "Europe/Paris\x00", "europe/paris", "Australia/Lord_Howe"]
zone = st.one_of(st.sampled_from(ZONES), st.none(), st.integers(-3, 3), st.floats(allow_nan=False), st.text(max_size=4),
                 st.booleans(), st.just(["UTC"]))
# moments around daylight-saving changes (Paris, St John's, Lord Howe's half hour) and plain ones
MOMENTS = [dt.datetime(2024, 3, 31, 0, 59, 59, 999999, tzinfo=dt.UTC), dt.datetime(2024, 3, 31, 1, 0, tzinfo=dt.UTC),
           dt.datetime(2024, 10, 27, 0, 59, 59, tzinfo=dt.UTC), dt.datetime(2024, 4, 6, 15, 0, tzinfo=dt.UTC),
           dt.datetime(2024, 3, 10, 5, 29, tzinfo=dt.UTC), dt.datetime(2025, 1, 1, tzinfo=dt.UTC)]


class _AnyDatetime(type):
    def __instancecheck__(cls, obj: Any) -> bool:  # `isinstance(x, dt.datetime)` in the filters stays as it was
        return isinstance(obj, dt.datetime)


def _clock(moments: list[dt.datetime], reads: list[dt.datetime]) -> types.SimpleNamespace:
    """`filters.dt` whose `datetime.now` gives the next of `moments` (the last one again when they run out)
    and notes each reading."""

    class Clock(dt.datetime, metaclass=_AnyDatetime):
        @classmethod
        def now(cls, tz: dt.tzinfo | None = None) -> dt.datetime:  # type: ignore[override]
            moment = moments[min(len(reads), len(moments) - 1)]
            reads.append(moment)
            return moment if tz is None else moment.astimezone(tz)

    return types.SimpleNamespace(**{**vars(dt), "datetime": Clock})


@settings(max_examples=300, deadline=None)
@given(z=zone, y=zone, at=st.one_of(st.none(), st.sampled_from(MOMENTS), st.sampled_from(["2024-07-01T00:00:00Z", "x"])),
       moment=st.sampled_from(MOMENTS), hour=st.integers(0, 23))
def test_tz_offset_matches_jinja(z: Any, y: Any, at: Any, moment: dt.datetime, hour: int) -> None:
    """With a clock that stands still, the shared value is Jinja's (unknown zones, non-strings: UNDEFINED;
    the fail branch's message)."""
    ctx = make_context({"z": z, "y": y, "at": at}, {}, {}, now=NOW.replace(hour=hour))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(filters, "dt", _clock([moment], []))
        _agree(TZ, ctx)


@pytest.mark.parametrize(("text", "jinja_reads", "reads"), list(zip(TZ, [3, 4, 1, 2], [1, 2, 1, 1], strict=True)))
def test_tz_offset_reads_the_clock_once_per_render(text: str, jinja_reads: int, reads: int) -> None:
    """Jinja reads the clock for every `| tz_offset` without `at`; the generated code once per argument and
    render (`payload.y` is another argument), and the next render reads it afresh (nothing is kept)."""
    ctx = make_context({"z": "Europe/Paris", "y": "Europe/Paris", "at": "2024-07-01T00:00:00Z"}, {}, {}, now=NOW)
    fast, slow = _both(text)
    with pytest.MonkeyPatch.context() as mp:
        seen: list[dt.datetime] = []
        mp.setattr(filters, "dt", _clock(MOMENTS[:2], seen))
        slow(ctx)
        assert len(seen) == jinja_reads
        seen.clear()
        fast(ctx)
        assert len(seen) == reads
        fast(ctx)
        assert len(seen) == 2 * reads


def test_tz_offset_shared_value_is_the_first_reading() -> None:
    """Across a DST change between two readings, every repeat gives the first reading's offset (Jinja's second
    repeat would see the new one)."""
    ctx = make_context({"z": "Europe/Paris"}, {}, {}, now=NOW)
    fast, slow = _both("{{ [payload.z | tz_offset, payload.z | tz_offset] }}")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(filters, "dt", _clock(MOMENTS[:2], []))
        assert fast(ctx) == [60, 60]
        mp.setattr(filters, "dt", _clock(MOMENTS[:2], []))
        assert slow(ctx) == [60, 120]


@pytest.mark.parametrize("steps_left", range(4))
@pytest.mark.parametrize("text", TZ)
def test_tz_offset_spends_the_budget_as_jinja(text: str, steps_left: int) -> None:
    ctx = make_context({"z": "Asia/Kathmandu", "y": None, "at": None}, {}, {}, now=NOW)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(filters, "dt", _clock([MOMENTS[0]], []))
        generated, jinja = _budgeted(text, ctx, steps_left)
    assert generated == jinja


# -- `a ~ b` of str and JS-safe int parts, and `x | int` of an int: inline, else the general call --

CONCAT = [
    "{{ payload.a ~ payload.b }}",
    "{{ payload.a ~ 'x' ~ payload.b ~ 7 ~ -(10 ** 21 - 1) }}",
    "{{ (payload.a | int) ~ 'x' ~ (payload.b | int) }}",
    "{{ [payload.a ~ payload.b, payload.a ~ payload.b, payload.b ~ '{}%s{0}'] }}",
    "{{ 'a' ~ payload.a ~ 10 ** 21 ~ payload.zz }}",
    "{{ [payload.a | int, payload.a | int(7), payload.b | int(base=16), payload.b | int(3, 2), payload.zz | int] }}",
]
part = st.one_of(
    st.text(max_size=4), st.integers(), st.sampled_from([10**21, 10**21 - 1, -(10**21), -(10**21) + 1, 2**80, 0]),
    st.floats(), st.booleans(), st.none(), st.lists(st.integers(0, 3), max_size=2), st.just({"k": 1}),
    st.sampled_from(["0x1f", "12", " 7 ", "1e3", "-3.9", "{x}", "%s"]),
)


@settings(max_examples=400, deadline=None)
@given(a=part, b=part)
def test_concat_and_int_match_jinja(a: Any, b: Any) -> None:
    ctx = make_context({"a": a, "b": b}, {}, {}, now=NOW)
    _agree(CONCAT, ctx)


@pytest.mark.parametrize(("a", "b"), [("x" * 600_000, "y" * 400_000), ("x" * 600_000, "y" * 400_001),
                                      ("x" * 999_999, 5), (10**4000, "a")], ids=["at", "over", "int", "huge"])
def test_concat_output_bound_matches_jinja(a: Any, b: Any) -> None:
    ctx = make_context({"a": a, "b": b}, {}, {}, now=NOW)
    _agree([*CONCAT[:2], "{{ (payload.a ~ payload.b) | length }}"], ctx)  # the text itself, or only its length


@pytest.mark.parametrize("steps_left", range(5))
@pytest.mark.parametrize("text", CONCAT)
@pytest.mark.parametrize("values", [("a", 1), (1.5, None), (3, "b")])
def test_concat_spends_the_budget_as_jinja(text: str, steps_left: int, values: tuple[Any, Any]) -> None:
    ctx = make_context(dict(zip("ab", values, strict=True)), {}, {}, now=NOW)
    generated, jinja = _budgeted(text, ctx, steps_left)
    assert generated == jinja


def test_concat_and_int_inline_paths_are_generated() -> None:
    source = _source(CONCAT[2])
    assert source.count(" is _int else _f") == 2 and "f'{" in source and ":= type(" in source
    assert source.count(":= type(") == 2  # the literal 'x' needs no test
    assert " is _int else" not in _source("{{ payload.a | int(payload.b) }}")  # an argument that is not a literal


# -- `now.hour`: a datetime's own fields are read directly, anything else through the getattr helper --

NOW_FIELDS = [
    "{{ now.hour * 60 + now.minute }}",
    "{{ {'h': now.hour, 'z': now.tzinfo, 'y': now.year, 's': now.second, 'u': now.microsecond, 'f': now.fold} }}",
    "{{ [now.day, now.month, now.day, now.hour is defined, now.isoformat() if now.year else none] }}",
]


class _Moment(dt.datetime):  # a subclass: not the exact type, so the general lookup answers
    pass


@pytest.mark.parametrize("now", [NOW, NOW.replace(tzinfo=None), _Moment(2024, 1, 2, 3, 4, 5), dt.date(2024, 1, 2),
                                 {"hour": 3, "minute": None}, {"year": 1}, None, "12:00", 5, [1]],
                         ids=["utc", "naive", "subclass", "date", "dict", "partial", "none", "text", "int", "list"])
def test_datetime_fields_match_jinja(now: Any) -> None:
    ctx = {**make_context({}, {}, {}), "now": now}
    _agree(NOW_FIELDS, ctx)
    assert ".hour if type(" in _source(NOW_FIELDS[0])


@pytest.mark.parametrize("text", ["{{ 'Europe/Paris' | tz_offset }}", "{{ ['Europe/Paris' | tz_offset] }}"])
def test_a_constant_zone_is_read_at_render_time_not_when_the_spec_loads(text: str) -> None:
    """Jinja folds a filter over constants when it compiles; the clock-reading tz_offset must not be folded, or a
    spec loaded in winter would send winter offsets all summer."""
    ctx = make_context({}, {}, {}, now=NOW)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(filters, "dt", _clock([dt.datetime(2024, 1, 15, tzinfo=dt.UTC)], []))
        fast, slow = _both(text)  # compiled in winter
        winter = [_outcome(fast, ctx), _outcome(slow, ctx)]
        mp.setattr(filters, "dt", _clock([dt.datetime(2024, 7, 15, tzinfo=dt.UTC)], []))
        summer = [_outcome(fast, ctx), _outcome(slow, ctx)]
    assert winter[0] == winter[1] and summer[0] == summer[1]
    assert winter[0] != summer[0]
