"""Prometheus metrics of one app instance, on its own registry (no process-wide state)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import suppress

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from query_api.errors import QueryApiError
from query_api.store import ReadStore


class ApiMetrics:
    """Request counts and latencies, /sql outcomes, and the served watermark.

    Args:
        store: the read store (its watermark is a gauge).
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
        watermark = Gauge(
            "offload_api_watermark_lsn",
            "The watermark LSN the API currently serves.",
            registry=self.registry,
        )
        watermark.set_function(lambda: float(store.watermark().lsn))

    def render(self) -> bytes:
        """The text exposition of every metric."""
        text = b"".join(generate_latest(r) for r in (self.registry, *self._extra))
        if self._more is not None:
            # While the writer is down, a worker serves its own metrics only.
            with suppress(QueryApiError):
                text += self._more()
        return text
