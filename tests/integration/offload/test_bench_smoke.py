"""`offload bench` runs the whole suite (at its smallest sizes) and writes a well-formed result.

Not a performance test: no figure is compared with a limit, only checked to be measured.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from config import Settings

pytestmark = pytest.mark.kafka

RunOffload = Callable[..., subprocess.CompletedProcess[str]]

BENCHMARKS = {
    "cdc_publish",
    "projection_apply",
    "projection_loop",
    "batch_window",
    "reference_load",
    "query_api",
    "freshness",
}
FIGURES_WITH_CEILING = {
    "cdc_publish.events_per_s",
    "cdc_publish.events_per_s_vs_txn",
    "projection_apply.events_per_s",
    "batch_window.events_per_s",
    "batch_window.events_per_s_vs_capture",
    "batch_window.events_per_s_vs_apply",
    "reference_load.records_per_s",
    "reference_load.records_per_s_vs_produce",
    "query.offload_ratio",
    "freshness.achieved_uow_per_s",
}
FIGURES_ALONE = {
    "projection_loop.events_per_s",
    "rebuild.source_rows_per_s",
    "batch_window.window_s",
    "batch_window.capture_s",
    "freshness.p50_ms",
    "freshness.p99_ms",
    "freshness.max_ms",
    "query.order.p50_ms",
    "query.order.p99_ms",
    "query.cold-chain-legs.p99_ms",
}


def _positive(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0


def test_bench_smoke_writes_results_and_summary(
    kafka_settings: Settings, run_offload: RunOffload, tmp_path: Path
) -> None:
    out = tmp_path / "results"

    done = run_offload(kafka_settings, "bench", "--smoke", "--out", str(out))

    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    results = json.loads((out / "results.json").read_text())
    assert results["suite"] == "smoke"
    assert results["ok"] is True
    assert set(results["benchmarks"]) == BENCHMARKS
    for name, entry in results["benchmarks"].items():
        assert entry["status"] == "ok", (name, entry.get("error"))
        assert entry["processes"], name
        assert all(_positive(p["peak_rss_mib"]) for p in entry["processes"]), name
    figures = {f["key"]: f for f in results["figures"]}
    assert set(figures) >= FIGURES_WITH_CEILING | FIGURES_ALONE
    for key, row in figures.items():
        assert _positive(row["value"]), (key, row)
    for key in FIGURES_WITH_CEILING:
        assert _positive(figures[key]["ceiling"]["value"]), key
        assert _positive(figures[key]["ratio"]), key
    summary = (out / "summary.md").read_text()
    assert summary.startswith("## Offload benchmark (smoke)")
    assert "| figure | value | ceiling or baseline, same run | ratio |" in summary
    assert summary.strip() in done.stdout
