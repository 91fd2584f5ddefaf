"""The collector settings of a serving process (engine.server.collector), checked in a fresh interpreter so this
test process keeps its own."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from engine.server.collector import OLDER_THRESHOLDS, YOUNG_THRESHOLD

PROBE = textwrap.dedent("""
    import gc, json, weakref
    from engine.server.collector import settle_for_serving

    class Node:
        pass

    kept = [[n] for n in range(100)]  # containers alive when serving starts
    a, b = Node(), Node()
    a.other, b.other = b, a  # a cycle that start-up left behind
    gone = weakref.ref(a)
    del a, b
    gc.disable()  # nothing may collect it before the call
    frozen_before = gc.get_freeze_count()
    settle_for_serving()
    print(json.dumps({"threshold": gc.get_threshold(), "frozen_before": frozen_before,
                      "frozen_after": gc.get_freeze_count(), "cycle_freed": gone() is None,
                      "kept_tracked": gc.is_tracked(kept[0])}))
""")


def test_settling_frees_start_up_cycles_freezes_the_rest_and_raises_the_young_threshold() -> None:
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60, check=True)
    seen = json.loads(done.stdout)
    assert seen["threshold"] == [YOUNG_THRESHOLD, *OLDER_THRESHOLDS]
    assert YOUNG_THRESHOLD > 700  # above CPython's default, or the change does nothing
    assert seen["cycle_freed"], "a cycle left by start-up must be collected, not frozen for the process's life"
    assert seen["frozen_before"] == 0 and seen["frozen_after"] > 100  # the live objects, `kept` among them
    assert seen["kept_tracked"]
