"""The engine's template filters, tests and functions: one flat table each.

Every filter is a small pure function of JS-like values. "Undefined" below means a value that is
`engine.jsvalues.UNDEFINED` or a Jinja undefined (a key the event lacked). docs/templates.md
documents each one with an example.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac as _hmac
import math
import re
import secrets
import uuid as _uuid
import zoneinfo
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlsplit

import jinja2

from engine.jsvalues import UNDEFINED
from engine.templates import jshelpers as _jshelpers
from engine.templates import regex as _regex
from engine.templates.environment import (
    TemplateRenderError,
    _check_size,
    check_value_size,
    is_undefined,
    iso_z,
    to_json_text,
    to_text,
)

MAX_RANDOM_DIGITS = 1000


def _is_nothing(value: Any) -> bool:
    return value is None or is_undefined(value)


def _require_object(value: Any, name: str) -> dict[Any, Any]:
    if not isinstance(value, dict):
        raise TemplateRenderError(f"{name} needs an object, got {_kind(value)}")
    return value


def _kind(value: Any) -> str:
    if is_undefined(value):
        return "undefined"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (list, tuple)):
        return "an array"
    return "an object"


# -- objects --------------------------------------------------------------------------------------


def merge(*objects: Any) -> dict[Any, Any]:
    """`{...a, ...b, ...}`: later keys win; undefined and null spread nothing."""
    out: dict[Any, Any] = {}
    for obj in objects:
        if type(obj) is dict:  # the common case, answered before the general checks below (which it passes)
            out.update(obj)
        elif not _is_nothing(obj):
            out.update(_require_object(obj, "merge"))
    return out


def omit(obj: Any, *keys: Any) -> Any:
    """A copy of `obj` without `keys`; undefined and null pass through."""
    if type(obj) is not dict:
        if _is_nothing(obj):
            return obj
        obj = _require_object(obj, "omit")
    if type(obj) is dict:  # a copy without the keys, in the same order (what the comprehension below makes)
        out = obj.copy()
        for key in keys:
            if key in out:
                del out[key]
        return out
    drop = set(keys)
    return {k: v for k, v in obj.items() if k not in drop}


def pick(obj: Any, *keys: Any) -> Any:
    """A copy of `obj` with only `keys` (those it has, in the order given); undefined and null pass through."""
    if _is_nothing(obj):
        return obj
    src = _require_object(obj, "pick")
    return {k: src[k] for k in keys if k in src}


def compact(value: Any, empty_strings: bool = True) -> Any:
    """Drops object keys (or array items) whose value is undefined or null, and "" unless empty_strings=False.

    Only the top level is compacted; undefined and null pass through.
    """
    if _is_nothing(value):
        return value

    def keep(v: Any) -> bool:
        return not (_is_nothing(v) or (empty_strings and v == "" and isinstance(v, str)))

    if isinstance(value, dict):
        return {k: v for k, v in value.items() if keep(v)}
    if isinstance(value, (list, tuple)):
        return [v for v in value if keep(v)]
    raise TemplateRenderError(f"compact needs an object or an array, got {_kind(value)}")


# -- URLs and encodings --------------------------------------------------------------------------


_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443, "ftp": 21}


# `http(s)://host[:port]` followed by the end or `/`, `?`, `#`: a host of plain ASCII name characters (no
# userinfo, IPv6 brackets, zone `%`, whitespace or tab that urlsplit would drop), a port of 1-5 digits
_PLAIN_HTTP_URL = re.compile(r"[hH][tT][tT][pP]([sS]?)://([A-Za-z0-9._-]+)(?::([0-9]{1,5}))?(?=[/?#]|\Z)")


def url_host(value: Any) -> Any:
    """The host of an absolute URL as browsers give it (JavaScript's `new URL(v).host`): lower case,
    internationalised names in their ASCII (punycode) form, and `:port` when the port is not the
    scheme's default. Undefined when the value is not an absolute URL."""
    if type(value) is str:  # the common case answered without urlsplit; the same result (`_url_host_general`)
        match = _PLAIN_HTTP_URL.match(value)
        if match is not None:
            secure, host, port = match.groups()
            if port is None:
                return host.lower()
            number = int(port)
            if number <= 65535:
                return host.lower() if number == (443 if secure else 80) else f"{host.lower()}:{number}"
    return _url_host_general(value)


def _url_host_general(value: Any) -> Any:
    """`url_host` through urlsplit: the reference for every input, and the path of the rarer ones."""
    if not isinstance(value, str):
        return UNDEFINED
    try:
        parts = urlsplit(value.strip())
        host = parts.hostname
        port = parts.port
    except ValueError:
        return UNDEFINED
    if not parts.scheme or not host:
        return UNDEFINED
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            return UNDEFINED
    if port is not None and port != _DEFAULT_PORTS.get(parts.scheme.lower()):
        return f"{host}:{port}"
    return host


def user_agent(value: Any) -> Any:
    """Parses a User-Agent string with the ua-parser library (the maintained port of uap-core):
    {browser_family, browser_version, os_family, os_version, device_family}. Versions join the
    known parts with "."; undefined for a value that is not a non-empty string."""
    if not isinstance(value, str) or not value.strip():
        return UNDEFINED
    import ua_parser

    result = ua_parser.parse(value)

    def version(part: Any) -> Any:
        if part is None:
            return None
        numbers = [p for p in (part.major, part.minor, part.patch) if p]
        return ".".join(numbers) or None

    return {
        "browser_family": result.user_agent.family if result.user_agent else "Other",
        "browser_version": version(result.user_agent),
        "os_family": result.os.family if result.os else "Other",
        "os_version": version(result.os),
        "device_family": result.device.family if result.device else "Other",
    }


def is_absolute_url(value: Any) -> bool:
    """Test: a string that is an absolute http(s) URL with a host."""
    if not isinstance(value, str) or value != value.strip():
        return False
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)


def encode_component(value: Any) -> str:
    """Percent-encodes the text of a value, keeping only unreserved characters (A-Z a-z 0-9 - . _ ~)."""
    return quote(to_text(value), safe="")


def urlencode(value: Any) -> str:
    """A URL component (like JS encodeURIComponent, but `!'()*` are encoded too).

    An object (or array of [key, value] pairs) becomes a query string `k=v&k2=v2` with undefined
    values left out.
    """
    if isinstance(value, dict):
        pairs: Any = value.items()
    elif isinstance(value, (list, tuple)) and all(isinstance(p, (list, tuple)) and len(p) == 2 for p in value):
        pairs = value
    else:
        return encode_component(value)
    return "&".join(f"{encode_component(k)}={encode_component(v)}" for k, v in pairs if not is_undefined(v))


def b64encode(value: Any, urlsafe: bool = False) -> str:
    """Base64 of the UTF-8 text of a value (`urlsafe=true` uses - and _)."""
    data = to_text(value).encode()
    out = base64.urlsafe_b64encode(data) if urlsafe else base64.b64encode(data)
    return out.decode("ascii")


HMAC_DIGESTS = ("sha1", "sha256", "sha512")


def hmac(value: Any, key: Any, digest: Any = "sha256") -> Any:
    """Hex HMAC of the UTF-8 text of a value under `key` (sha1, sha256 or sha512): a request signature such as
    `{{ payload.data | tojson | hmac(settings.secret, 'sha1') }}`. Undefined when the value is undefined or the key is
    undefined, null or empty (no key, no signature)."""
    if digest not in HMAC_DIGESTS:
        raise TemplateRenderError(f"hmac: unknown digest {digest!r}; expected one of {', '.join(HMAC_DIGESTS)}")
    if is_undefined(value) or is_undefined(key) or key is None or key == "":
        return UNDEFINED
    return _hmac.new(to_text(key).encode(), to_text(value).encode(), getattr(hashlib, digest)).hexdigest()


def b64decode(value: Any) -> Any:
    """The UTF-8 text of base64 (standard or URL-safe, padding optional); undefined when it is not valid."""
    if not isinstance(value, str):
        return UNDEFINED
    text = value.strip().replace("-", "+").replace("_", "/")
    text += "=" * (-len(text) % 4)
    try:
        return base64.b64decode(text, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return UNDEFINED


def tojson(value: Any) -> Any:
    """Compact JSON text like JS `JSON.stringify` (undefined keys dropped, undefined alone stays undefined)."""
    if is_undefined(value):
        return UNDEFINED
    try:
        return to_json_text(value)
    except TypeError as exc:
        raise TemplateRenderError(f"tojson failed: {exc}") from None


# -- time -----------------------------------------------------------------------------------------


def _to_datetime(value: Any) -> dt.datetime | None:
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        if not math.isfinite(value):
            return None
        try:
            return dt.datetime.fromtimestamp(value, dt.UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if isinstance(value, str):
        text = value.strip()
        if text.endswith(("z", "Z")):
            text = text[:-1] + "+00:00"
        try:
            parsed = dt.datetime.fromisoformat(text)
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
    return None


def unix_seconds(value: Any) -> Any:
    """Whole seconds since 1970 (rounded down) of an ISO-8601 string, a datetime or a number of seconds.

    Times without an offset are UTC; anything else is undefined.
    """
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return math.floor(value) if math.isfinite(value) else UNDEFINED
    moment = _to_datetime(value)
    if moment is None:
        return UNDEFINED
    return math.floor(moment.timestamp())


def iso8601(value: Any) -> Any:
    """JS `toISOString()` text (`2024-05-01T12:00:00.000Z`) of a datetime, ISO string or seconds; else undefined."""
    moment = _to_datetime(value)
    if moment is None:
        return UNDEFINED
    try:
        return iso_z(moment)
    except (OverflowError, ValueError):
        return UNDEFINED


# Names zoneinfo did not find: looking again costs ~30 µs (it searches the disk; it keeps only the zones it finds),
# and the name comes from the event. Bounded; a zone installed while the process runs is seen once this is cleared.
_UNKNOWN_ZONES: set[str] = set()
_UNKNOWN_ZONES_KEPT = 1024


def tz_offset(name: Any, at: Any = None) -> Any:
    """The UTC offset in minutes of the IANA time zone `name` (in any case) now (or at `at`); undefined for unknown
    zones."""
    if not isinstance(name, str) or not name or name in _UNKNOWN_ZONES:
        return UNDEFINED
    name = _jshelpers.zone_name(name) or name
    try:
        zone = zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        if len(_UNKNOWN_ZONES) >= _UNKNOWN_ZONES_KEPT:
            _UNKNOWN_ZONES.clear()
        _UNKNOWN_ZONES.add(name)
        return UNDEFINED
    moment = dt.datetime.now(dt.UTC) if at is None else _to_datetime(at)
    if moment is None:
        return UNDEFINED
    offset = moment.astimezone(zone).utcoffset()
    return 0 if offset is None else int(offset.total_seconds() // 60)


# -- generated values and text -------------------------------------------------------------------


def random_digits(n: Any) -> str:
    """A string of `n` random decimal digits (0 <= n <= 1000)."""
    if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= MAX_RANDOM_DIGITS:
        raise TemplateRenderError(f"random_digits needs a whole number from 0 to {MAX_RANDOM_DIGITS}, got {to_text(n)!r}")
    if n == 0:
        return ""
    # one draw below 10**n, zero-padded: every digit uniform and independent, as n draws of a digit would give,
    # for one system call instead of n (~1.4 instead of ~13 us for 10 digits)
    return str(secrets.randbelow(10**n)).zfill(n)


def uuid4(_value: Any = None) -> str:
    """A random UUID (version 4) in lower-case hex with dashes; as a filter it ignores its input."""
    return str(_uuid.uuid4())


# Jinja folds a filter whose arguments are constants at compile time (`10 | random_digits` would
# become one value for every event); a filter that takes the context is never folded.
@jinja2.pass_context
def _random_digits_filter(_context: Any, n: Any) -> str:
    return random_digits(n)


@jinja2.pass_context
def _uuid4_filter(_context: Any, _value: Any = None) -> str:
    return uuid4()


# `'Europe/Paris' | tz_offset` reads the clock: folded at compile time it would keep the offset of the moment the
# spec was loaded (wrong after the next daylight-saving change)
@jinja2.pass_context
def _tz_offset_filter(_context: Any, name: Any, at: Any = None) -> Any:
    return tz_offset(name, at)


_WORDS = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")


def snake_case(value: Any) -> str:
    """Words of the text in lower case joined by "_": "userId" -> "user_id", "HTTPServer 2" -> "http_server_2"."""
    return "_".join(w.lower() for w in _WORDS.findall(to_text(value)))


# -- native values from text and pairs -------------------------------------------------------------


def parse_json(value: Any) -> Any:
    """JSON text -> its value (JS `JSON.parse`); text longer than the output bound, or not JSON, is an error."""
    import orjson

    from engine.templates.environment import MAX_OUTPUT

    if not isinstance(value, str):
        raise TemplateRenderError(f"parse_json needs a string, got {_kind(value)}")
    if len(value) > MAX_OUTPUT:
        raise TemplateRenderError(f"parse_json: the text is longer than {MAX_OUTPUT} characters")
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise TemplateRenderError(f"parse_json: the text is not JSON ({exc})") from None


def from_pairs(value: Any) -> dict[Any, Any]:
    """`[[key, value], ...]` -> an object (JS `Object.fromEntries`); keys become text, later keys win."""
    if not isinstance(value, (list, tuple)):
        raise TemplateRenderError(f"from_pairs needs an array of [key, value] pairs, got {_kind(value)}")
    out: dict[Any, Any] = {}
    for pair in value:
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise TemplateRenderError("from_pairs needs an array of [key, value] pairs")
        key = pair[0]
        out[key if isinstance(key, str) else to_text(key)] = pair[1]
    return out


def spread(value: Any) -> dict[Any, Any]:
    """What JavaScript's `{...value}` makes: an object's own entries, a string's or array's items under their index
    ("0", "1", ...), and nothing for null, undefined, numbers and booleans."""
    if isinstance(value, dict):
        return dict(value)
    if isinstance(value, (str, list, tuple)):
        return {str(i): item for i, item in enumerate(value)}
    return {}


# -- Jinja's text-building filters, with their result's size checked before it is built ----------------


@jinja2.pass_eval_context
def replace(eval_ctx: Any, s: Any, old: Any, new: Any, count: Any = None) -> Any:
    """Jinja's `replace`: the length of the result (occurrences x the longer replacement) is checked first."""
    text, old_text, new_text = str(s), str(old), str(new)
    if len(new_text) > len(old_text):
        found = text.count(old_text) if old_text else len(text) + 1
        if isinstance(count, int) and not isinstance(count, bool) and count >= 0:
            found = min(found, count)
        _check_size(len(text) + found * (len(new_text) - len(old_text)), "a string")
    return jinja2.filters.do_replace(eval_ctx, s, old, new, count)


@jinja2.pass_eval_context
def join(eval_ctx: Any, value: Any, d: Any = "", attribute: Any = None) -> str:
    """Jinja's `join`: each item's text is made only while the total stays within the output bound (an item held
    many times, or a large list item, counts each time)."""
    items = list(value)
    if attribute is not None:
        getter = jinja2.filters.make_attrgetter(eval_ctx.environment, attribute)
        items = [getter(item) for item in items]
    sep = str(d)
    total = len(sep) * max(len(items) - 1, 0)
    texts = []
    for item in items:
        _check_size(total, "a string")
        if type(item) is not str:
            check_value_size(item, "a list item")
        text = str(item)
        total += len(text)
        texts.append(text)
    _check_size(total, "a string")
    return sep.join(texts)


def indent(s: Any, width: Any = 4, first: bool = False, blank: bool = False) -> str:
    """Jinja's `indent`: the length of the result (lines x the indentation) is checked first."""
    text = str(s)
    pad = len(width) if isinstance(width, str) else width if isinstance(width, int) else 0
    _check_size(len(text) + (text.count("\n") + 1) * max(pad, 0), "a string")
    return jinja2.filters.do_indent(s, width, first, blank)


@jinja2.pass_environment
def wordwrap(environment: Any, s: Any, width: int = 79, break_long_words: bool = True, wrapstring: Any = None,
             break_on_hyphens: bool = True) -> str:
    """Jinja's `wordwrap`: the length of the result (at most one `wrapstring` per line break) is checked first."""
    text = str(s)
    if wrapstring is not None:
        breaks = len(text) // max(width, 1) + text.count(" ") + text.count("\n") + text.count("-") + 1
        _check_size(len(text) + breaks * len(str(wrapstring)), "a string")
    return jinja2.filters.do_wordwrap(environment, s, width, break_long_words, wrapstring, break_on_hyphens)


SIZED_BUILTINS: dict[str, Callable[..., Any]] = {"replace": replace, "join": join, "indent": indent, "wordwrap": wordwrap}
"""Jinja's own filters of these names, replaced by versions that check their result's size before building it."""

FILTERS: dict[str, Callable[..., Any]] = {
    "parse_json": parse_json,
    "from_pairs": from_pairs,
    "spread": spread,
    "merge": merge,
    "omit": omit,
    "pick": pick,
    "compact": compact,
    "url_host": url_host,
    "urlencode": urlencode,
    "b64encode": b64encode,
    "b64decode": b64decode,
    "hmac": hmac,
    "tojson": tojson,
    "unix_seconds": unix_seconds,
    "iso8601": iso8601,
    "tz_offset": _tz_offset_filter,
    "random_digits": _random_digits_filter,
    "uuid4": _uuid4_filter,
    "snake_case": snake_case,
    "user_agent": user_agent,
}


def is_defined(value: Any) -> bool:
    return not is_undefined(value)


def is_undefined_test(value: Any) -> bool:
    return is_undefined(value)


TESTS: dict[str, Callable[..., bool]] = {
    "absolute_url": is_absolute_url,
    "defined": is_defined,
    "undefined": is_undefined_test,
}

def fail(message: Any) -> Any:
    """Refuses the event with the spec's own message: `{{ x if x is defined else fail('Invalid URL') }}`.
    The event's verdict is an error with exactly this message; nothing is sent."""
    from engine.templates.environment import EventRejected

    raise EventRejected(to_text(message))


GLOBALS: dict[str, Callable[..., Any]] = {
    "fail": fail,
    "uuid4": uuid4,
    "random_digits": random_digits,
}

FILTERS.update(_regex.FILTERS)
FILTERS.update(_jshelpers.FILTERS)
TESTS.update(_regex.TESTS)
TESTS.update(_jshelpers.TESTS)
