"""JavaScript helpers for specs that copy Segment's code: truthiness, `String(x)`, `new Date(x)`, time zones.

* `truthy` (test) and `js_or` (filter): JavaScript's truthiness and `a || b`, where `{}` and `[]` are true
  (Jinja's `or` follows Python, where they are false).
* `js_string`: `String(x)` of any value (`undefined`, `null`, `1,2`, `[object Object]`, a Date's `toString()`).
* `js_date` / `js_date_ms`: what V8's `new Date(x)` makes of a value. Strings go through a port of V8's date
  parser (src/date/dateparser): first the ISO forms (`2024-01-15`, `2024-01-15T10:00:00.000+01:00`; a date
  alone is UTC), then the legacy forms browsers accept (`Mon, 15 Jan 2024 10:00:00 +0100`, `Jan 15 2024 10:00
  PM EST`, `1/15/2024`, what `Date.prototype.toString()` prints), with the day rolled over as `Date` does
  (`2024-02-30` is March 1st). Times without an offset are taken as UTC: the engine has no local time zone
  (V8 with `TZ=UTC` gives the same answers). Numbers are milliseconds since 1970.
* `tz_name` / `tz_short_name`: a zone name in any case resolved to its IANA name, and the short name a zone
  has at a moment (`EST`, `EDT`, `GMT+1`) from the CLDR data of Babel, as `Intl.DateTimeFormat('en-US',
  {timeZoneName: 'short'})` prints it.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import zoneinfo
from collections.abc import Callable
from typing import Any

import jinja2

from engine.jsvalues import UNDEFINED, js_string, truthy
from engine.templates.environment import is_undefined

# -- truthiness and String() -----------------------------------------------------------------------


def _plain(value: Any) -> Any:
    return UNDEFINED if is_undefined(value) else value


def truthy_test(value: Any) -> bool:
    """`x is truthy`: JavaScript's `!!x` (undefined, null, false, 0, NaN and "" are false; `{}` and `[]` true)."""
    return truthy(_plain(value))


def js_or(value: Any, *others: Any) -> Any:
    """JavaScript's `value || a || b`: the first JS-truthy value, else the last one."""
    for item in (value, *others):
        if truthy(_plain(item)):
            return item
    return (value, *others)[-1]


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def date_to_string(moment: dt.datetime) -> str:
    """`Date.prototype.toString()` in UTC: `Mon Jan 15 2024 08:00:00 GMT+0000 (Coordinated Universal Time)`."""
    moment = (moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)).astimezone(dt.UTC)
    return (f"{_DAYS[moment.weekday()]} {_MONTHS[moment.month - 1]} {moment.day:02d} {moment.year:04d} "
            f"{moment:%H:%M:%S} GMT+0000 (Coordinated Universal Time)")


def js_string_filter(value: Any) -> str:
    """JavaScript's `String(value)`: "undefined", "null", "true", JS number text, arrays joined with ",",
    "[object Object]" for objects, a Date's `toString()`."""
    if isinstance(value, dt.datetime):
        return date_to_string(value)
    if isinstance(value, (list, tuple)):
        return ",".join("" if v is None or is_undefined(v) else js_string_filter(v) for v in value)
    return js_string(_plain(value))


# -- new Date(x) -----------------------------------------------------------------------------------

MAX_TIME_MS = 8.64e15
"""JavaScript's Date range: +-100,000,000 days from 1970."""
_NONE = None

_KEYWORDS: dict[str, tuple[str, int]] = {
    **{m.lower(): ("month", i + 1) for i, m in enumerate(_MONTHS)},
    "am": ("ampm", 0), "pm": ("ampm", 12),
    "ut": ("zone", 0), "utc": ("zone", 0), "z": ("zone", 0), "gmt": ("zone", 0),
    "cdt": ("zone", -5), "cst": ("zone", -6), "edt": ("zone", -4), "est": ("zone", -5),
    "mdt": ("zone", -6), "mst": ("zone", -7), "pdt": ("zone", -7), "pst": ("zone", -8),
    "t": ("sep", 0),
}


class _Token:
    __slots__ = ("kind", "value", "length", "word")

    def __init__(self, kind: str, value: Any = None, length: int = 0, word: str = ""):
        self.kind = kind  # number, symbol, keyword, space, unknown, end, invalid
        self.value = value
        self.length = length
        self.word = word

    def is_number(self, length: int | None = None) -> bool:
        return self.kind == "number" and (length is None or self.length == length)

    def is_symbol(self, ch: str) -> bool:
        return self.kind == "symbol" and self.value == ch

    def is_sign(self) -> bool:
        return self.kind == "symbol" and self.value in "+-"

    def keyword(self) -> str | None:
        return self.word if self.kind == "keyword" else None

    def is_z(self) -> bool:
        return self.kind == "keyword" and self.word == "z" and self.length == 1


def _is_space(ch: str) -> bool:
    return ch.isspace() or ch == "\ufeff"


def _tokens(text: str) -> list[_Token]:
    """V8's DateStringTokenizer over the whole text."""
    out: list[_Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if "0" <= ch <= "9":
            start = i
            while i < n and text[i] == "0":
                i += 1
            value = digits = 0
            while i < n and "0" <= text[i] <= "9":
                if digits < 9:
                    value = value * 10 + ord(text[i]) - 48
                digits += 1
                i += 1
            out.append(_Token("number", value, i - start))
        elif ch in ":-+.)":
            out.append(_Token("symbol", ch))
            i += 1
        elif ch >= "A" and not _is_space(ch):
            start = i
            while i < n and text[i] >= "A" and not _is_space(text[i]):
                i += 1
            word = text[start:i]
            prefix = "".join(c.lower() if c.isascii() else c for c in word[:3])
            found = _KEYWORDS.get(prefix)
            if found is not None and (len(word) <= 3 or found[0] == "month"):
                out.append(_Token("keyword", found, len(word), prefix))
            else:
                out.append(_Token("word", None, len(word), prefix))
        elif _is_space(ch):
            out.append(_Token("space"))
            i += 1
        elif ch == "(":
            balance = 0
            while True:
                if text[i] == ")":
                    balance -= 1
                elif text[i] == "(":
                    balance += 1
                i += 1
                if balance <= 0 or i >= n:
                    break
            out.append(_Token("unknown"))
        else:
            out.append(_Token("unknown"))
            i += 1
    return out


class _Scanner:
    def __init__(self, text: str):
        self.tokens = _tokens(text)
        self.pos = 0

    def peek(self) -> _Token:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else _END

    def next(self) -> _Token:
        token = self.peek()
        self.pos += 1
        return token

    def skip_symbol(self, ch: str) -> bool:
        if self.peek().is_symbol(ch):
            self.pos += 1
            return True
        return False


_END = _Token("end")
_INVALID = _Token("invalid")


class _Day:
    def __init__(self) -> None:
        self.comp: list[int] = []
        self.named_month: int | None = None
        self.iso = False

    def add(self, n: int) -> bool:
        if len(self.comp) >= 3:
            return False
        self.comp.append(n)
        return True

    def write(self) -> tuple[int, int, int] | None:
        if not self.comp:
            return None
        comp = self.comp + [1] * (3 - len(self.comp))
        year = 0
        if self.named_month is None:
            if self.iso or not 1 <= comp[0] <= 31:
                year, month, day = comp
            else:
                month, day, year = comp
        else:
            month = self.named_month
            if not 1 <= comp[0] <= 31:
                year, day = comp[0], comp[1]
            else:
                day, year = comp[0], comp[1]
        if not self.iso:
            if 0 <= year <= 49:
                year += 2000
            elif 50 <= year <= 99:
                year += 1900
        if not (1 <= month <= 12 and 1 <= day <= 31) or abs(year) >= 2**30:
            return None
        return year, month - 1, day


class _Time:
    def __init__(self) -> None:
        self.comp: list[int] = []
        self.hour_offset: int | None = None

    def empty(self) -> bool:
        return not self.comp

    def add(self, n: int) -> bool:
        if len(self.comp) >= 4:
            return False
        self.comp.append(n)
        return True

    def add_final(self, n: int) -> bool:
        if not self.add(n):
            return False
        self.comp += [0] * (4 - len(self.comp))
        return True

    def expecting(self, n: int) -> bool:
        size = len(self.comp)
        return (size == 1 and 0 <= n <= 59) or (size == 2 and 0 <= n <= 59) or (size == 3 and 0 <= n <= 999)

    def write(self) -> tuple[int, int, int, int] | None:
        hour, minute, second, ms = self.comp + [0] * (4 - len(self.comp))
        if self.hour_offset is not None:
            if not 0 <= hour <= 12:
                return None
            hour = hour % 12 + self.hour_offset
        if not (0 <= hour <= 23 and 0 <= minute <= 59 and 0 <= second <= 59 and 0 <= ms <= 999):
            if (hour, minute, second, ms) != (24, 0, 0, 0):
                return None
        return hour, minute, second, ms


class _Zone:
    def __init__(self) -> None:
        self.sign: int | None = None
        self.hour: int | None = None
        self.minute: int | None = None

    def set(self, hours: int) -> None:
        self.sign = -1 if hours < 0 else 1
        self.hour = abs(hours)
        self.minute = 0

    def expecting(self, n: int) -> bool:
        return self.hour is not None and self.minute is None and 0 <= n <= 59

    def is_utc(self) -> bool:
        return self.hour == 0 and self.minute == 0

    def empty(self) -> bool:
        return self.hour is None

    def write(self) -> float | None:
        """The offset in seconds (nan: local time, here UTC); None when it is out of range."""
        if self.sign is None:
            return math.nan
        seconds = (self.hour or 0) * 3600 + (self.minute or 0) * 60
        if seconds > 2**30 - 1:
            return None
        return float(-seconds if self.sign < 0 else seconds)


def _milliseconds(token: _Token) -> int:
    number, length = token.value, token.length
    if length == 1:
        return number * 100
    if length == 2:
        return number * 10
    if length > 3:
        length = min(length, 9)
        factor = 10 ** (length - 3)
        return number // factor
    return number


def _es5(scanner: _Scanner, day: _Day, time: _Time, zone: _Zone) -> _Token:
    """V8's ParseES5DateTime: the ISO forms; the token it stopped at for the legacy parser to go on with."""
    peek = scanner.peek()
    if peek.is_sign():
        sign_token = scanner.next()
        if not scanner.peek().is_number(6):
            return sign_token
        year = scanner.next().value
        if sign_token.value == "-" and year == 0:
            return sign_token
        day.add(-year if sign_token.value == "-" else year)
    elif peek.is_number(4):
        day.add(scanner.next().value)
    else:
        return scanner.next()
    if scanner.skip_symbol("-"):
        if not scanner.peek().is_number(2) or not 1 <= scanner.peek().value <= 12:
            return scanner.next()
        day.add(scanner.next().value)
        if scanner.skip_symbol("-"):
            if not scanner.peek().is_number(2) or not 1 <= scanner.peek().value <= 31:
                return scanner.next()
            day.add(scanner.next().value)
    if scanner.peek().keyword() != "t":
        if scanner.peek().kind != "end":
            return scanner.next()
    else:
        scanner.next()
        if not scanner.peek().is_number(2) or not 0 <= scanner.peek().value <= 24:
            return _INVALID
        hour_24 = scanner.peek().value == 24
        time.add(scanner.next().value)
        if not scanner.skip_symbol(":"):
            return _INVALID
        if not scanner.peek().is_number(2) or not 0 <= scanner.peek().value <= 59 or (hour_24 and scanner.peek().value > 0):
            return _INVALID
        time.add(scanner.next().value)
        if scanner.skip_symbol(":"):
            if not scanner.peek().is_number(2) or not 0 <= scanner.peek().value <= 59 or (hour_24 and scanner.peek().value > 0):
                return _INVALID
            time.add(scanner.next().value)
            if scanner.skip_symbol("."):
                if not scanner.peek().is_number() or (hour_24 and scanner.peek().value > 0):
                    return _INVALID
                time.add(_milliseconds(scanner.next()))
        if scanner.peek().is_z():
            scanner.next()
            zone.set(0)
        elif scanner.peek().is_sign():
            zone.sign = 1 if scanner.next().value == "+" else -1
            if scanner.peek().is_number(4):
                hourmin = scanner.next().value
                hour, minute = divmod(hourmin, 100)
                if not (0 <= hour <= 23 and 0 <= minute <= 59):
                    return _INVALID
                zone.hour, zone.minute = hour, minute
            else:
                if not scanner.peek().is_number(2) or not 0 <= scanner.peek().value <= 23:
                    return _INVALID
                zone.hour = scanner.next().value
                if not scanner.skip_symbol(":"):
                    return _INVALID
                if not scanner.peek().is_number(2) or not 0 <= scanner.peek().value <= 59:
                    return _INVALID
                zone.minute = scanner.next().value
        if scanner.peek().kind != "end":
            return _INVALID
    if zone.empty() and time.empty():
        zone.set(0)
    day.iso = True
    return _END


def _parse_fields(text: str) -> tuple[tuple[int, int, int], tuple[int, int, int, int], float] | None:
    """V8's DateParser::Parse: (year, month0, day), (h, m, s, ms), offset seconds (nan: local) or None."""
    scanner = _Scanner(text)
    day, time, zone = _Day(), _Time(), _Zone()
    token = _es5(scanner, day, time, zone)
    if token is _INVALID:
        return None
    has_number = bool(day.comp)
    while token.kind != "end":
        if token.kind == "number":
            has_number = True
            n = token.value
            if scanner.skip_symbol(":"):
                if scanner.skip_symbol(":"):
                    if not time.empty():
                        return None
                    time.add(n)
                    time.add(0)
                else:
                    if not time.add(n):
                        return None
                    if scanner.peek().is_symbol("."):
                        scanner.next()
            elif scanner.skip_symbol(".") and time.expecting(n):
                time.add(n)
                if not scanner.peek().is_number():
                    return None
                time.add_final(_milliseconds(scanner.next()))
            elif zone.expecting(n):
                zone.minute = n
            elif time.expecting(n):
                time.add_final(n)
                peek = scanner.peek()
                if peek.kind not in ("end", "space") and not peek.is_z() and not peek.is_sign():
                    return None
            else:
                if not day.add(n):
                    return None
                scanner.skip_symbol("-")
        elif token.kind == "keyword":
            kind, value = token.value
            if kind == "ampm" and not time.empty():
                time.hour_offset = value
            elif kind == "month":
                day.named_month = value
                scanner.skip_symbol("-")
            elif kind == "zone" and has_number:
                zone.set(value)
            else:
                if has_number or scanner.peek().is_number():
                    return None
        elif token.kind == "word":
            if has_number or scanner.peek().is_number():
                return None
        elif token.is_sign() and (zone.is_utc() or not time.empty()):
            zone.sign = 1 if token.value == "+" else -1
            n = length = 0
            if scanner.peek().is_number():
                number = scanner.next()
                n, length = number.value, number.length
            has_number = True
            if scanner.peek().is_symbol(":"):
                zone.hour, zone.minute = n, None
            elif length in (1, 2):
                zone.hour, zone.minute = n, 0
            elif length in (3, 4):
                zone.hour, zone.minute = n // 100, n % 100
            else:
                return None
        elif (token.is_sign() or token.is_symbol(")")) and has_number:
            return None
        token = scanner.next()
    ymd = day.write()
    hms = time.write()
    offset = zone.write()
    if ymd is None or hms is None or offset is None:
        return None
    return ymd, hms, offset


def _days_from_civil(year: int, month0: int, day: int) -> int:
    """ECMAScript MakeDay: days from 1970-01-01 of the `day`-th day of month `month0` (0-based) of `year`."""
    year += month0 // 12
    month = month0 % 12 + 1
    y = year - (month <= 2)
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468 + day - 1


MAX_DATE_TEXT = 1000
"""Longest text `js_date` parses (longer text is an invalid date)."""


def parse_date_ms(text: str) -> float | None:
    """Milliseconds since 1970 of what V8's `Date.parse(text)` gives with `TZ=UTC`; None for an invalid date."""
    if len(text) > MAX_DATE_TEXT:
        return None
    fields = _parse_fields(text)
    if fields is None:
        return None
    (year, month0, day), (hour, minute, second, ms), offset = fields
    value = _days_from_civil(year, month0, day) * 86_400_000.0 + ((hour * 60 + minute) * 60 + second) * 1000 + ms
    if not math.isnan(offset):
        value -= offset * 1000
    return _time_clip(value)


def _time_clip(value: float) -> float | None:
    if not math.isfinite(value) or abs(value) > MAX_TIME_MS:
        return None
    return float(math.trunc(value)) + 0.0


def date_ms(value: Any) -> float | None:
    """`new Date(value).getTime()` (None for an invalid date): numbers are milliseconds, strings are parsed,
    datetimes kept, null is 0, booleans 0 or 1, arrays their `String()`; undefined and objects are invalid."""
    if isinstance(value, dt.datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        delta = moment - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
        return float(delta // dt.timedelta(milliseconds=1))
    if value is None:
        return 0.0
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return _time_clip(float(value))
    if isinstance(value, str):
        return parse_date_ms(value)
    if isinstance(value, (list, tuple)):
        return parse_date_ms(js_string_filter(value))
    return None


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def js_date(value: Any) -> Any:
    """`new Date(value)` as a UTC datetime; undefined for an invalid date (or one outside years 1-9999, which
    Python's datetime cannot hold)."""
    ms = date_ms(_plain(value))
    if ms is None:
        return UNDEFINED
    try:
        return _EPOCH + dt.timedelta(milliseconds=ms)
    except OverflowError:
        return UNDEFINED


def js_date_ms(value: Any) -> Any:
    """`new Date(value).getTime()`: milliseconds since 1970 (an integer); undefined for an invalid date."""
    ms = date_ms(_plain(value))
    return UNDEFINED if ms is None else int(ms)


# -- time zones ------------------------------------------------------------------------------------


@functools.cache
def _zone_names() -> dict[str, str]:
    names = {name.lower(): name for name in zoneinfo.available_timezones()}
    names.setdefault("utc", "UTC")
    return names


def zone_name(name: Any) -> str | None:
    """The IANA name of a zone written in any case (`america/new_york` -> `America/New_York`), or None."""
    if not isinstance(name, str) or len(name) > 100:
        return None
    return _zone_names().get(name.strip().lower())


@functools.lru_cache(maxsize=1024)
def zone(name: str) -> zoneinfo.ZoneInfo | None:
    """The zone of a name in any case, or None when there is no such zone."""
    proper = zone_name(name)
    return None if proper is None else zoneinfo.ZoneInfo(proper)


def tz_name(value: Any) -> Any:
    """The IANA name of a zone given in any case; undefined when there is no such zone."""
    proper = zone_name(value)
    return UNDEFINED if proper is None else proper


def _moment(at: Any) -> dt.datetime | None:
    if at is None or is_undefined(at):
        return dt.datetime.now(dt.UTC)
    ms = date_ms(at)
    if ms is None:
        return None
    try:
        return _EPOCH + dt.timedelta(milliseconds=ms)
    except OverflowError:
        return None


def short_zone_name(proper: str, moment: dt.datetime) -> str:
    """What `Intl.DateTimeFormat('en-US', {timeZone, timeZoneName: 'short'})` prints for the zone at that moment:
    CLDR's short name where en-US has one (`EST`, `PDT`, `UTC`, `GMT` for London in winter), else the short GMT
    offset (`GMT+1`, `GMT+5:30`)."""
    from babel import dates

    local = moment.astimezone(zoneinfo.ZoneInfo(proper))
    name = dates.get_timezone_name(local, "short", locale="en_US")
    if name and name[0] not in "+-":
        return name
    offset = local.utcoffset() or dt.timedelta(0)
    minutes = int(offset.total_seconds() // 60)
    if minutes == 0:
        # ICU prints "GMT" for London and Dublin in winter but "GMT+0" for Lisbon, the Canaries, Madeira, the
        # Faroes (winter) and the Azores (summer), a distinction Babel's data does not carry: "GMT" for all
        return "GMT"
    sign = "+" if minutes > 0 else "-"
    hours, rest = divmod(abs(minutes), 60)
    return f"GMT{sign}{hours}" + (f":{rest:02d}" if rest else "")


def tz_short_name(value: Any, at: Any = None) -> Any:
    """The short name of a zone (any case) at `at` (default: the clock; in a template the render's `now`), as
    JavaScript's `Intl` prints it in en-US;
    undefined for an unknown zone or an invalid date."""
    proper = zone_name(value)
    moment = _moment(at)
    if proper is None or moment is None:
        return UNDEFINED
    return short_zone_name(proper, moment)


# without `at` it reads the render's `now`: a filter that takes the context is never folded when the spec loads
@jinja2.pass_context
def _tz_short_name_filter(context: Any, value: Any, at: Any = None) -> Any:
    if at is None or is_undefined(at):
        now = context.get("now")
        at = now if isinstance(now, dt.datetime) else None
    return tz_short_name(value, at)


FILTERS: dict[str, Callable[..., Any]] = {
    "js_or": js_or,
    "js_string": js_string_filter,
    "js_date": js_date,
    "js_date_ms": js_date_ms,
    "tz_name": tz_name,
    "tz_short_name": _tz_short_name_filter,
}

TESTS: dict[str, Callable[..., bool]] = {
    "truthy": truthy_test,
}
