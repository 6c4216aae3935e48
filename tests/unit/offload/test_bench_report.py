"""The benchmark summary: ratios against ceilings, the Markdown rows, failures, process labels."""

from __future__ import annotations

from typing import Any

from offload.bench_procs import label_from_args
from offload.bench_report import figure, figures_of, markdown

CDC = {
    "events": 1000,
    "key_bytes": 7,
    "value_bytes": 250,
    "events_per_transaction": 20000,
    "cdc_median": 25_000,
    "raw_median": 100_000,
    "raw_txn_median": 50_000,
}


def _results(benchmarks: dict[str, Any]) -> dict[str, Any]:
    return {
        "suite": "quick",
        "started_at": "2026-11-26 16:00 UTC",
        "command": "offload bench --quick",
        "wall_s": 90.0,
        "host": {"cpus": 2, "load_average_start": 1.5, "git": "abc1234"},
        "sizes": {"cdc_transactions": 1000},
        "figures": figures_of(benchmarks),
        "benchmarks": benchmarks,
    }


def test_a_figure_with_a_ceiling_carries_the_ratio_of_value_to_ceiling() -> None:
    row = figure("k", "label", 25.0, "events/s", ceiling=("raw", 100.0, "msg/s"))

    assert row["ratio"] == 0.25
    assert row["ceiling"] == {"label": "raw", "value": 100.0, "unit": "msg/s"}


def test_a_figure_without_a_ceiling_has_no_ratio() -> None:
    assert "ratio" not in figure("k", "label", 5.0, "ms")


def test_cdc_figures_are_rendered_with_their_ceilings_and_ratios() -> None:
    benchmarks = {"cdc_publish": {"status": "ok", "result": CDC, "processes": []}}

    text = markdown(_results(benchmarks))

    assert (
        "| CDC publish (1,000 events, transactional) | 25,000 events/s | librdkafka raw "
        "idempotent produce, 7 B keys, 250 B values: 100,000 msg/s | 0.250 |"
    ) in text
    assert "librdkafka raw produce, 1 transaction per 20,000" in text
    assert "| 0.500 |" in text


def test_a_failed_benchmark_is_listed_and_gives_no_figures() -> None:
    benchmarks = {
        "cdc_publish": {"status": "failed", "error": "exit 1: boom", "log": "/x.log"},
    }

    results = _results(benchmarks)

    assert results["figures"] == []
    assert "- cdc_publish: exit 1: boom (log /x.log)" in markdown(results)


def test_peak_memory_rows_name_each_process() -> None:
    processes = [{"process": "offload serve", "count": 1, "peak_rss_mib": 280.4}]
    benchmarks = {"cdc_publish": {"status": "ok", "result": CDC, "processes": processes}}

    assert "| cdc_publish | offload serve | 280 MiB |" in markdown(_results(benchmarks))


def test_process_labels_come_from_the_command_line() -> None:
    assert label_from_args(["python", "-m", "offload", "--config", "c.toml", "cdc", "run"]) == (
        "offload cdc run"
    )
    assert label_from_args(["python", "-m", "offload", "simulate", "--transactions", "5"]) == (
        "offload simulate"
    )
    assert label_from_args(["python", "benchmarks/bench_x.py", "--runs", "1"]) == "bench_x.py"
    assert label_from_args(["java", "-Xmx1g", "kafka.Kafka", "server.properties"]) == (
        "kafka broker (java)"
    )
