"""The batch window's rows of the benchmark summary: its ratios against each stage alone."""

from __future__ import annotations

from typing import Any

from offload.bench_report import figures_of, markdown

BATCH: dict[str, Any] = {
    "unit_rows": 10_000,
    "batch": {"units": 100, "rows": 1_000_000, "seconds": 50.0},
    "window_s": 80.0,
    "events_per_s": 12_500,
    "source_in_window_s": 49.5,
    "capture_s": 52.0,
    "writer_after_capture_s": 28.0,
    "cpu_pct": [{"process": "offload serve-writer", "cpu_pct": 97.0, "cpu_us_per_event": 77.6}],
    "machine_cpu_busy_pct": 99.0,
    "peak_rss_mib": {"capture": 200.0, "writer": 900.0},
    "source_alone": {"rows_per_s": 25_000, "seconds": 40.0, "cpu_us_per_event": 30.0},
    "capture_alone": {"events_per_s": 50_000, "cpu_us_per_event": 18.0},
    "capture_split_alone": {"events_per_s": 80_000, "cpu_us_per_event": 24.0},
    "raw_produce": {"events_per_s": 400_000, "sampled": 200_000},
    "apply_alone": {"events_per_s": 20_000, "cpu_us_per_event": 48.0},
}


def test_batch_window_figures_carry_each_stage_alone_as_ceiling() -> None:
    benchmarks = {"batch_window": {"status": "ok", "result": BATCH, "processes": []}}

    figures = {f["key"]: f for f in figures_of(benchmarks)}

    assert figures["batch_window.window_s"]["value"] == 80.0
    assert figures["batch_window.events_per_s"]["ratio"] == 0.5
    assert figures["batch_window.events_per_s_vs_capture"]["ratio"] == 0.25
    assert figures["batch_window.events_per_s_vs_apply"]["ratio"] == 0.625
    assert figures["batch_window.capture_split_events_per_s"]["ratio"] == 1.6
    assert figures["batch_window.capture_events_per_s_vs_raw"]["ratio"] == 0.125
    assert figures["batch_window.capture_split_events_per_s_vs_raw"]["ratio"] == 0.2
    older = {k: v for k, v in BATCH.items() if k not in ("capture_split_alone", "raw_produce")}
    before = {f["key"] for f in figures_of({"batch_window": {"status": "ok", "result": older}})}
    assert "batch_window.capture_split_events_per_s" not in before
    assert "batch_window.capture_events_per_s_vs_raw" not in before


def test_batch_window_summary_names_the_busiest_process_and_the_timings() -> None:
    benchmarks = {"batch_window": {"status": "ok", "result": BATCH, "processes": []}}
    results = {
        "suite": "full",
        "started_at": "2026-12-01 22:00 UTC",
        "command": "offload bench",
        "wall_s": 300.0,
        "host": {"cpus": 2, "load_average_start": 1.0, "git": "abc1234"},
        "sizes": {},
        "figures": figures_of(benchmarks),
        "benchmarks": benchmarks,
    }

    text = markdown(results)

    assert (
        "| batch window, 1,000,000 updates in 100 units of 10,000: first commit → read side's "
        "watermark at the last LSN | 80.00 s |  |  |"
    ) in text
    assert "capture made its last unit readable at 52.0 s" in text
    assert "offload serve-writer 97 % (78 µs/event)" in text
    assert "source 30 µs, capture 18 µs, apply 48 µs" in text
    assert "writer 900 MiB" in text
