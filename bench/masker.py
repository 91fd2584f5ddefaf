"""Masker construction with many secrets (issue 18, defect 11): `python bench/masker.py 4000 20000`.

Prints the seconds to build a Masker from N random 24-character keys and to mask one text."""

from __future__ import annotations

import secrets
import sys
import time

from engine.secrets import Masker


def main(counts: list[int]) -> None:
    for n in counts:
        keys = [secrets.token_urlsafe(18) for _ in range(n)]
        start = time.perf_counter()
        masker = Masker(keys)
        built = time.perf_counter() - start
        start = time.perf_counter()
        masker.mask_text(f"Authorization: Bearer {keys[n // 2]} and more text")
        masked = time.perf_counter() - start
        print(f"{n} secrets: build {built:.2f} s, one mask_text {masked * 1000:.1f} ms")


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [4000, 20000])
