"""Secret masking: everything the engine prints goes through a `Masker`.

A secret is a setting value of type `password` (or anything else the caller registers).
Besides the raw value, the masker knows the forms a secret takes on the way into an HTTP
request: base64 (alone or inside `Basic base64(user:secret)`, at any byte alignment),
URL-encoding (path, query, form; either hex case) and JSON string escaping. Every occurrence is replaced by
`****`.

Secrets shorter than 4 characters cannot be masked inside text without masking half the
alphabet, so they are masked only where a whole string value equals them.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, quote_plus

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
    """`form` as a regex in which percent-escapes match in either hex case (%2F and %2f)."""
    return re.sub(
        r"%([0-9A-F])([0-9A-F])",
        lambda m: "%" + _hex_class(m.group(1)) + _hex_class(m.group(2)),
        re.escape(form),
    )


def secret_forms(secret: str) -> set[str]:
    """Every text form of `secret` that the masker replaces (raw, base64, URL, JSON escaped)."""
    forms = {secret}
    forms |= {quote(secret, safe=""), quote(secret), quote_plus(secret)}
    forms.add(json.dumps(secret)[1:-1])
    forms.add(json.dumps(secret, ensure_ascii=False)[1:-1])
    forms |= _base64_forms(secret)
    return {f for f in forms if len(f) >= MIN_SUBSTRING_LENGTH}


class Masker:
    """Replaces secrets with `****` in strings and JSON-like data."""

    __slots__ = ("_pattern", "_pattern_bytes", "_short", "_secrets")

    def __init__(self, secrets: Iterable[str | None]) -> None:
        long_secrets: set[str] = set()
        short: set[str] = set()
        for secret in secrets:
            if not isinstance(secret, str) or secret == "":
                continue
            (long_secrets if len(secret) >= MIN_SUBSTRING_LENGTH else short).add(secret)
        self._secrets = frozenset(long_secrets | short)
        self._short = frozenset(short)
        forms: set[str] = set()
        for secret in long_secrets:
            forms |= secret_forms(secret)
        if forms:
            # Longest first, so a full form wins over a fragment of it.
            ordered = sorted(forms, key=lambda f: (-len(f), f))
            regex = "|".join(_form_regex(f) for f in ordered)
            self._pattern: re.Pattern[str] | None = re.compile(regex)
            self._pattern_bytes: re.Pattern[bytes] | None = re.compile(regex.encode("utf-8"))
        else:
            self._pattern = None
            self._pattern_bytes = None

    @classmethod
    def empty(cls) -> Masker:
        """A masker that masks nothing."""
        return cls(())

    def __bool__(self) -> bool:
        return bool(self._secrets)

    def __repr__(self) -> str:
        return f"Masker({len(self._secrets)} secrets)"

    def with_secrets(self, more: Iterable[str | None]) -> Masker:
        """A new masker for these secrets and the ones this masker already has."""
        return Masker([*self._secrets, *more])

    def mask_text(self, text: str) -> str:
        """`text` with every secret form replaced by `****`."""
        if text in self._short or text in self._secrets:
            return MASK
        if self._pattern is None:
            return text
        return self._pattern.sub(MASK, text)

    def mask_bytes(self, data: bytes) -> bytes:
        if data.decode("utf-8", "replace") in self._short:
            return MASK.encode()
        if self._pattern_bytes is None:
            return data
        return self._pattern_bytes.sub(MASK.encode(), data)

    def mask(self, obj: Any) -> Any:
        """A copy of `obj` (str, bytes, dict, list, tuple, scalars) with secrets masked."""
        if isinstance(obj, str):
            return self.mask_text(obj)
        if isinstance(obj, dict):
            return {self.mask(k) if isinstance(k, str) else k: self.mask(v) for k, v in obj.items()}
        if isinstance(obj, list):
            return [self.mask(v) for v in obj]
        if isinstance(obj, tuple):
            return tuple(self.mask(v) for v in obj)
        if isinstance(obj, (bytes, bytearray)):
            return self.mask_bytes(bytes(obj))
        return obj

    __call__ = mask
