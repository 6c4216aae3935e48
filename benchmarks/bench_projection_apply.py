"""Benchmark: events/s applied to mirrors plus derived views, against DuckDB's raw Arrow insert.

Builds ~200k synthetic shipping change events (telemetry-heavy, with order updates and
assignment windows, units of 10 events), applies them with the projection's `BatchApplier`
in batches of `--batch` events (mirrors + order_tracking + cold_chain, positions and
watermark in each transaction), then inserts the same final rows from Arrow into empty
tables of the same DDL with plain `INSERT INTO t SELECT * FROM arrow`. Median of `--runs`.
The mirrors are those of the simulator's own DDL (`shipping_mirrors.py`), every row whole.
`--json-out FILE` also writes these figures as JSON (`offload bench` runs it so), the raw
insert given there as events/s too (the events applied / the raw insert's seconds), so that
both sides of the ratio count the same work.

`--telemetry-heavy`: `--legs` legs at sea (one order each, its own container) over
`--existing` readings already in the telemetry mirror, then `--batches` batches of `--units`
units of work of 5 new readings each (random legs): units of work/s with cold_chain kept
current. This is the writer's steady state at sea.

    .venv/bin/python benchmarks/bench_projection_apply.py [--events 200000] [--runs 3]
    .venv/bin/python benchmarks/bench_projection_apply.py --telemetry-heavy \
        [--legs 20000] [--existing 2000000] [--units 200] [--batches 30]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
from shipping_mirrors import mirror_specs

from projections.applier import BatchApplier, arrow_batch
from projections.assembler import AssembledUnit, MemoryStage
from projections.events import DecodedChange
from projections.store import open_database
from projections.views import ViewSet, load_views

T0 = datetime(2024, 5, 1)
SPECS = list(mirror_specs().values())


def event(
    table: str,
    key: tuple[object, ...],
    row: dict[str, object],
    lsn: int,
    seq: int,
    *,
    op: str = "c",
) -> DecodedChange:
    """A change event of unit `lsn` (the topic, partition and offset are placeholders)."""
    return DecodedChange("x", 0, lsn, table, op, key, row, lsn, seq, f"U{lsn}", lsn)


def order_row(oid: int) -> dict[str, object]:
    """Order `oid` at sea (product P{oid % 20}), every column of SHIPPING.ORDERS."""
    return {
        "ORDER_ID": oid,
        "CUSTOMER_ID": oid % 500,
        "PRODUCT_ID": f"P{oid % 20}",
        "QUANTITY": 5,
        "AMOUNT": Decimal("12.50"),
        "CURRENCY": "USD",
        "ORIGIN_PORT": "NLRTM",
        "DESTINATION_PORT": "SGSIN",
        "REQUESTED_DATE": T0.date(),
        "STATUS": "AT_SEA",
        "CREATED_AT": T0,
        "UPDATED_AT": T0,
    }


def leg_row(oid: int, container: str, voyage: str) -> dict[str, object]:
    """Order `oid` loaded into `container` for `voyage` at T0, not discharged yet."""
    return {
        "ORDER_ID": oid,
        "CONTAINER_ID": container,
        "VOYAGE_ID": voyage,
        "ASSIGNED_AT": T0,
        "LOADED_AT": T0,
        "DISCHARGED_AT": None,
    }


def reading_row(
    container: str, at: datetime, temperature: Decimal, humidity: Decimal
) -> dict[str, object]:
    """A reefer reading, every column of SHIPPING.REEFER_TELEMETRY."""
    return {
        "CONTAINER_ID": container,
        "READING_TS": at,
        "TEMPERATURE": temperature,
        "HUMIDITY": humidity,
        "POWER_STATE": "ON",
        "LATITUDE": 51.9,
        "LONGITUDE": 4.1,
    }


def synthetic(total: int, seed: int = 1) -> list[AssembledUnit]:
    """Units of 10 events: an order upsert, an assignment upsert, 8 telemetry readings."""
    rnd = random.Random(seed)
    units = []
    for lsn in range(1, total // 10 + 1):
        oid = rnd.randint(1, 20_000)
        leg = (oid, f"C{oid % 2000:05d}", f"V{oid % 50}")
        events = [
            event("SHIPPING.ORDERS", (oid,), order_row(oid), lsn, 1, op="u"),
            event("SHIPPING.ORDER_ASSIGNMENTS", leg, leg_row(*leg), lsn, 2, op="u"),
        ]
        for seq in range(3, 11):
            at = T0 + timedelta(seconds=lsn * 10 + seq)
            container = f"C{rnd.randint(0, 1999):05d}"
            temperature = Decimal(rnd.randint(-250, 80)) / 10
            row = reading_row(container, at, temperature, Decimal("60.00"))
            events.append(event("SHIPPING.REEFER_TELEMETRY", (container, at), row, lsn, seq))
        units.append(AssembledUnit(f"U{lsn}", lsn, lsn, tuple(events), False, len(events)))
    return units


def reference_rows() -> list[DecodedChange]:
    """Products with ranges, so cold_chain has something to compare against."""
    return [
        DecodedChange(
            "p",
            0,
            i,
            "REFERENCE.PRODUCTS",
            "u",
            (f"P{i}",),
            {
                "product_id": f"P{i}",
                "product_name": "x",
                "temp_min": Decimal(-25),
                "temp_max": Decimal(5),
            },
            i + 1,
            0,
            "ref",
            0,
        )
        for i in range(20)
    ]


def new_projection() -> tuple[duckdb.DuckDBPyConnection, ViewSet, BatchApplier]:
    """A fresh in-memory projection: every mirror, both views, the products' ranges applied."""
    con = open_database(":memory:")
    views = ViewSet(load_views(["order_tracking", "cold_chain"]))
    applier = BatchApplier(con, MemoryStage(), views)
    for s in SPECS:
        applier.ensure_mirror(s)
    applier.apply([], {}, reference_rows())
    return con, views, applier


def run_apply(units: list[AssembledUnit], batch: int) -> float:
    """Seconds to apply all units (mirrors + views), fresh in-memory database."""
    con, views, applier = new_projection()
    views.ensure(con, {f"{s.schema}.{s.name}".lower() for s in SPECS})
    started = time.perf_counter()
    per_batch = batch // 10
    for i in range(0, len(units), per_batch):
        applier.apply(units[i : i + per_batch], {("t", 0): i})
    seconds = time.perf_counter() - started
    con.close()
    return seconds


def run_raw(units: list[AssembledUnit]) -> float:
    """Seconds for DuckDB to insert the same rows from Arrow into tables of the same DDL."""
    con = open_database(":memory:")
    by_table: dict[str, dict[tuple[object, ...], DecodedChange]] = {}
    for u in units:
        for e in u.events:
            by_table.setdefault(e.table, {})[e.key] = e
    tables = {
        s.source_name: arrow_batch(s, by_table.get(s.source_name, {}).values()) for s in SPECS
    }
    for s in SPECS:
        con.execute(s.create_sql())
    started = time.perf_counter()
    for s in SPECS:
        data = tables[s.source_name].drop_columns(["_lsn", "_seq", "_del", "_ts"])
        con.register("_raw", data)
        con.execute(f"INSERT INTO {s.sql_name} SELECT * FROM _raw")  # noqa: S608 (catalog names)
        con.unregister("_raw")
    seconds = time.perf_counter() - started
    con.close()
    return seconds


def legs_at_sea(legs: int) -> list[AssembledUnit]:
    """One unit per leg: order i (product P{i % 20}) loaded into container C{i} at T0."""
    units = []
    for oid in range(1, legs + 1):
        leg = (oid, f"C{oid:06d}", "V1")
        events = (
            event("SHIPPING.ORDERS", (oid,), order_row(oid), oid, 1),
            event("SHIPPING.ORDER_ASSIGNMENTS", leg, leg_row(*leg), oid, 2),
        )
        units.append(AssembledUnit(f"U{oid}", oid, oid, events, False, 2))
    return units


def new_readings(legs: int, count: int, first_lsn: int, seed: int = 2) -> list[AssembledUnit]:
    """`count` units of 5 new readings each, for random legs, after every existing reading."""
    rnd = random.Random(seed)
    units = []
    for n in range(count):
        lsn = first_lsn + n
        events = []
        for seq in range(1, 6):
            container = f"C{rnd.randint(1, legs):06d}"
            at = T0 + timedelta(days=3650, microseconds=lsn * 10 + seq)
            temperature = Decimal(rnd.randint(-250, 80)) / 10
            row = reading_row(container, at, temperature, Decimal(60))
            events.append(event("SHIPPING.REEFER_TELEMETRY", (container, at), row, lsn, seq))
        units.append(AssembledUnit(f"U{lsn}", lsn, lsn, tuple(events), False, 5))
    return units


PRELOAD_READINGS = """
INSERT INTO shipping.reefer_telemetry
SELECT printf('C%06d', i % $legs + 1), $t0 + to_seconds(i // $legs + 1),
       ((i * 7919) % 330 - 250) / 10, 60, 'ON', 51.9, 4.1
FROM range($existing) AS r(i)
"""
PRELOAD_VERSIONS = """
INSERT INTO _offload."keys.shipping.reefer_telemetry"
SELECT container_id, reading_ts, 0, 1, false, $t0 FROM shipping.reefer_telemetry
"""


def run_telemetry(legs: int, existing: int, units: int, batches: int) -> None:
    """Print units of work/s of new readings against a large telemetry mirror."""
    con, views, applier = new_projection()
    started = time.perf_counter()
    applier.apply(legs_at_sea(legs), {})
    # the readings and their per-key versions straight in, as if a snapshot was applied
    con.execute(PRELOAD_READINGS, {"legs": legs, "t0": T0, "existing": existing})
    con.execute(PRELOAD_VERSIONS, {"t0": T0})
    views.ensure(con, {f"{s.schema}.{s.name}".lower() for s in SPECS})
    print(f"setup: {legs} legs at sea, {existing:,} readings, {time.perf_counter() - started:.1f}s")
    work = new_readings(legs, units * batches, legs + 1)
    started = time.perf_counter()
    for i in range(0, len(work), units):
        applier.apply(work[i : i + units], {("t", 0): i})
    seconds = time.perf_counter() - started
    done = con.execute("SELECT sum(readings) FROM views.cold_chain").fetchone()
    print(f"readings in cold_chain after: {done[0] if done else 0:,}")
    print(
        f"{len(work)} units of 5 new readings in {batches} batches of {units}: {seconds:.2f}s"
        f" = {len(work) / seconds:,.0f} units of work/s ({len(work) * 5 / seconds:,.0f} events/s)"
    )
    con.close()


def run_comparison(events: int, batch: int, runs: int) -> dict[str, float | int]:
    """Apply against raw insert, each the median of `runs`; print and return the figures."""
    units = synthetic(events)
    events = sum(u.event_count for u in units)
    apply_s = statistics.median(run_apply(units, batch) for _ in range(runs))
    raw_s = statistics.median(run_raw(units) for _ in range(runs))
    rows = len({(e.table, e.key) for u in units for e in u.events})
    print(f"events: {events}, distinct rows: {rows}, batch: {batch}, runs: {runs}")
    print(f"apply (mirrors + views): {apply_s:.2f}s = {events / apply_s:,.0f} events/s")
    print(f"raw Arrow insert of the final rows: {raw_s:.2f}s = {rows / raw_s:,.0f} rows/s")
    print(f"apply time / raw insert time: {apply_s / raw_s:.1f}x")
    return {
        "events": events,
        "rows": rows,
        "batch": batch,
        "runs": runs,
        "apply_s": round(apply_s, 4),
        "raw_s": round(raw_s, 4),
        "apply_events_per_s": round(events / apply_s),
        "raw_rows_per_s": round(rows / raw_s),
        "raw_events_per_s": round(events / raw_s),
        "ratio": round(raw_s / apply_s, 4),
    }


def main() -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--telemetry-heavy", action="store_true")
    parser.add_argument("--legs", type=int, default=20_000)
    parser.add_argument("--existing", type=int, default=2_000_000)
    parser.add_argument("--units", type=int, default=200)
    parser.add_argument("--batches", type=int, default=30)
    parser.add_argument("--json-out", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args()
    if args.telemetry_heavy:
        run_telemetry(args.legs, args.existing, args.units, args.batches)
        return
    figures = run_comparison(args.events, args.batch, args.runs)
    if args.json_out:
        args.json_out.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
