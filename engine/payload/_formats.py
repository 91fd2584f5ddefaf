"""String formats Segment's ajv knows (ajv-formats "full" plus Segment's `text` and `date-like`).

One predicate per format name; the validator looks them up once, at compile time.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from typing import Any

from engine.payload._dates import is_date_like

_DAYS = (0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})\Z", re.ASCII)
_TIME = re.compile(r"(\d{2}):(\d{2}):(\d{2}(?:\.\d+)?)(z|([+-])(\d{2})(?::?(\d{2}))?)?\Z", re.ASCII | re.I)
_ATOM = r"[a-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_EMAIL = re.compile(rf"{_ATOM}(?:\.{_ATOM})*@(?:{_LABEL}\.)+{_LABEL}\Z", re.ASCII | re.I)
_HOSTNAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*\.?\Z", re.ASCII | re.I)
_UUID = re.compile(r"(?:urn:uuid:)?[0-9a-f]{8}-(?:[0-9a-f]{4}-){3}[0-9a-f]{12}\Z", re.ASCII | re.I)
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_IPV4 = re.compile(rf"(?:{_OCTET}\.){{3}}{_OCTET}\Z", re.ASCII)
# RFC 3986 character classes
_PCT = r"%[0-9a-f]{2}"
_UNRESERVED_SUB = r"[a-z0-9\-._~!$&'()*+,;=]"
_PCHAR = rf"(?:[a-z0-9\-._~!$&'()*+,;=:@]|{_PCT})"
_QUERY = rf"(?:[a-z0-9\-._~!$&'()*+,;=:@/?]|{_PCT})*"
_AUTHORITY = (
    rf"(?:(?:{_UNRESERVED_SUB}|:|{_PCT})*@)?"
    rf"(?:\[[0-9a-f:.vV]+\]|(?:{_UNRESERVED_SUB}|{_PCT})*)(?::\d*)?"
)
_PATH_AFTER_AUTHORITY = rf"(?:/{_PCHAR}*)*"
_HIER = (
    rf"(?://{_AUTHORITY}{_PATH_AFTER_AUTHORITY}"
    rf"|/(?:{_PCHAR}+(?:/{_PCHAR}*)*)?"
    rf"|{_PCHAR}+(?:/{_PCHAR}*)*"
    r"|)"
)
_URI = re.compile(rf"[a-z][a-z0-9+\-.]*:{_HIER}(?:\?{_QUERY})?(?:#{_QUERY})?\Z", re.ASCII | re.I)
_URI_REFERENCE = re.compile(
    rf"(?:[a-z][a-z0-9+\-.]*:)?{_HIER}(?:\?{_QUERY})?(?:#{_QUERY})?\Z", re.ASCII | re.I
)
_URL = re.compile(r"(?:https?|ftp)://[^\s/$.?#][^\s]*\Z", re.I)
_JSON_POINTER = re.compile(r"(?:/(?:[^~/]|~0|~1)*)*\Z")
_RELATIVE_JSON_POINTER = re.compile(r"(?:0|[1-9]\d*)(?:#|(?:/(?:[^~/]|~0|~1)*)*)\Z")
_BYTE = re.compile(r"(?:[a-z0-9+/]{4})*(?:[a-z0-9+/]{2}==|[a-z0-9+/]{3}=)?\Z", re.I)


def _leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def is_date(text: str) -> bool:
    match = _DATE.match(text)
    if not match:
        return False
    year, month, day = (int(g) for g in match.groups())
    if not 1 <= month <= 12:
        return False
    return 1 <= day <= (29 if month == 2 and _leap(year) else _DAYS[month])


def is_time(text: str) -> bool:
    """ajv-formats 2.1.1 (the version Segment's actions-core resolves to): hours, minutes and whole seconds in
    range, or the leap second 23:59:60 (whatever the zone). The zone is optional, in "date-time" too: that
    version tests `timeZone !== ""` on a group that did not match (undefined), so a missing zone passes."""
    match = _TIME.match(text)
    if not match:
        return False
    hour, minute, second = int(match.group(1)), int(match.group(2)), int(match.group(3)[:2])
    return (hour <= 23 and minute <= 59 and second <= 59) or (hour == 23 and minute == 59 and second == 60)


def is_date_time(text: str) -> bool:
    parts = re.split(r"[tT\s]", text)
    return len(parts) == 2 and is_date(parts[0]) and is_time(parts[1])


def is_uri(text: str) -> bool:
    return ("/" in text or ":" in text) and bool(_URI.match(text))


def is_ipv6(text: str) -> bool:
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


def is_regex(text: str) -> bool:
    if "\\Z" in text:
        return False
    try:
        re.compile(text)
    except (re.error, RecursionError, OverflowError):
        return False
    return True


def _always(_: Any) -> bool:
    return True


def always_valid(predicate: Callable[[Any], bool]) -> bool:
    """True for the formats that accept every value (`text`, `password`, `binary`, `int64`, ...)."""
    return predicate is _always


def _int_range(bits: int) -> Callable[[Any], bool]:
    limit = 2 ** (bits - 1)

    def check(value: Any) -> bool:
        return float(value).is_integer() and -limit <= value < limit

    return check


STRING_FORMATS: dict[str, Callable[[str], bool]] = {
    "date-like": is_date_like,
    "text": _always,
    "password": _always,
    "binary": _always,
    "date": is_date,
    "time": is_time,
    "date-time": is_date_time,
    "email": lambda s: bool(_EMAIL.match(s)),
    "hostname": lambda s: len(s) <= 253 and bool(_HOSTNAME.match(s)),
    "ipv4": lambda s: bool(_IPV4.match(s)),
    "ipv6": is_ipv6,
    "uri": is_uri,
    "uri-reference": lambda s: bool(_URI_REFERENCE.match(s)),
    "url": lambda s: bool(_URL.match(s)),
    "uuid": lambda s: bool(_UUID.match(s)),
    "regex": is_regex,
    "json-pointer": lambda s: bool(_JSON_POINTER.match(s)),
    "relative-json-pointer": lambda s: bool(_RELATIVE_JSON_POINTER.match(s)),
    "byte": lambda s: bool(_BYTE.match(s)),
}
NUMBER_FORMATS: dict[str, Callable[[Any], bool]] = {
    "int32": _int_range(32),
    "int64": _always,
    "float": _always,
    "double": _always,
}
# ajv-human-errors' wording for a failed format; other formats print their own name.
FORMAT_LABELS = {
    "email": "email address",
    "uri": "URI",
    "date-time": "date and time",
    "ipv4": "IPv4 address",
}
