"""Segment's custom `date-like` format: what `dayjs(value).isValid()` accepts, for real dates.

Segment: a string whose JS `Number(s)` is truthy is a unix timestamp (`dayjs.unix`); otherwise dayjs
parses `YYYY[-/]M[-/]D[ T]h:m:s.ms` itself (month/day overflow rolls over, so "2021-13-45" is valid),
and anything else goes to V8's `new Date(s)`. V8's legacy parser also accepts nonsense such as
"foo 1"; we accept only ISO 8601, RFC 2822 / `Date.prototype.toString` shapes and US `M/D/YYYY`
(see docs/payload-validation.md, "Divergences").
"""

from __future__ import annotations

import math
import re

from engine.payload._jsnum import string_to_number

_MAX_TIME_MS = 8.64e15

# dayjs REGEX_PARSE (applied when the string does not end in Z).
_DAYJS = re.compile(r"(\d{4})[-/]?(\d{1,2})?[-/]?(\d{0,2})[Tt\s]*(\d{1,2})?:?(\d{1,2})?:?(\d{1,2})?[.:]?(\d+)?\Z",
                    re.ASCII)

_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_MONTH = r"(?P<month>jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?"
_WEEKDAY = r"(?:(?:mon|tue|wed|thu|fri|sat|sun)[a-z]*\.?,?\s+)?"
_TIME = r"(?P<hour>\d{1,2}):(?P<minute>\d{2})(?::(?P<second>\d{2})(?:\.\d+)?)?(?:\s*(?P<ampm>am|pm))?"
_ZONE = r"(?:\s*(?:z|ut|utc|gmt|[ecmp][sd]t)?\s*(?P<offset>[+-]\d{2}:?\d{2})?)?(?:\s*\([^()]*\))?"

_ISO = re.compile(
    r"(?P<year>[+-]\d{6}|\d{4})(?:-(?P<month>\d{2})(?:-(?P<day>\d{2}))?)?"
    r"(?:[T\s](?P<hour>\d{2}):(?P<minute>\d{2})(?::(?P<second>\d{2})(?:\.\d+)?)?)?"
    r"\s*(?:z|utc|gmt|(?P<offset>[+-]\d{2}:?\d{2}))?\Z",
    re.IGNORECASE | re.ASCII,
)
_DAY_MONTH_YEAR = re.compile(  # RFC 2822 / toUTCString: "Tue, 01 Nov 2022 10:00:00 GMT"
    rf"{_WEEKDAY}(?P<day>\d{{1,2}})[\s-]+{_MONTH}[\s-]+(?P<year>\d{{2,4}})(?:\s+{_TIME})?{_ZONE}\Z",
    re.IGNORECASE | re.ASCII,
)
_MONTH_DAY_YEAR = re.compile(  # toString / prose: "Tue Nov 01 2022 10:00:00 GMT+0000", "November 1, 2022"
    rf"{_WEEKDAY}{_MONTH}\s+(?P<day>\d{{1,2}})(?:st|nd|rd|th)?,?\s+(?P<year>\d{{4}})(?:,?\s+{_TIME})?{_ZONE}\Z",
    re.IGNORECASE | re.ASCII,
)
_US = re.compile(  # "11/01/2022", "11/1/2022 10:00 PM"
    rf"(?P<month>\d{{1,2}})/(?P<day>\d{{1,2}})/(?P<year>\d{{4}})(?:,?\s+{_TIME})?{_ZONE}\Z",
    re.IGNORECASE | re.ASCII,
)


def _in_range(parts: dict[str, str | None]) -> bool:
    month = parts.get("month")
    if month is not None and not month.isdigit():
        month_number = _MONTHS.index(month[:3].lower()) + 1
    else:
        month_number = int(month) if month else 1
    day = int(parts.get("day") or 1)
    hour = int(parts.get("hour") or 0)
    minute = int(parts.get("minute") or 0)
    second = int(parts.get("second") or 0)
    if parts.get("ampm") and not 1 <= hour <= 12:
        return False
    offset = parts.get("offset")
    if offset:
        digits = offset[1:].replace(":", "")
        if int(digits[:2]) > 23 or int(digits[2:]) > 59:
            return False
    return 1 <= month_number <= 12 and 1 <= day <= 31 and hour <= 24 and minute <= 59 and second <= 59


# The shape analytics.js timestamps have ("2024-02-07T14:39:40.091Z", fields in range): such a string is not a
# JS number, ends in Z and matches `_ISO` with every part inside `_in_range`, so the full check says yes too.
_CANONICAL = re.compile(
    r"\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])T(?:[01]\d|2[0-4]):[0-5]\d:[0-5]\d(?:\.\d+)?Z\Z", re.ASCII
)


def is_date_like(value: str) -> bool:
    """True when Segment's `date-like` format accepts `value` (within our documented subset)."""
    return _CANONICAL.match(value) is not None or is_date_like_general(value)


def is_date_like_general(value: str) -> bool:
    """`is_date_like` without the shortcut for canonical ISO timestamps (the reference it must agree with)."""
    number = string_to_number(value)
    if number and not math.isnan(number):
        return math.isfinite(number) and abs(number * 1000) <= _MAX_TIME_MS
    if not value.endswith(("Z", "z")) and _DAYJS.match(value):
        return True
    text = value.strip()
    for pattern in (_ISO, _DAY_MONTH_YEAR, _MONTH_DAY_YEAR, _US):
        match = pattern.match(text)
        if match:
            return _in_range(match.groupdict())
    return False
