"""Secret masking: everything the engine prints goes through a `Masker`.

A secret is a setting value of type `password` (or anything else the caller registers).
Besides the raw value, the masker knows the forms a secret takes on the way into an HTTP
request: base64 (standard and URL-safe, with and without padding, alone or inside `Basic base64(user:secret)`,
at any byte alignment), URL-encoding (RFC 3986, path, JavaScript's encodeURIComponent, form encoding with `+`
for space; once or twice; either hex case) and JSON string escaping (non-ASCII as `\\uXXXX` in either hex case
or raw, `<>&` as Go escapes them, `/` as PHP does). Every occurrence is replaced by `****`.

Secrets shorter than 4 characters cannot be masked inside text without masking half the
alphabet, so they are masked only where a whole string value equals them.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable
from typing import Any

import ahocorasick
import orjson

_dumps = orjson.dumps
# From this many forms on, one Aho-Corasick automaton finds them (linear in the text and in the forms);
# below, the regex alternation and the needle loops (faster for the few secrets of one instance).
_AUTOMATON_FROM = 512

MASK = "****"
MIN_SUBSTRING_LENGTH = 4
# A base64 fragment taken from the middle of a longer base64 text must be at least this long
# to be masked on its own; shorter fragments would match unrelated base64 too often.
_MIN_B64_FRAGMENT = 4


def _base64_forms(secret: str) -> set[str]:
    raw = secret.encode("utf-8")
    forms: set[str] = set()
    full = base64.b64encode(raw).decode("ascii")
    forms.add(full)
    forms.add(full.rstrip("="))
    # Inside a longer encoded text (e.g. "user:secret"), the secret starts at byte offset
    # 0, 1 or 2 of a 3-byte group; only the characters fully determined by its bytes are stable.
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + raw).decode("ascii")
        start = -(-8 * offset // 6)  # ceil
        end = (8 * (offset + len(raw))) // 6
        fragment = encoded[start:end]
        if len(fragment) >= _MIN_B64_FRAGMENT:
            forms.add(fragment)
    forms |= {f.replace("+", "-").replace("/", "_") for f in forms}
    return forms


def _hex_class(char: str) -> str:
    return f"[{char}{char.lower()}]" if char.isalpha() else char


def _form_regex(form: str) -> str:
    """`form` as a regex in which percent-escapes match in either hex case (%2F and %2f; %253C and %253c)."""
    return re.sub(
        r"%(25)?([0-9A-F])([0-9A-F])",
        lambda m: "%" + (m.group(1) or "") + _hex_class(m.group(2)) + _hex_class(m.group(3)),
        re.escape(form),
    )


# Characters each URL encoder leaves as they are (besides ASCII letters and digits), and whether it writes a
# space as `+`: RFC 3986's unreserved set (Python's `quote(safe="")`), a path (`/` kept), JavaScript's
# encodeURIComponent (`!'()*` kept too), form encoding as browsers (WHATWG) and PHP's urlencode write it.
_URL_ENCODERS = (("-._~", False), ("-._~/", False), ("-._~!'()*", False), ("-._*", True), ("-._~", True),
                 ("-._", True))
_ALNUM = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")


def _percent(text: str, safe: str, plus: bool) -> str:
    """`text` percent-encoded (UTF-8, upper-case hex) leaving letters, digits and `safe` (space as `+` if `plus`)."""
    keep = _ALNUM | frozenset(safe)
    out: list[str] = []
    for char in text:
        if char in keep:
            out.append(char)
        elif char == " " and plus:
            out.append("+")
        else:
            out.extend(f"%{b:02X}" for b in char.encode("utf-8", "surrogatepass"))
    return "".join(out)


# JSON escapers differ in what they escape beyond `"`, `\` and control characters: non-ASCII as `\uXXXX`
# (Python, PHP; lower or upper hex) or not (Go, JavaScript, orjson), `<>&` as `\u003c` (Go, PHP's
# JSON_HEX_*), `/` as `\/` (PHP).
_JSON_HTML = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def _json_forms(secret: str) -> set[str]:
    forms: set[str] = set()
    for ascii_only in (False, True):
        base = json.dumps(secret, ensure_ascii=ascii_only)[1:-1]
        cases = {base}
        if ascii_only:
            cases.add(re.sub(r"\\u([0-9a-f]{4})", lambda m: "\\u" + m.group(1).upper(), base))
        for text in cases:
            html = "".join(_JSON_HTML.get(c, c) for c in text)
            for variant in (text, html):
                forms |= {variant, variant.replace("/", "\\/")}
    return forms


def secret_forms(secret: str) -> set[str]:
    """Every text form of `secret` that the masker replaces (raw, base64, URL, JSON escaped): each once."""
    forms = {secret}
    for safe, plus in _URL_ENCODERS:
        once = _percent(secret, safe, plus)
        forms.add(once)
        if once != secret:  # encoded twice (a URL-encoded value put in a URL again): `%` becomes `%25`
            forms |= {_percent(once, safe, plus), _percent(once, "-._~", False)}
    forms |= _json_forms(secret)
    forms |= _base64_forms(secret)
    return {f for f in forms if len(f) >= MIN_SUBSTRING_LENGTH}


def _json_escaped(text: str) -> bytes | None:
    """`text` as orjson writes it inside a JSON string (None if orjson refuses it: lone surrogates)."""
    try:
        return orjson.dumps(text)[1:-1]
    except TypeError:
        return None


class _Forms:
    """Every form as one Aho-Corasick automaton, with `re.Pattern.sub`'s signature for str and bytes:
    overlapping occurrences are masked as one (their union), percent-escapes in upper or lower case."""

    def __init__(self, forms: Iterable[str], as_bytes: bool = False, automaton: Any = None) -> None:
        self._bytes = as_bytes
        if automaton is not None:  # the bytes twin of a str one
            self._automaton = automaton
            return
        automaton = ahocorasick.Automaton()
        for form in forms:
            for variant in {form, _escapes_cased(form, str.upper), _escapes_cased(form, str.lower)}:
                automaton.add_word(variant, len(variant))
        automaton.make_automaton()
        self._automaton = automaton

    def sub(self, repl: Any, text: Any) -> Any:
        if self._bytes:
            return self._sub(repl.decode("utf-8"), text.decode("utf-8", "surrogateescape")).encode(
                "utf-8", "surrogateescape")
        return self._sub(repl, text)

    def _sub(self, repl: str, text: str) -> str:
        spans = sorted((end + 1 - length, end + 1) for end, length in self._automaton.iter(text))
        if not spans:
            return text
        out: list[str] = []
        pos = 0
        start, stop = spans[0]
        for begin, end in spans[1:]:
            if begin <= stop:
                stop = max(stop, end)
                continue
            out += (text[pos:start], repl)
            pos, start, stop = stop, begin, end
        out += (text[pos:start], repl, text[stop:])
        return "".join(out)


def _escapes_cased(form: str, case: Any) -> str:
    return re.sub(r"%(?:25)?[0-9A-Fa-f]{2}", lambda m: case(m.group()), form)


def _minimal(needles: set[Any]) -> tuple[Any, ...]:
    """`needles` without those that contain another one (finding the shorter one is enough)."""
    ordered = sorted(needles, key=lambda n: (len(n), n))
    if len(ordered) > 1024:  # one automaton of them all: linear, where comparing each with the kept is quadratic
        words = {(n.decode("latin-1") if isinstance(n, bytes) else n): n for n in ordered}
        automaton = ahocorasick.Automaton()
        for word in words:
            automaton.add_word(word, word)
        automaton.make_automaton()
        return tuple(n for w, n in words.items() if all(found == w for _, found in automaton.iter(w)))
    kept: list[Any] = []
    for needle in ordered:
        if not any(k in needle for k in kept):
            kept.append(needle)
    return tuple(kept)


# Containers are encoded with orjson to look for secrets in one go; subclasses of the builtin
# types go to the walk (which returns plain types, as masking always did).
_ENCODE_OPTIONS = orjson.OPT_PASSTHROUGH_SUBCLASS
# Dicts up to this size are walked item by item (their texts are not worth joining).
_SMALL = 8
# Characters by how often they occur in JSON text of events, most often first: structure, lower-case letters
# and digits, punctuation, then capitals (English letter frequencies); anything else is rarer still. A needle
# holding a character from _RARE_FROM on is looked for by that character (memchr) and checked around it.
_CHAR_ORDER = '"e:t,aoinsrhldcumwfgypbvkjxqz0123456789-/._ {}[]=&?%+;()@*#!$^|~<>`\'ETAOINSHRDLCUMWFGYPBVKJXQZ'
_RARE_FROM = _CHAR_ORDER.index("E")
# An anchor character met this many times more than its needles in one text: the rest goes through `find`.
_ANCHOR_SLACK = 4


def _rarity(char: str) -> int:
    at = _CHAR_ORDER.find(char)
    return len(_CHAR_ORDER) if at < 0 else at


_Anchored = tuple[tuple[str, tuple[tuple[str, int], ...], int, dict[str, tuple[tuple[str, int], ...]]], ...]
# At an anchor character, up to this many characters from it pick the needles worth comparing.
_ANCHOR_WIDTH = 3


def _anchor(needles: tuple[str, ...]) -> tuple[_Anchored, tuple[str, ...]]:
    """`needles` as (rare character, ((needle, offset of that character in it), ...), width, table) groups, plus
    those holding no rare character. `table` maps the `width` characters a needle has from its anchor on to the
    group's needles that have them: at an occurrence of the character, only those can start around it."""
    groups: dict[str, list[tuple[str, int]]] = {}
    plain: list[str] = []
    for needle in needles:
        rarest = max(needle, key=_rarity)
        if _rarity(rarest) < _RARE_FROM:
            plain.append(needle)
        else:
            groups.setdefault(rarest, []).append((needle, needle.index(rarest)))
    anchored = []
    for char, group in groups.items():
        width = min(_ANCHOR_WIDTH, *(len(needle) - offset for needle, offset in group))
        table: dict[str, list[tuple[str, int]]] = {}
        for needle, offset in group:
            table.setdefault(needle[offset:offset + width], []).append((needle, offset))
        anchored.append((char, tuple(group), width, {k: tuple(v) for k, v in table.items()}))
    return tuple(anchored), tuple(plain)


# JSON text without escapes: the characters before an opening quote, after a closing one (and the end: "").
_BEFORE_OPENING = "[{,: \t\n\r"
_AFTER_CLOSING = ",:]} \t\n\r"
_KEY_END = re.compile(r"[ \t\n\r]*:")  # after a key's closing quote
# `mask_json` remembers what masking made of texts holding a secret form (the same URL or header every event):
# texts up to this length, this many at most (then it starts again).
_CACHED_LENGTH = 256
_CACHED_TEXTS = 1024


class Masker:
    """Replaces secrets with `****` in strings and JSON-like data.

    `mask` of a container first encodes it with orjson and looks for any form of any secret in
    the bytes (as JSON escapes it); a container where none occurs is returned as it is (no copy),
    and only containers on the way to an occurrence are walked and copied. A string holding a
    form `f` is encoded to bytes holding the JSON-escaped `f` (escaping is per character), so
    looking for the escaped forms finds every string the walk would change (percent-escapes in
    either hex case: those forms are looked for in the lower-cased bytes).
    """

    __slots__ = ("_pattern", "_pattern_bytes", "_short", "_secrets", "_needles", "_ci_needles", "_fast", "_keeps",
                 "_text_needles", "_text_ci_needles", "_sep", "_masked", "_anchored", "_unanchored", "_json_memo",
                 "_large")

    def __init__(self, secrets: Iterable[str | None]) -> None:
        long_secrets: set[str] = set()
        short: set[str] = set()
        for secret in secrets:
            if not isinstance(secret, str) or secret == "":
                continue
            (long_secrets if len(secret) >= MIN_SUBSTRING_LENGTH else short).add(secret)
        self._secrets = frozenset(long_secrets | short)
        self._short = frozenset(short)
        self._keeps: dict[tuple[str, ...], bool] = {}
        self._masked: dict[str, str] = {}
        self._json_memo: dict[bytes, bytes] = {}
        forms: set[str] = set()
        for secret in long_secrets:
            forms |= secret_forms(secret)
        self._large = len(forms) >= _AUTOMATON_FROM
        if self._large:
            self._pattern = _Forms(forms)  # type: ignore[assignment]
            self._pattern_bytes = _Forms((), True, self._pattern._automaton)  # type: ignore[assignment,union-attr]
        elif forms:
            # Longest first, so a full form wins over a fragment of it.
            ordered = sorted(forms, key=lambda f: (-len(f), f))
            regex = "|".join(_form_regex(f) for f in ordered)
            self._pattern: re.Pattern[str] | None = re.compile(regex)
            self._pattern_bytes: re.Pattern[bytes] | None = re.compile(regex.encode("utf-8"))
        else:
            self._pattern = None
            self._pattern_bytes = None
        # What the fast path looks for in orjson's bytes: every form as JSON escapes it, and every
        # short secret as a whole JSON string. Forms whose percent-escapes match in either hex case
        # are looked for lower-cased in the lower-cased bytes.
        # `mask_text` runs the regex only on texts holding a form (looked for the same way, without
        # the JSON escaping; either-case forms as lower-cased UTF-8).
        needles: set[str] = set()
        ci_needles: set[bytes] = set()
        text_needles: set[str] = set()
        text_ci_needles: set[bytes] = set()
        fast = True
        for form in forms:
            either_case = _form_regex(form) != re.escape(form)
            if either_case:
                text_ci_needles.add(form.encode("utf-8", "surrogatepass").lower())
            else:
                text_needles.add(form)
            escaped = _json_escaped(form)
            if escaped is None:
                fast = False
            elif either_case:
                ci_needles.add(escaped.lower())
            else:
                needles.add(escaped.decode("utf-8"))
        for secret in short:
            escaped = _json_escaped(secret)
            if escaped is None:
                fast = False
                break
            needles.add('"' + escaped.decode("utf-8") + '"')
        self._fast = fast and not self._large  # many secrets: each string goes through the automaton
        if self._large:  # the needle loops are for few secrets; the automaton finds them all at once
            needles, ci_needles, text_needles, text_ci_needles = set(), set(), set(), set()
        self._needles = _minimal(needles)
        self._anchored, self._unanchored = _anchor(self._needles)
        self._ci_needles = _minimal(ci_needles)
        self._text_needles: tuple[str, ...] = _minimal(text_needles)  # type: ignore[arg-type]
        self._text_ci_needles = _minimal(text_ci_needles)
        # Joins the texts of a container to look for every needle once: a character in no needle,
        # so no needle found in the joined text crosses from one text into the next.
        self._sep = next(chr(c) for c in range(0x110000) if not any(chr(c) in n for n in self._text_needles))

    @classmethod
    def empty(cls) -> Masker:
        """A masker that masks nothing."""
        return cls(())

    def __bool__(self) -> bool:
        return bool(self._secrets)

    def __repr__(self) -> str:
        return f"Masker({len(self._secrets)} secrets)"

    def with_secrets(self, more: Iterable[str | None]) -> Masker:
        """A masker for these secrets and the ones this masker already has: this one when it has them all
        (an instance's secrets are already in its config's masker: one masker for every instance, not one
        per instance built over every secret), else a new one."""
        added = {s for s in more if isinstance(s, str) and s != ""} - self._secrets
        return Masker([*self._secrets, *added]) if added else self

    def keeps(self, texts: tuple[str, ...]) -> bool:
        """True when masking leaves every one of `texts` as it is (cached per tuple: for fixed keys)."""
        known = self._keeps.get(texts)
        if known is None:
            known = self._keeps[texts] = all(self.mask_text(t) == t for t in texts)
        return known

    def mask_text(self, text: str) -> str:
        """`text` with every secret form replaced by `****`."""
        if text in self._short or text in self._secrets:
            return MASK
        if self._pattern is None:
            return text
        if self._large:
            return self._pattern.sub(MASK, text)
        for needle in self._text_needles:
            if needle in text:
                return self._pattern.sub(MASK, text)
        if self._text_ci_needles:
            lowered = text.encode("utf-8", "surrogatepass").lower()
            for needle in self._text_ci_needles:
                if needle in lowered:
                    return self._pattern.sub(MASK, text)
        return text

    def mask_bytes(self, data: bytes) -> bytes:
        if data.decode("utf-8", "replace") in self._short:
            return MASK.encode()
        if self._pattern_bytes is None:
            return data
        return self._pattern_bytes.sub(MASK.encode(), data)

    def _occurs(self, data: bytes) -> bool:
        """Whether any secret form may occur in `data` (orjson's bytes of a container)."""
        text = data.decode("utf-8")  # str's `in` costs a fraction of bytes' on short texts
        for needle in self._needles:
            if needle in text:
                return True
        if self._ci_needles:
            lowered = data.lower()
            for needle in self._ci_needles:
                if needle in lowered:
                    return True
        return False

    def mask(self, obj: Any) -> Any:
        """`obj` (str, bytes, dict, list, tuple, scalars) with secrets masked.

        Containers in which no secret occurs are returned as they are (not copied); the others
        are copied with their changed parts."""
        if isinstance(obj, str):
            return self.mask_text(obj)
        if isinstance(obj, (dict, list, tuple)):
            if not self._secrets:
                return obj
            if self._fast:
                try:
                    data = _dumps(obj, option=_ENCODE_OPTIONS)
                except TypeError:  # not JSON to orjson (bytes, big ints, other keys, subclasses)
                    pass
                else:
                    if not self._occurs(data):
                        return obj
                    if type(obj) is dict and len(obj) > _SMALL:  # str keys, JSON values: see _walk_dict
                        return self._walk_dict(obj)
            return self._walk(obj)
        if isinstance(obj, (bytes, bytearray)):
            return self.mask_bytes(bytes(obj))
        return obj

    def _walk(self, obj: dict[Any, Any] | list[Any] | tuple[Any, ...]) -> Any:
        """A copy of the container with every key and value masked."""
        mask = self.mask
        if isinstance(obj, dict):
            text = self.mask_text
            return {text(k) if isinstance(k, str) else k: mask(v) for k, v in obj.items()}
        if isinstance(obj, list):
            return [mask(v) for v in obj]
        return tuple(mask(v) for v in obj)

    def _changing(self, texts: list[str]) -> frozenset[str] | set[str]:
        """Those of `texts` (exact `str`s) that `mask_text` may change: a superset, never fewer."""
        found: frozenset[str] | set[str] = self._secrets.intersection(texts)
        if self._pattern is None:
            return found
        sep = self._sep
        joined = sep.join(texts)
        if joined.count(sep) != len(texts) - 1:  # a text holds the separator: no telling them apart
            return set(texts)
        if self._text_ci_needles:
            lowered = joined.encode("utf-8", "surrogatepass").lower()
            if any(needle in lowered for needle in self._text_ci_needles):
                return set(texts)
        for needle in self._text_needles:
            at = joined.find(needle)
            while at >= 0:
                found = set(found)
                found.add(texts[joined.count(sep, 0, at)])  # the needle holds no separator
                at = joined.find(needle, at + 1)
        return found

    def _walk_dict(self, obj: dict[str, Any]) -> dict[str, Any]:
        """`_walk` of a dict that orjson encoded (exact str keys, JSON values): its strings are
        looked at together, and only those holding a needle go through `mask_text`."""
        texts = [*obj]
        texts += [v for v in obj.values() if type(v) is str]
        changing = self._changing(texts)
        text, mask = self.mask_text, self.mask
        out: dict[str, Any] = {}
        for key, value in obj.items():
            if key in changing:
                key = text(key)
            kind = type(value)
            if kind is str:
                if value in changing:
                    value = text(value)
            elif value is not None and kind is not int and kind is not bool and kind is not float:
                value = mask(value)
            out[key] = value
        return out

    def mask_json(self, data: bytes) -> bytes:
        """JSON text `data` with every string in it (keys too) masked as `mask` masks it: the same
        bytes as `orjson.dumps(self.mask(orjson.loads(data)))` for what orjson writes.

        Every needle (each secret form as JSON escapes it, each short secret as a whole JSON string)
        is looked for in the text; when none occurs, `data` is returned as it is. Without a backslash
        in the text, every `"` is a string's opening or closing quote (alternately), and a string's
        bytes between its quotes are its UTF-8 text; so only the strings holding a needle go through
        `mask_text`, and the text is spliced. Otherwise (escapes, or a key that masking changes: keys
        masked alike merge, as in the walk) the text is parsed, masked and encoded again."""
        if not self._secrets:
            return data
        if not self._fast:
            return self._mask_json_walk(data)
        text = data.decode("utf-8")
        find, before = text.find, text.rfind
        opens = self._json_opens(text)
        if self._ci_needles:
            lowered = data.lower()
            ascii_only = text.isascii()
            for needle in self._ci_needles:
                at = lowered.find(needle)
                while at >= 0:  # ASCII needles start on a character: byte offset -> index
                    opens.add(before('"', 0, at if ascii_only else len(data[:at].decode("utf-8"))))
                    at = lowered.find(needle, at + 1)
        if not opens:
            return data
        if "\\" in text:
            return self._mask_json_walk(data)
        pieces: list[str] = []
        last = 0
        cache, before_opening, after_closing = self._masked, _BEFORE_OPENING, _AFTER_CLOSING
        for start in sorted(opens) if len(opens) > 1 else opens:
            if start < 0:
                continue
            # An opening quote follows `[{,:` or white space (or starts the text), a closing one is followed by
            # `,:]}`, white space or the end: most quotes tell which they are by a neighbour; else count them.
            if start and text[start - 1] not in before_opening:
                continue  # a closing quote: the needle was outside every string (a number, ...)
            if text[start + 1:start + 2] in after_closing and text.count('"', 0, start) & 1:
                continue
            end = find('"', start + 1)
            value = text[start + 1:end]
            masked = cache.get(value)
            if masked is None:
                masked = self.mask_text(value)
                if len(value) <= _CACHED_LENGTH:
                    if len(cache) >= _CACHED_TEXTS:
                        cache.clear()
                    cache[value] = masked
            if masked != value:
                after = text[end + 1:end + 2]
                if after == ":" or after.isspace() and _KEY_END.match(text, end + 1):  # a key
                    return self._mask_json_walk(data)
                pieces += (text[last:start + 1], masked)
                last = end
        if not pieces:
            return data
        pieces.append(text[last:])
        return "".join(pieces).encode("utf-8")

    def mask_json_memo(self, data: bytes) -> bytes:
        """`mask_json(data)`, remembered for texts up to _CACHED_LENGTH bytes (a request's method, URL and
        headers: the same every event)."""
        masked = self._json_memo.get(data)
        if masked is None:
            masked = self.mask_json(data)
            if len(data) <= _CACHED_LENGTH:
                if len(self._json_memo) >= _CACHED_TEXTS:
                    self._json_memo.clear()
                self._json_memo[data] = masked
        return masked

    def _json_opens(self, text: str) -> set[int]:
        """For every needle occurring in `text`, the quote opening the string that holds it (if it is in one):
        the needle's first quote, else the last quote before it (-1: none)."""
        find, before, starts = text.find, text.rfind, text.startswith
        opens: set[int] = set()
        for needle in self._unanchored:
            at = find(needle)
            while at >= 0:
                opens.add(at if needle[0] == '"' else before('"', 0, at))
                at = find(needle, at + 1)
        for char, group, width, table in self._anchored:
            budget = _ANCHOR_SLACK * len(group)
            at = find(char)
            while at >= 0:
                budget -= 1
                if budget < 0:  # a common character in this text after all: `find` from here on
                    for needle, offset in group:
                        start = find(needle, max(at - offset, 0))
                        while start >= 0:
                            opens.add(start if needle[0] == '"' else before('"', 0, start))
                            start = find(needle, start + 1)
                    break
                hits = table.get(text[at:at + width])
                if hits is not None:
                    for needle, offset in hits:
                        start = at - offset
                        if start >= 0 and starts(needle, start):
                            opens.add(start if needle[0] == '"' else before('"', 0, start))
                at = find(char, at + 1)
        return opens

    def _mask_json_walk(self, data: bytes) -> bytes:
        return _dumps(self.mask(orjson.loads(data)))

    __call__ = mask
