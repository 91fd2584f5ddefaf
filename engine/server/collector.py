"""The garbage collector's settings for a serving process.

`engine serve` allocates some hundred containers per event (the parsed event, its normalised copy, the payload,
the request, the job): with CPython's default first threshold (700 allocations) a young collection runs every few
events and an old one, which walks every object alive (the compiled specs, the kept events), every few thousand.
Measured in `bench/deliver.py` (40,000 events, `--workers 1`): 120-123 µs of CPU per event against 126-135 with
the defaults, and `orjson.loads` of a 100-event body alone took twice as long under the default thresholds.

Event data holds no reference cycles (JSON gives trees), so its garbage is freed by reference counting at once;
the collector is only there for the rare cycles of the rest, and running it less often costs no memory that
matters. What was built before serving starts (specs, templates, the app) is moved out of the collector's sight
(`gc.freeze`): it lives as long as the process.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 20_000  # allocations between young collections (CPython's default: 700)
OLDER_THRESHOLDS = (10, 10)  # as CPython's defaults: young collections per middle one, middle per old one


def settle_for_serving() -> None:
    """Collect what start-up left, keep everything alive now out of later collections, and collect the young
    generation every `YOUNG_THRESHOLD` allocations. Called once per serving process, after the app is built."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, *OLDER_THRESHOLDS)
