"""Prometheus metrics of a running capture: the figures of `cdc status`, kept current.

`CaptureMetrics` owns its `CollectorRegistry` (never the global one), so the entry point
serves it (`prometheus_client.start_http_server(port, registry=metrics.registry)`) and tests
read it without interference.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Mapping

from prometheus_client import CollectorRegistry, Gauge

from cdc_ingest.positions import CapturePosition

_WINDOW_S = 60.0


class CaptureMetrics:
    """Gauges updated after each committed Kafka transaction."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.last_lsn = Gauge("offload_cdc_last_published_lsn", "Last LSN published", registry=r)
        self.newest_lsn = Gauge(
            "offload_cdc_source_newest_lsn", "Newest LSN of the system of record", registry=r
        )
        self.lag_lsn = Gauge("offload_cdc_lag_lsn", "Newest LSN minus last published", registry=r)
        self.lag_seconds = Gauge(
            "offload_cdc_lag_seconds", "Age of the last published unit while behind", registry=r
        )
        self.events_total = Gauge(
            "offload_cdc_events_published", "Change events published in total", registry=r
        )
        self.events_rate = Gauge(
            "offload_cdc_events_per_second", "Events/s over the last minute", registry=r
        )
        self.schema_version = Gauge(
            "offload_cdc_table_schema_version", "Latest value schema version", ["table"], registry=r
        )
        self.blocked = Gauge(
            "offload_cdc_table_waiting",
            "1 while the table waits on an incompatible schema change",
            ["table"],
            registry=r,
        )
        self.bulk_units = Gauge(
            "offload_cdc_bulk_units",
            "Large units of work (or pieces of one) encoded a column at a time",
            registry=r,
        )
        self.bulk_declined = Gauge(
            "offload_cdc_bulk_declined_units",
            "Large units of work the column path left to the per-event path (reasons logged)",
            registry=r,
        )
        self._window: deque[tuple[float, int]] = deque()

    def observe(
        self,
        state: CapturePosition,
        newest_lsn: int,
        versions: Mapping[str, int | None],
        bulk_units: int = 0,
        bulk_declined: int = 0,
    ) -> None:
        """Take in a committed position, the source's newest LSN, the schema versions and the
        counts of large units by encoding path since the process started."""
        now = time.time()
        self.bulk_units.set(bulk_units)
        self.bulk_declined.set(bulk_declined)
        self.last_lsn.set(state.lsn if state.lsn < 2**62 else 0)
        newest = max(newest_lsn, 0)
        self.newest_lsn.set(newest)
        lag = max(newest - state.lsn, 0)
        self.lag_lsn.set(lag)
        self.lag_seconds.set(max(now - state.commit_ms / 1000, 0) if lag else 0)
        self.events_total.set(state.events)
        self._window.append((now, state.events))
        while self._window and self._window[0][0] < now - _WINDOW_S:
            self._window.popleft()
        first = self._window[0]
        span = max(now - first[0], 1.0)
        self.events_rate.set((state.events - first[1]) / span)
        for name, table in state.tables.items():
            self.blocked.labels(name).set(1 if table.status == "blocked" else 0)
            version = versions.get(name)
            if version is not None:
                self.schema_version.labels(name).set(version)
