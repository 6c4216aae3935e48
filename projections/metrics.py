"""Prometheus metrics of the projection writer, on a registry of its own.

The query API's /metrics serves them when the entry point combines the registries (expose
`ProjectionMetrics.registry`, or register its collectors in another registry).
"""

from __future__ import annotations

import time
from collections import deque

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from projections.applier import BatchResult


class ProjectionMetrics:
    """Applied events and units, batch times, errors, watermark, lag, held events.

    Args:
        registry: where to register; a new one by default.
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        r = self.registry
        self.events = Counter(
            "offload_projection_events_applied", "Change and reference events applied.", registry=r
        )
        self.units = Counter(
            "offload_projection_units_applied", "Units of work applied.", registry=r
        )
        self.batches = Counter("offload_projection_batches", "Batches committed.", registry=r)
        self.batch_seconds = Histogram(
            "offload_projection_batch_seconds",
            "Time of one batch's DuckDB transaction.",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=r,
        )
        self.errors = Counter(
            "offload_projection_errors",
            "Records sent to the error table, by kind.",
            ("kind",),
            registry=r,
        )
        self.watermark_lsn = Gauge(
            "offload_projection_watermark_lsn", "Highest source LSN applied.", registry=r
        )
        self.watermark_time = Gauge(
            "offload_projection_watermark_commit_seconds",
            "Source commit time of the watermark, seconds since the epoch.",
            registry=r,
        )
        self.head_lsn = Gauge(
            "offload_projection_head_lsn", "Newest LSN seen published (END markers).", registry=r
        )
        self.lag_lsn = Gauge(
            "offload_projection_lag_lsn", "Published LSN minus the watermark.", registry=r
        )
        self.lag_seconds = Gauge(
            "offload_projection_lag_seconds",
            "Commit time of the newest published LSN minus the watermark's.",
            registry=r,
        )
        self.rate = Gauge(
            "offload_projection_events_per_second",
            "Events applied per second over the last minute.",
            registry=r,
        )
        self.held = Gauge(
            "offload_projection_held_events", "Events waiting for their unit of work.", registry=r
        )
        self.paused = Gauge(
            "offload_projection_paused_partitions", "Partitions paused by flow control.", registry=r
        )
        self._window: deque[tuple[float, int]] = deque()

    def batch(self, result: BatchResult) -> None:
        """Account one committed batch."""
        self.events.inc(result.events)
        self.units.inc(result.units)
        self.batches.inc()
        self.batch_seconds.observe(result.seconds)
        now = time.monotonic()
        self._window.append((now, result.events))
        while self._window and now - self._window[0][0] > 60:
            self._window.popleft()
        self.rate.set(self.events_per_second())

    def events_per_second(self) -> float:
        """Events applied per second over the last minute (0 before two batches)."""
        if len(self._window) < 2:
            return 0.0
        span = self._window[-1][0] - self._window[0][0]
        total = sum(n for _, n in list(self._window)[1:])
        return total / span if span > 0 else 0.0

    def lag(
        self, watermark_lsn: int, watermark_s: float | None, head: tuple[int, float] | None
    ) -> None:
        """Set the watermark and lag gauges (`head` = published (LSN, commit seconds))."""
        self.watermark_lsn.set(watermark_lsn)
        if watermark_s is not None:
            self.watermark_time.set(watermark_s)
        if head is not None:
            self.head_lsn.set(head[0])
            self.lag_lsn.set(max(head[0] - watermark_lsn, 0))
            if watermark_s is not None:
                self.lag_seconds.set(max(head[1] - watermark_s, 0.0))
