"""Counters, gauges and latency histograms in the Prometheus text format (no client library needed).

Names (all prefixed `engine_`):
    events_received_total{source}           events accepted (durably queued) from a source
    requests_rejected_total{code}           HTTP requests refused (400, 401, 413, 503)
    jobs_enqueued_total{instance}            jobs created: one per (new event, enabled instance); a deduplicated resend is none
    jobs_delivered_total{instance}           jobs whose event the destination accepted
    jobs_filtered_total{instance}            jobs that no subscription wanted (integrations object, triggers)
    jobs_invalid_total{instance}             jobs whose mapped payload failed validation (dead-lettered)
    jobs_failed_total{instance}              jobs dead-lettered after a permanent error or retries exhausted
    jobs_retried_total{instance}             jobs put back into the queue to be tried later
    queue_depth{instance}                    jobs waiting or leased (gauge, read at scrape time)
    dead_letters{instance}                   dead letters kept (gauge, read at scrape time)
    delivery_seconds{instance}               time to deliver one job (histogram, every attempt)
"""

from __future__ import annotations

import bisect
import itertools
import threading
from collections import defaultdict
from collections.abc import Mapping

PREFIX = "engine_"
BUCKETS: tuple[float, ...] = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)

COUNTERS: dict[str, tuple[str, str]] = {
    # name: (label, help)
    "events_received_total": ("source", "Events accepted and durably queued, per source."),
    "requests_rejected_total": ("code", "HTTP requests refused, per status code."),
    "jobs_enqueued_total": ("instance", "Jobs created (one per accepted event and enabled instance)."),
    "jobs_delivered_total": ("instance", "Jobs delivered to the destination."),
    "jobs_filtered_total": ("instance", "Jobs no subscription wanted (integrations object, event type, triggers)."),
    "jobs_invalid_total": ("instance", "Jobs whose payload failed validation; dead-lettered."),
    "jobs_failed_total": ("instance", "Jobs dead-lettered after a permanent error or when retries ran out."),
    "jobs_retried_total": ("instance", "Jobs put back into the queue to be retried later."),
}


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _num(value: float) -> str:
    if value == float("inf"):
        return "+Inf"
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


class Histogram:
    def __init__(self, buckets: tuple[float, ...] = BUCKETS) -> None:
        self.buckets = buckets
        self._own = [0] * len(buckets)  # observations in each bucket and no lower one
        self.total = 0
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.total += 1
        self.sum += value
        i = bisect.bisect_left(self.buckets, value)  # the first bucket whose bound is >= value; counted there only
        if i < len(self._own):
            self._own[i] += 1

    @property
    def counts(self) -> list[int]:
        """Cumulative counts per bucket (observations <= each bound), as Prometheus shows them."""
        return list(itertools.accumulate(self._own))


class Metrics:
    """Thread-safe counters and histograms; `render(gauges)` gives the Prometheus exposition text."""

    def __init__(self, instances: list[str] | None = None) -> None:
        self._lock = threading.Lock()
        self.counters: dict[str, dict[str, float]] = {name: defaultdict(float) for name in COUNTERS}
        self.latency: dict[str, Histogram] = {}
        for instance in instances or []:  # show every instance from the start, at zero
            for name, (label, _) in COUNTERS.items():
                if label == "instance":
                    self.counters[name][instance] += 0
            self.latency[instance] = Histogram()

    def inc(self, name: str, label: str, amount: float = 1) -> None:
        with self._lock:
            self.counters[name][label] += amount

    def get(self, name: str, label: str) -> float:
        with self._lock:
            return self.counters[name].get(label, 0.0)

    def observe(self, instance: str, seconds: float) -> None:
        with self._lock:
            hist = self.latency.get(instance)
            if hist is None:
                hist = self.latency[instance] = Histogram()
            hist.observe(seconds)

    def render(self, gauges: Mapping[str, tuple[str, Mapping[str, float]]] | None = None) -> str:
        """The text format 0.0.4. `gauges`: name -> (help, {instance: value})."""
        lines: list[str] = []
        with self._lock:
            for name, (label, help_text) in COUNTERS.items():
                full = PREFIX + name
                lines += [f"# HELP {full} {help_text}", f"# TYPE {full} counter"]
                for value_label, value in sorted(self.counters[name].items()):
                    lines.append(f'{full}{{{label}="{_escape(value_label)}"}} {_num(value)}')
            for name, (help_text, values) in (gauges or {}).items():
                full = PREFIX + name
                lines += [f"# HELP {full} {help_text}", f"# TYPE {full} gauge"]
                for instance, value in sorted(values.items()):
                    lines.append(f'{full}{{instance="{_escape(instance)}"}} {_num(value)}')
            full = PREFIX + "delivery_seconds"
            lines += [f"# HELP {full} Time to deliver one job (all its requests and in-process retries).",
                      f"# TYPE {full} histogram"]
            for instance, hist in sorted(self.latency.items()):
                inst = _escape(instance)
                for bound, count in zip(hist.buckets, hist.counts, strict=True):
                    lines.append(f'{full}_bucket{{instance="{inst}",le="{_num(bound)}"}} {count}')
                lines.append(f'{full}_bucket{{instance="{inst}",le="+Inf"}} {hist.total}')
                lines.append(f'{full}_sum{{instance="{inst}"}} {repr(hist.sum)}')
                lines.append(f'{full}_count{{instance="{inst}"}} {hist.total}')
        return "\n".join(lines) + "\n"
