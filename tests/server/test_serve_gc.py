"""`engine serve` tunes the cyclic garbage collector once start-up is done (engine.commands.serve._tune_gc)."""

from __future__ import annotations

import gc

from engine.commands.serve import _tune_gc


def test_start_up_objects_are_frozen_and_the_young_generation_is_larger() -> None:
    before = gc.get_threshold()
    try:
        kept = [{"made": "at start-up"} for _ in range(100)]
        _tune_gc()
        assert gc.get_freeze_count() >= len(kept)  # what exists now is left out of later collections
        assert gc.get_threshold() == (10_000, before[1], before[2])
        assert gc.isenabled()  # cycles are still collected
        cycle: list[object] = []
        cycle.append(cycle)
        del cycle
        assert gc.collect() >= 1
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
