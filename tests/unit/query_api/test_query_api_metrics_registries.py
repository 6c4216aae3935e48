"""/metrics serves the registries the entry point hands over beside the API's own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from prometheus_client import CollectorRegistry, Counter

from query_api.metrics import MULTIPROCESS_ENV, ApiMetrics


class _Store:
    def watermark(self) -> Any:
        return SimpleNamespace(lsn=7)


def test_extra_registries_are_rendered_after_the_apis_own() -> None:
    projection = CollectorRegistry()
    applied = Counter("offload_projection_events_applied", "Events.", registry=projection)
    applied.inc(3)
    text = ApiMetrics(_Store(), [projection]).render().decode()  # type: ignore[arg-type]
    assert "offload_api_watermark_lsn 7.0" in text
    assert "offload_projection_events_applied_total 3.0" in text
    assert text.index("offload_api_watermark_lsn") < text.index("offload_projection_events")


_WORKER = """
import sys
from types import SimpleNamespace
from prometheus_client import Counter, Gauge
from query_api.metrics import ApiMetrics

class Store:
    def watermark(self):
        return SimpleNamespace(lsn=int(sys.argv[2]))

metrics = ApiMetrics(Store())
for _ in range(int(sys.argv[1])):
    metrics.requests.labels("/orders/{order_id}", "GET", "200").inc()
    metrics.latency.labels("/orders/{order_id}").observe(0.003)
if sys.argv[3:] == ["sql"]:
    metrics.sql.labels("ok").inc()
Counter("offload_not_the_api", "Created in a worker, not the API's.").inc()
Gauge("offload_not_the_api_gauge", "Likewise.").set(5)
sys.stdout.write(metrics.render().decode())
"""


def _worker(env: dict[str, str], requests: int, lsn: int, *more: str) -> str:
    run = subprocess.run(
        [sys.executable, "-c", _WORKER, str(requests), str(lsn), *more],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return run.stdout


def test_workers_sharing_a_metrics_dir_each_render_the_sum_of_all(tmp_path: Path) -> None:
    env = {**os.environ, MULTIPROCESS_ENV: str(tmp_path)}
    first = _worker(env, 0, 40)
    # Listed with its help before any worker counted one, as a worker alone lists it.
    assert "# HELP offload_api_sql_queries_total POST /sql queries by outcome" in first
    assert "offload_api_sql_queries_total{" not in first
    _worker(env, 3, 41, "sql")
    _worker(env, 4, 41, "sql")  # the others have exited: their counts are kept
    text = _worker(env, 5, 42, "sql")
    route = 'route="/orders/{order_id}"'
    assert f'offload_api_requests_total{{method="GET",{route},status="200"}} 12.0' in text
    assert f"offload_api_request_seconds_count{{{route}}} 12.0" in text
    assert f'offload_api_request_seconds_bucket{{le="0.005",{route}}} 12.0' in text
    assert 'offload_api_sql_queries_total{outcome="ok"} 3.0' in text
    assert "# HELP offload_api_requests_total HTTP requests served" in text
    # The watermark is the rendering worker's own reading, once; nothing else leaks in.
    assert text.count("offload_api_watermark_lsn 42.0") == 1
    assert "offload_not_the_api" not in text
    assert "pid=" not in text


def test_a_worker_without_a_metrics_dir_renders_its_own_counts() -> None:
    env = {k: v for k, v in os.environ.items() if k != MULTIPROCESS_ENV}
    text = _worker(env, 2, 9)
    route = 'route="/orders/{order_id}"'
    assert f'offload_api_requests_total{{method="GET",{route},status="200"}} 2.0' in text
    assert "offload_api_watermark_lsn 9.0" in text
