"""Settings of a destination instance: defaults, required values, types, and which are secrets."""

from __future__ import annotations

import datetime as _dt
import ipaddress
import re
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import idna


class SettingsError(ValueError):
    """The settings given for a destination do not fit its spec (message names the setting)."""


_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")
_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")


def _hostname(text: str) -> bool:
    """An RFC 1123 host name (IDNA host names are checked in their ASCII form), at most 253 characters."""
    try:
        ascii_name = idna.encode(text.rstrip("."), uts46=True).decode("ascii") if not text.isascii() else text.rstrip(".")
    except idna.IDNAError:
        return False
    return 0 < len(ascii_name) <= 253 and all(_LABEL.fullmatch(label) for label in ascii_name.split("."))


def _ip(version: int) -> Callable[[str], bool]:
    def check(text: str) -> bool:
        try:
            return ipaddress.ip_address(text).version == version
        except ValueError:
            return False
    return check


def _uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return len(text.replace("-", "")) == 32 and ("-" not in text or len(text) == 36)


def _uri(text: str) -> bool:
    try:
        parts = urlsplit(text)
    except ValueError:
        return False
    return bool(re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*", parts.scheme)) and bool(parts.netloc) and " " not in text


def _date_time(text: str) -> bool:
    """RFC 3339: a date, `T` (or a space), a time and a zone (Z or an offset)."""
    if not re.fullmatch(r"\d{4}-\d\d-\d\d[Tt ]\d\d:\d\d:\d\d(\.\d+)?([Zz]|[+-]\d\d:\d\d)", text):
        return False
    try:
        _dt.datetime.fromisoformat(text.upper().replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


# format -> (check, what the value must be)
FORMATS: dict[str, tuple[Callable[[str], bool], str]] = {
    "email": (lambda t: bool(_EMAIL.fullmatch(t)) and _hostname(t.rsplit("@", 1)[1]), "an email address"),
    "hostname": (_hostname, "a host name"),
    "ipv4": (_ip(4), "an IPv4 address"),
    "ipv6": (_ip(6), "an IPv6 address"),
    "uuid": (_uuid, "a UUID"),
    "uri": (_uri, "a URI with a scheme and a host"),
    "date-time": (_date_time, "an RFC 3339 date-time such as 2024-03-01T12:00:00Z"),
}


def choice_values(spec: dict[str, Any]) -> list[Any]:
    """The allowed values of a setting with `choices` (scalars, or the `value` of {label, value})."""
    return [c.get("value") if isinstance(c, dict) else c for c in spec.get("choices") or []]


def resolve_settings(spec_settings: dict[str, dict[str, Any]], given: dict[str, Any] | None,
                     *, check_required: bool = True) -> dict[str, Any]:
    """Apply defaults, coerce types and check required settings; raise SettingsError listing every problem."""
    given = dict(given or {})
    out: dict[str, Any] = {}
    problems: list[str] = []
    for key in given:
        if key not in spec_settings:
            known = ", ".join(spec_settings) or "none"
            problems.append(f"unknown setting '{key}' (this destination's settings: {known})")
    for key, spec in spec_settings.items():
        value = given.get(key, spec.get("default"))
        label = spec.get("label", key)
        if value is None or value == "":
            if check_required and spec.get("required"):
                problems.append(f"setting '{key}' ({label}) is required")
            continue
        kind = spec.get("type", "string")
        try:
            if kind in ("string", "password"):
                if isinstance(value, (dict, list)):
                    raise ValueError
                value = value if isinstance(value, str) else str(value)
            elif kind == "number":
                value = float(value) if not isinstance(value, (int, float)) or isinstance(value, bool) else value
            elif kind == "integer":
                if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                    raise ValueError
                value = int(value)
            elif kind == "boolean" and not isinstance(value, bool):
                text = str(value).lower()
                if text not in ("true", "false"):
                    raise ValueError
                value = text == "true"
        except (TypeError, ValueError):
            problems.append(f"setting '{key}' ({label}) must be {'an' if kind == 'integer' else 'a'} {kind}")
            continue
        choices = choice_values(spec)
        if choices and not any(value == c and type(value) is type(c) or (kind == "number" and value == c)
                               for c in choices):
            shown = ", ".join(repr(c) if isinstance(c, str) else str(c) for c in choices)
            problems.append(f"setting '{key}' ({label}) must be one of {shown}")
            continue
        fmt = spec.get("format")
        if fmt in FORMATS and isinstance(value, str):
            test, what = FORMATS[fmt]
            if not test(value):
                shown_value = "the value given" if kind == "password" else repr(value)
                problems.append(f"setting '{key}' ({label}) must be {what}; {shown_value} is not")
                continue
        out[key] = value
    if problems:
        raise SettingsError("; ".join(problems))
    return out


def secret_values(spec_settings: dict[str, dict[str, Any]], settings: dict[str, Any]) -> list[str]:
    """Values of `password` settings: what must never be printed."""
    return [str(settings[k]) for k, s in spec_settings.items()
            if s.get("type") == "password" and settings.get(k) not in (None, "")]
