"""The query API benchmark's figures and Markdown section: one column per serving configuration."""

from __future__ import annotations

from typing import Any

from offload.bench_report import figures_of, markdown


def _configuration(workers: int, serving: str, order_p50: float) -> dict[str, Any]:
    return {
        "workers": workers,
        "serving": serving,
        "rounds": 2,
        "queries": {
            "order": {"n": 800, "p50_ms": order_p50, "p99_ms": 40.0},
            "cold-chain-legs": {"n": 800, "p50_ms": 30.0, "p99_ms": 60.0},
        },
        "requests_per_s": 120.0,
        "ingest_uow_per_s": 950.0,
        "writer_busy_pct": 40.0,
        "errors": 0,
        "cpu_pct": {
            "writer": 90.0,
            "workers": 30.0 * workers,
            "load_generator": 2.0,
            "rest_of_machine": 10.0,
            "machine_busy_pct": 70.0,
        },
        "load_generator_cpu_us_per_request": 160.0,
        "requests_by_worker": [[500, 300], [450, 350]] if workers == 2 else [[800], [800]],
        "load_average": [[2.0, 2.5], [2.5, 3.0]],
    }


QUERY = {
    "clients": 8,
    "seconds": 8.0,
    "warmup_s": 2.0,
    "rounds": 2,
    "orders": 2000,
    "readings": 200_000,
    "ingest_target_uow_per_s": 1000,
    "load_generator": {"http": "raw", "loop": "uvloop", "processes": 1},
    "configurations": [
        _configuration(0, "in-process", 10.0),
        _configuration(2, "2 serving workers", 12.0),
    ],
    "offload_ratio": {
        "legs": 500,
        "same_answer": True,
        "sor_sql_ms": 700.0,
        "api_ms": 20.0,
        "ratio": 35.0,
        "samples": 15,
    },
}


def _results() -> dict[str, Any]:
    benchmarks = {"query_api": {"status": "ok", "result": QUERY, "processes": []}}
    return {
        "suite": "quick",
        "started_at": "2026-11-26 16:00 UTC",
        "command": "offload bench --quick",
        "wall_s": 90.0,
        "host": {"cpus": 2, "load_average_start": 1.5, "git": "abc1234"},
        "sizes": {"query_orders": 2000, "query_workers": "0,2"},
        "figures": figures_of(benchmarks),
        "benchmarks": benchmarks,
    }


def test_the_last_configuration_keeps_the_plain_keys_and_the_others_are_prefixed() -> None:
    figures = {f["key"]: f for f in _results()["figures"]}

    assert figures["query.order.p50_ms"]["value"] == 12.0
    assert figures["query.in_process.order.p50_ms"]["value"] == 10.0
    assert figures["query.requests_per_s"]["unit"] == "requests/s"
    assert figures["query.offload_ratio"]["ratio"] == 35.0
    assert figures["query.order.p50_ms"]["label"] == (
        "query `order` p50 (2 serving workers, 8 connections, ingesting 950 uow/s)"
    )


def test_the_section_has_one_column_per_configuration() -> None:
    text = markdown(_results())

    assert "| | in-process | 2 serving workers |" in text
    assert "| `order` p50 / p99 ms | 10.00 / 40.00 | 12.00 / 40.00 |" in text
    assert "| CPU load generator | 2 % | 2 % |" in text
    assert "| requests by worker (each round) | 800; 800 | 500, 300; 450, 350 |" in text
    assert "Sizes: query_orders 2,000, query_workers 0,2" in text
