"""The benchmark suite: its benchmarks in order, their sizes, and one run's identity.

Benchmarks and their sizes (full / --quick / --smoke):

- cdc_publish: `cdc run` events/s vs librdkafka's raw produce of same-sized messages;
  simulator units of work 4,000 (~240,000 events) x 3 runs / 1,000 x 1 / 300 x 1.
- projection_apply: applier events/s (mirrors + views) vs DuckDB's raw Arrow insert of the
  same rows; 200,000 events x 3 runs / 50,000 x 1 / 20,000 x 1.
- projection_loop: real Kafka loop events/s, view rebuild source rows/s, peak RSS;
  20,000 units of work / 1,000 / 500.
- batch_window: a batch job's updates from its first commit until the read side's watermark
  reaches its last, with `offload run` capturing and applying, beside the source alone,
  capture alone and apply alone on the same batch; 1,000,000 updates in units of 10,000 on
  the base of 3,000 simulator units of work / 100,000 in units of 10,000 on 1,000 / 3,000 in
  units of 1,000 on 300.
- reference_load: records/s of an EBCDIC extract end to end vs decode-only and raw produce;
  1,000,000 records x 3 runs / 100,000 x 1 / 20,000 x 1.
- query_api: p50/p99 of each named query and requests/s, 8 keep-alive connections from one
  asyncio load generator, while the writer applies 1,000 uow/s, served in-process and by 1 and
  2 serving workers (smoke: in-process and 2), and the offload ratio; 100,000 orders and
  10,000,000 readings for 20 s each (the built data is cached in `<data_dir>/bench/cache`) /
  2,000 and 100,000 for 5 s / 1,000 and 50,000 for 3 s.
- freshness: commit → API answer with `offload run` serving, 1,000 uow/s of 5 rows for 60 s,
  then up to 3 lower rates for 20 s each if it cannot keep up / 10 s, 1 lower rate for 5 s /
  4 s, none.

Every benchmark but freshness is a script in `benchmarks/` run as a subprocess (each writing its
figures with `--json-out`); freshness drives `offload run` from this process
(`offload.bench_freshness`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BENCHMARKS = REPO / "benchmarks"
"""The benchmark scripts: `offload bench` runs from a source checkout."""

TITLES = {
    "cdc_publish": "CDC publish vs raw produce",
    "projection_apply": "projection apply vs raw Arrow insert",
    "projection_loop": "projection loop from Kafka and view rebuild",
    "batch_window": "batch window: a batch job's updates to the read side",
    "reference_load": "reference load of an EBCDIC extract",
    "query_api": "query API under load and the offload ratio",
    "freshness": "end-to-end freshness with `offload run`",
}
"""Every benchmark of the suite, in the order it runs, with its title."""


@dataclass(frozen=True, slots=True)
class Sizes:
    """The sizes of one suite (see the module docstring)."""

    cdc_transactions: int
    cdc_runs: int
    apply_events: int
    apply_runs: int
    loop_transactions: int
    reference_records: int
    reference_runs: int
    query_orders: int
    query_readings: int
    query_seconds: int
    query_ratio_runs: int
    query_workers: str
    fresh_rate: int
    fresh_seconds: int
    fresh_base_units: int
    fresh_fallback_steps: int
    fresh_fallback_seconds: int
    batch_changes: int
    batch_unit_rows: int
    batch_base_transactions: int


SUITES = {
    "full": Sizes(4000, 3, 200_000, 3, 20_000, 1_000_000, 3, 100_000, 10_000_000, 20, 5,
                  "0,1,2", 1000, 60, 400, 3, 20, 1_000_000, 10_000, 3000),
    "quick": Sizes(1000, 1, 50_000, 1, 1000, 100_000, 1, 2000, 100_000, 5, 3,
                   "0,1,2", 1000, 10, 300, 1, 5, 100_000, 10_000, 1000),
    "smoke": Sizes(300, 1, 20_000, 1, 500, 20_000, 1, 1000, 50_000, 3, 2,
                   "0,2", 1000, 4, 300, 0, 4, 3000, 1000, 300),
}  # fmt: skip


def suite_command(suite: str) -> str:
    """The command line that runs `suite`, as the results name it."""
    return "offload bench" + {"full": "", "quick": " --quick", "smoke": " --smoke"}[suite]


@dataclass(frozen=True, slots=True)
class BenchRun:
    """One run of the suite: where its state, topics and results go.

    Attributes:
        suite: "full", "quick" or "smoke".
        sizes: that suite's sizes.
        directory: the run's state, `<data_dir>/bench/<run>` (logs, each script's JSON, tmp).
        topic_prefix: `<prefix>-bench-<run>`, the prefix of every topic the run creates.
        bootstrap: the Kafka bootstrap servers the scripts use.
        out: where results.json and summary.md go.
    """

    suite: str
    sizes: Sizes
    directory: Path
    topic_prefix: str
    bootstrap: str
    out: Path

    def script_args(self) -> dict[str, list[str]]:
        """Each benchmark script and its arguments (without --json-out)."""
        s, kafka = self.sizes, ["--bootstrap", self.bootstrap]
        cache = self.directory.parent / "cache" / f"query-{s.query_orders}-{s.query_readings}"
        return {
            "cdc_publish": ["bench_cdc_publish.py", "--transactions", str(s.cdc_transactions),
                            "--runs", str(s.cdc_runs), *kafka,
                            "--topic-prefix", f"{self.topic_prefix}-cdc"],
            "projection_apply": ["bench_projection_apply.py", "--events", str(s.apply_events),
                                 "--runs", str(s.apply_runs)],
            "projection_loop": ["bench_projection_loop.py", "--transactions",
                                str(s.loop_transactions), *kafka,
                                "--topic-prefix", f"{self.topic_prefix}-loop"],
            "batch_window": ["bench_batch_window.py", "--changes", str(s.batch_changes),
                             "--unit-rows", str(s.batch_unit_rows), "--base-transactions",
                             str(s.batch_base_transactions), *kafka,
                             "--topic-prefix", f"{self.topic_prefix}-batch"],
            "reference_load": ["bench_reference_load.py", "--records", str(s.reference_records),
                               "--runs", str(s.reference_runs), *kafka,
                               "--topic-prefix", f"{self.topic_prefix}-ref"],
            "query_api": ["bench_query_api.py", "--orders", str(s.query_orders), "--readings",
                          str(s.query_readings), "--seconds", str(s.query_seconds),
                          "--ratio-runs", str(s.query_ratio_runs), "--rate", "1000",
                          "--clients", "8", "--workers", s.query_workers,
                          "--data", str(cache)],
        }  # fmt: skip
