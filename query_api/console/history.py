"""The console's chart history: a ring buffer of samples of /metrics, kept by each worker.

Why in the worker and not the writer: the samples are the very /metrics text a worker serves
(its own API counters plus the writer's registries, which it fetches over the read server), so
no new data path is needed and the writer's hot loop gains nothing to do. The writer's series
(events applied, LSNs, lag) are the same for every worker; the API series (requests, latency,
errors) are those of the worker that samples them (a browser's keep-alive connection stays on
one worker). A worker restarted starts an empty hour.

One sample every `interval_s` (5 s): 720 of them make the last hour.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from prometheus_client.parser import text_string_to_metric_families
from starlette.concurrency import run_in_threadpool

logger = logging.getLogger(__name__)

HOUR_S = 3600.0


@dataclass(frozen=True, slots=True)
class Sample:
    """Cumulative counters and gauges read from one /metrics text, at `at` (epoch seconds)."""

    at: float
    events_applied: float
    units_applied: float
    head_lsn: float
    watermark_lsn: float
    lag_seconds: float | None
    requests: float
    server_errors: float
    projection_errors: float
    latency_sum: float
    latency_count: float
    latency_buckets: tuple[tuple[float, float], ...]


def parse_sample(text: str, at: float) -> Sample:
    """The figures of one /metrics text exposition (missing metrics count as 0)."""
    values: dict[str, float] = {}
    requests = server_errors = 0.0
    buckets: dict[float, float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == "offload_api_requests_total":
                requests += s.value
                if s.labels.get("status", "").startswith("5"):
                    server_errors += s.value
            elif s.name == "offload_api_request_seconds_bucket":
                bound = float(s.labels["le"])
                buckets[bound] = buckets.get(bound, 0.0) + s.value
            else:
                values[s.name] = values.get(s.name, 0.0) + s.value
    lag = values.get("offload_projection_lag_seconds")
    return Sample(
        at=at,
        events_applied=values.get("offload_projection_events_applied_total", 0.0),
        units_applied=values.get("offload_projection_units_applied_total", 0.0),
        head_lsn=values.get("offload_projection_head_lsn", 0.0),
        watermark_lsn=values.get("offload_projection_watermark_lsn", 0.0),
        lag_seconds=None if lag is None or math.isnan(lag) else lag,
        requests=requests,
        server_errors=server_errors,
        projection_errors=values.get("offload_projection_errors_total", 0.0),
        latency_sum=values.get("offload_api_request_seconds_sum", 0.0),
        latency_count=values.get("offload_api_request_seconds_count", 0.0),
        latency_buckets=tuple(sorted(buckets.items())),
    )


def _quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]


def _bucket_quantile(
    before: tuple[tuple[float, float], ...], after: tuple[tuple[float, float], ...], q: float
) -> float | None:
    """The upper bound of the histogram bucket holding quantile `q` of the requests between
    two samples (Prometheus' buckets are cumulative)."""
    old = dict(before)
    deltas = [(bound, count - old.get(bound, 0.0)) for bound, count in after]
    total = deltas[-1][1] if deltas else 0.0
    if total <= 0:
        return None
    for bound, count in deltas:
        if count >= q * total:
            return None if math.isinf(bound) else bound
    return None


def _point(prev: Sample, cur: Sample, lags: list[float]) -> dict[str, Any]:
    span = cur.at - prev.at
    requests = cur.requests - prev.requests
    latency = cur.latency_sum - prev.latency_sum
    count = cur.latency_count - prev.latency_count
    return {
        "t": round(cur.at, 3),
        "applied_events_s": max(0.0, (cur.events_applied - prev.events_applied) / span),
        "applied_units_s": max(0.0, (cur.units_applied - prev.units_applied) / span),
        "captured_lsn_s": max(0.0, (cur.head_lsn - prev.head_lsn) / span),
        "freshness_p50_s": _quantile(lags, 0.5),
        "freshness_p99_s": _quantile(lags, 0.99),
        "requests_s": max(0.0, requests / span),
        "latency_mean_ms": None if count <= 0 else 1000 * latency / count,
        "latency_p99_ms": _scaled(
            _bucket_quantile(prev.latency_buckets, cur.latency_buckets, 0.99)
        ),
        "errors": max(0.0, cur.server_errors - prev.server_errors)
        + max(0.0, cur.projection_errors - prev.projection_errors),
    }


def _scaled(seconds: float | None) -> float | None:
    return None if seconds is None else 1000 * seconds


def series(samples: Iterable[Sample], window: int = 12) -> list[dict[str, Any]]:
    """Chart points from consecutive samples: rates between neighbours, and freshness p50/p99
    of the projection's lag over the last `window` samples (a minute at 5 s)."""
    items = list(samples)
    points: list[dict[str, Any]] = []
    for i in range(1, len(items)):
        if items[i].at <= items[i - 1].at:
            continue
        recent = items[max(0, i - window + 1) : i + 1]
        lags = [s.lag_seconds for s in recent if s.lag_seconds is not None]
        points.append(_point(items[i - 1], items[i], lags))
    return points


class History:
    """The last hour of samples of one /metrics source.

    Args:
        render: returns the /metrics text (the app's `ApiMetrics.render`).
        interval_s: seconds between samples.
        clock: epoch seconds (tests pass their own).
    """

    def __init__(
        self,
        render: Callable[[], bytes],
        interval_s: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.interval_s = interval_s
        self._render = render
        self._clock = clock
        self._samples: deque[Sample] = deque(maxlen=int(HOUR_S / interval_s) + 1)

    def sample(self) -> None:
        """Take one sample now (blocking: a worker fetches the writer's metrics)."""
        text = self._render().decode("utf-8", errors="replace")
        self._samples.append(parse_sample(text, self._clock()))

    def points(self) -> list[dict[str, Any]]:
        """The chart points of the last hour, oldest first."""
        horizon = self._clock() - HOUR_S
        return series(s for s in self._samples if s.at >= horizon)

    async def run(self) -> None:
        """Sample every `interval_s` until cancelled (a task of the app's lifespan)."""
        while True:
            try:
                await run_in_threadpool(self.sample)
            except Exception as exc:  # a sample missed is a gap in a chart, not an outage
                logger.warning("console history: sample failed: %s", exc)
            await asyncio.sleep(self.interval_s)
