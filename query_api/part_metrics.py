"""Prometheus metrics of the supervised parts: restarts and whether each part runs.

`offload run` and `offload serve` supervise their parts (capture, the projection writer, the
serving workers, the reference scheduler) and write what they know to
`<data_dir>/{run,serve}/state.json`; `query_api.console.parts` reads it. This collector turns
the live supervisor's file into two metric families at each scrape (nothing is written):

- `offload_part_restarts_total{part}`: restarts since the supervisor started (a counter that
  starts again at 0 when the supervisor itself restarts, which PromQL's `increase` handles);
- `offload_part_running{part}`: 1 while the part runs, 0 otherwise (backoff, stopped, gone).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from query_api.console.parts import supervised_parts


class PartsCollector(Collector):
    """Reads the supervisor's state file at each scrape.

    Args:
        data_dir: the gateway's data directory (`runtime.data_dir`).
    """

    def __init__(self, data_dir: Path) -> None:
        self._data_dir = data_dir

    def collect(self) -> Iterator[Metric]:
        """The two families; without a supervisor, declared with no samples."""
        restarts = CounterMetricFamily(
            "offload_part_restarts",
            "Restarts of each supervised part since its supervisor started.",
            labels=["part"],
        )
        running = GaugeMetricFamily(
            "offload_part_running",
            "1 while the supervised part runs, 0 otherwise.",
            labels=["part"],
        )
        found = supervised_parts(self._data_dir)
        for part in found["parts"]:
            name = str(part["name"])
            restarts.add_metric([name], float(part.get("restarts") or 0))
            running.add_metric([name], 1.0 if part.get("state") == "running" else 0.0)
        yield restarts
        yield running


def parts_registry(data_dir: Path) -> CollectorRegistry:
    """A registry holding only the parts' collector (for `/metrics`)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(PartsCollector(data_dir))
    return registry
