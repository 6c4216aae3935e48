"""Prometheus metrics of one app instance, on its own registry (no process-wide state).

Serving workers of one read tier share a port: each scrape reaches one of them. When the
supervisor gives the workers a `PROMETHEUS_MULTIPROC_DIR` (`offload serve`, `offload run`),
prometheus_client keeps each worker's counters and histograms in files there, and /metrics
answers with the sum over every worker of the tier (a restarted worker's counts are kept,
so Prometheus sees no reset); otherwise with this process's own.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from contextlib import suppress
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from query_api.errors import QueryApiError
from query_api.store import ReadStore

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
"""Where prometheus_client keeps the metrics of processes that share them (read at import)."""

_WATERMARK = ("offload_api_watermark_lsn", "The watermark LSN the API currently serves.")


class ApiMetrics:
    """Request counts and latencies, /sql outcomes, and the served watermark.

    Args:
        store: the read store (its watermark is a gauge, read at each render).
        extra: other registries /metrics serves too (the projection's, when the serving
            process also hosts the writer); their metric names must not clash with these.
        more: returns more text exposition to append (a serving worker: the writer's
            metrics, fetched from its read server); left out while it cannot be had.
    """

    def __init__(
        self,
        store: ReadStore,
        extra: Sequence[CollectorRegistry] = (),
        more: Callable[[], bytes] | None = None,
    ) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._extra = tuple(extra)
        self._more = more
        self.requests = Counter(
            "offload_api_requests",
            "HTTP requests served, by route template, method and status.",
            ("route", "method", "status"),
            registry=self.registry,
        )
        self.latency = Histogram(
            "offload_api_request_seconds",
            "Time to answer an HTTP request, by route template.",
            ("route",),
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10),
            registry=self.registry,
        )
        self.sql = Counter(
            "offload_api_sql_queries",
            "POST /sql queries by outcome (ok, refused, failed, timeout, busy).",
            ("outcome",),
            registry=self.registry,
        )
        watermark = _Watermark(store)
        shared = os.environ.get(MULTIPROCESS_ENV)
        if shared:
            # The metrics above live in the shared files: render the sum of every worker's
            # (only these: others a worker may create are not the API's), and the watermark,
            # which every worker reads alike, from this one.
            self._rendered = CollectorRegistry()
            self._rendered.register(_Workers(Path(shared), self.registry))
            self._rendered.register(watermark)
        else:
            self.registry.register(watermark)
            self._rendered = self.registry

    def render(self) -> bytes:
        """The text exposition of every metric."""
        text = b"".join(generate_latest(r) for r in (self._rendered, *self._extra))
        if self._more is not None:
            # While the writer is down, a worker serves its own metrics only.
            with suppress(QueryApiError):
                text += self._more()
        return text


class _Watermark(Collector):
    """The served watermark, read when collected (a multiprocess gauge cannot call a function)."""

    def __init__(self, store: ReadStore) -> None:
        self._store = store

    def describe(self) -> Iterable[Metric]:
        return [GaugeMetricFamily(*_WATERMARK)]

    def collect(self) -> Iterable[Metric]:
        return [GaugeMetricFamily(*_WATERMARK, value=float(self._store.watermark().lsn))]


class _Workers(Collector):
    """The metrics of `registry`, each summed over every process that wrote it under `path`,
    with its own help text, and listed (with no sample) before any process wrote it."""

    def __init__(self, path: Path, registry: CollectorRegistry) -> None:
        self._files = MultiProcessCollector(None, str(path))
        self._own = [(m.name, m.documentation, m.type) for m in registry.collect()]

    def collect(self) -> Iterable[Metric]:
        summed = {m.name: m.samples for m in self._files.collect()}
        families = []
        for name, documentation, kind in self._own:
            family = Metric(name, documentation, kind)
            family.samples = summed.get(name, [])
            families.append(family)
        return families
