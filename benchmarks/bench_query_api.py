"""Query API latency under load, and the offload ratio against the system of record.

Builds a projection with the real projection code (mirrors of simulators/sql/shipping.sql,
the real views, `BatchApplier`), serves it with uvicorn in this process, keeps ingesting units
of work in a writer thread, and measures p50/p99 of each named query from 8 client threads
(httpx). Then computes the same cold-chain answer (every leg of one voyage with readings,
min/max temperature, excursions, compliance) by SQL directly on a SQLite copy of the system of
record and through the API, side by side.

    .venv/bin/python benchmarks/bench_query_api.py --quick
    .venv/bin/python benchmarks/bench_query_api.py --orders 100000 --readings 10000000

The SQLite side holds the same rows in plain tables (DECIMAL as REAL, TIMESTAMP as ISO text,
as the simulated Db2 stores them) with the same primary keys; it is the mainframe's cost
stand-in, not the simulator's capture path.
"""

from __future__ import annotations

import argparse
import random
import socket
import sqlite3
import statistics
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
import uvicorn

from config.settings import ApiKey, ApiSettings, Settings
from projections.applier import BatchApplier
from projections.assembler import AssembledUnit, MemoryStage
from projections.events import ChangeEvent
from projections.mirror import MirrorColumn, MirrorSpec, spec_from_table
from projections.store import open_database
from projections.views import ViewSet, load_views
from query_api import DuckDBLimits, DuckDBReadStore, create_app, lock_down
from query_api.auth import hash_key
from simulators.ddl import CreateTable, parse_statement, split_statements
from simulators.sor import SHIPPING_DDL

KEY = "bench-reader"
T0 = datetime(2025, 3, 1)
PRODUCTS = [("P001", "Bananas", "13.00", "14.50"), ("P005", "Chilled beef", "-1.50", "0.50")]
Row = tuple[str, dict[str, Any]]


def specs() -> dict[str, MirrorSpec]:
    tables = [parse_statement(t, "SHIPPING") for t in split_statements(SHIPPING_DDL.read_text())]
    found = [spec_from_table(t.table) for t in tables if isinstance(t, CreateTable)]
    products = MirrorSpec("REFERENCE", "PRODUCTS", (
        MirrorColumn("product_id", "VARCHAR", False), MirrorColumn("product_name", "VARCHAR", True),
        MirrorColumn("temp_min", "DECIMAL(5,2)", True),
        MirrorColumn("temp_max", "DECIMAL(5,2)", True)), ("product_id",))  # fmt: skip
    named = [MirrorSpec("REFERENCE", n, (MirrorColumn(k, "VARCHAR", False),
             MirrorColumn("name", "VARCHAR", True)), (k,))
             for n, k in (("PORTS", "unlocode"), ("VESSELS", "vessel_id"))]  # fmt: skip
    return {s.source_name: s for s in (*found, products, *named)}


def dataset(orders: int, readings: int, seed: int) -> tuple[list[Row], list[Row]]:
    """(master rows, telemetry rows): one container per 5 orders, one voyage per 500 orders."""
    rnd = random.Random(seed)
    containers = max(orders // 5, 1)
    master: list[Row] = [("REFERENCE.PRODUCTS", {"product_id": p, "product_name": n,
                          "temp_min": Decimal(lo), "temp_max": Decimal(hi)})
                         for p, n, lo, hi in PRODUCTS]  # fmt: skip
    for c in range(1, 101):
        master.append(("SHIPPING.CUSTOMERS", {"CUSTOMER_ID": c, "NAME": f"Customer {c}",
            "COUNTRY": "NL", "SEGMENT": "STANDARD", "CREDIT_LIMIT": Decimal("1000.00"),
            "ORDER_CUTOFF": None, "CREATED_AT": T0}))  # fmt: skip
    for v in range(max(orders // 500, 1)):
        master.append(("SHIPPING.VOYAGES", {"VOYAGE_ID": f"V{v:07d}", "VESSEL_ID": "IMO9000001",
            "ORIGIN_PORT": "NLRTM", "DESTINATION_PORT": "USNYC", "PLANNED_DEPARTURE": T0,
            "PLANNED_ARRIVAL": T0 + timedelta(days=9), "DEPARTED_AT": T0, "ARRIVED_AT": None,
            "STATUS": "AT_SEA"}))  # fmt: skip
    for c in range(containers):
        master.append(("SHIPPING.CONTAINERS", {"CONTAINER_ID": f"MSCU{c:07d}", "ISO_TYPE": "45R1",
            "MAX_PAYLOAD_KG": 29000, "STATUS": "LOADED", "LAST_PORT": None}))  # fmt: skip
    for o in range(1, orders + 1):
        product = PRODUCTS[o % 2][0]
        master.append(("SHIPPING.ORDERS", {"ORDER_ID": o, "CUSTOMER_ID": 1 + o % 100,
            "PRODUCT_ID": product, "QUANTITY": 10, "AMOUNT": Decimal("100.00"), "CURRENCY": "USD",
            "ORIGIN_PORT": "NLRTM", "DESTINATION_PORT": "USNYC", "REQUESTED_DATE": T0.date(),
            "STATUS": "LOADED", "CREATED_AT": T0, "UPDATED_AT": T0}))  # fmt: skip
        # Orders of one product share a container, so each leg has one range.
        container = f"MSCU{((o - 1) // 10 * 2 + o % 2) % containers:07d}"
        master.append(("SHIPPING.ORDER_ASSIGNMENTS", {"ORDER_ID": o, "CONTAINER_ID": container,
            "VOYAGE_ID": f"V{((o - 1) // 500):07d}", "ASSIGNED_AT": T0, "LOADED_AT": T0,
            "DISCHARGED_AT": None}))  # fmt: skip
    per = max(readings // containers, 1)
    telemetry: list[Row] = []
    for c in range(containers):
        base = 13.5 if c % 2 else -0.5
        for i in range(per):
            temp = base + (3.0 if rnd.random() < 0.002 else rnd.uniform(-0.4, 0.4))
            telemetry.append(("SHIPPING.REEFER_TELEMETRY", {"CONTAINER_ID": f"MSCU{c:07d}",
                "READING_TS": T0 + timedelta(minutes=15 * i),
                "TEMPERATURE": Decimal(f"{temp:.2f}"), "HUMIDITY": None, "POWER_STATE": "ON",
                "LATITUDE": None, "LONGITUDE": None}))  # fmt: skip
    return master, telemetry


class Writer:
    """The projection writer: units of work through the real applier, then notify readers."""

    def __init__(self, path: Path, store_limits: DuckDBLimits) -> None:
        self.con = open_database(path)
        self.specs = specs()
        views = ViewSet(load_views(["order_tracking", "cold_chain"]))
        self.applier = BatchApplier(self.con, MemoryStage(), views)
        for spec in self.specs.values():
            self.applier.ensure_mirror(spec)
        views.ensure(self.con, {s.source_name.lower() for s in self.specs.values()})
        lock_down(self.con, store_limits)
        self.store = DuckDBReadStore(self.con)
        self.lsn = 0
        self.offset = 0

    def apply(self, batches: list[list[Row]]) -> None:
        """One DuckDB transaction holding one unit of work per inner list."""
        units = []
        for rows in batches:
            self.lsn += 1
            ms = int((T0 + timedelta(seconds=self.lsn)).replace(tzinfo=UTC).timestamp() * 1000)
            events = []
            for seq, (table, row) in enumerate(rows, start=1):
                self.offset += 1
                key = tuple(row[k] for k in self.specs[table].primary_key)
                events.append(ChangeEvent("t", 0, self.offset, table, "c", key, row, self.lsn,
                                          seq, f"U{self.lsn}", ms))  # fmt: skip
            units.append(AssembledUnit(f"U{self.lsn}", self.lsn, ms, tuple(events), False,
                                       len(events)))  # fmt: skip
        self.applier.apply(units, {})
        self.store.notify_committed()


def build_sor(path: Path, master: list[Row], telemetry: list[Row]) -> sqlite3.Connection:
    """The same rows in a SQLite file attached as SHIPPING (DECIMAL as REAL, times as text)."""
    disk = sqlite3.connect(path)
    for spec in specs().values():
        if spec.schema != "SHIPPING":
            continue
        cols = ", ".join(c.name for c in spec.columns)
        disk.execute(
            f"CREATE TABLE {spec.name} ({cols}, PRIMARY KEY ({', '.join(spec.primary_key)}))"
        )
    for table, rows in _by_table([*master, *telemetry]).items():
        schema, name = table.split(".")
        if schema != "SHIPPING":
            continue
        names = list(rows[0])
        marks = ", ".join("?" * len(names))
        disk.executemany(f"INSERT INTO {name} ({', '.join(names)}) VALUES ({marks})",  # noqa: S608 - catalog names
                         ([_sqlite(r[n]) for n in names] for r in rows))  # fmt: skip
    disk.commit()
    disk.close()
    con = sqlite3.connect(":memory:")
    con.execute("ATTACH ? AS SHIPPING", (str(path),))
    con.execute("CREATE TABLE products (product_id, temp_min, temp_max)")
    con.executemany("INSERT INTO products VALUES (?, ?, ?)",
                    [(p, float(lo), float(hi)) for p, _, lo, hi in PRODUCTS])  # fmt: skip
    return con


def _sqlite(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    return value.isoformat() if hasattr(value, "isoformat") else value


def _by_table(rows: list[Row]) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for table, row in rows:
        grouped.setdefault(table, []).append(row)
    return grouped


SOR_COLD_CHAIN = """
SELECT a.ORDER_ID, a.CONTAINER_ID, a.VOYAGE_ID, o.PRODUCT_ID, count(t.TEMPERATURE) AS readings,
       min(t.TEMPERATURE), max(t.TEMPERATURE),
       sum(CASE WHEN t.TEMPERATURE < p.temp_min OR t.TEMPERATURE > p.temp_max THEN 1 ELSE 0 END)
FROM SHIPPING.ORDER_ASSIGNMENTS AS a
JOIN SHIPPING.ORDERS AS o ON o.ORDER_ID = a.ORDER_ID
LEFT JOIN products AS p ON p.product_id = o.PRODUCT_ID
LEFT JOIN SHIPPING.REEFER_TELEMETRY AS t
    ON t.CONTAINER_ID = a.CONTAINER_ID AND t.READING_TS >= a.LOADED_AT
    AND (a.DISCHARGED_AT IS NULL OR t.READING_TS <= a.DISCHARGED_AT)
WHERE a.VOYAGE_ID = ? AND a.LOADED_AT IS NOT NULL
GROUP BY a.ORDER_ID, a.CONTAINER_ID, a.VOYAGE_ID, o.PRODUCT_ID
ORDER BY a.ORDER_ID, a.CONTAINER_ID
"""


def serve(writer: Writer) -> tuple[uvicorn.Server, threading.Thread, str]:
    keys = {"bench": ApiKey(role="reader", sha256=hash_key(KEY))}
    settings = Settings(api=ApiSettings(keys=keys, page_size_max=1000))
    app = create_app(settings, writer.store, _NoSchemas())
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    return server, thread, f"http://127.0.0.1:{port}"


class _NoSchemas:
    def by_id(self, schema_id: int) -> str | None:
        return None

    def subjects(self) -> list[str]:
        return []

    def versions(self, subject: str) -> list[int]:
        return []

    def get(self, subject: str, version: int) -> None:
        return None


def ingest(writer: Writer, rate: int, stop: threading.Event, done: list[int]) -> None:
    """Apply `rate` units of work per second (one reading each, every 10th an order update)."""
    n = 0
    tick = 0.1
    started = time.perf_counter()
    while not stop.is_set():
        batch = []
        for _ in range(max(int(rate * tick), 1)):
            n += 1
            container = f"MSCU{n % 100:07d}"
            rows: list[Row] = [("SHIPPING.REEFER_TELEMETRY", {"CONTAINER_ID": container,
                "READING_TS": T0 + timedelta(days=400, milliseconds=n), "TEMPERATURE":
                Decimal("0.10"), "HUMIDITY": None, "POWER_STATE": "ON", "LATITUDE": None,
                "LONGITUDE": None})]  # fmt: skip
            batch.append(rows)
        writer.apply(batch)
        done[0] = n
        ahead = started + (n / rate) - time.perf_counter()
        if ahead > 0:
            time.sleep(ahead)


def queries(orders: int) -> dict[str, Any]:
    containers, voyages = max(orders // 5, 1), max(orders // 500, 1)
    r = random.randrange
    return {
        "order": lambda: f"/orders/{r(1, orders + 1)}",
        "customer-orders": lambda: f"/customers/{r(1, 101)}/orders?page_size=50",
        "voyage": lambda: f"/voyages/V{r(voyages):07d}?page_size=50",
        "cold-chain-legs": lambda: f"/cold-chain/legs?voyage_id=V{r(voyages):07d}&compliant=false",
        "cold-chain-order": lambda: f"/cold-chain/orders/{r(1, orders + 1)}",
        "telemetry-readings": lambda: (
            f"/containers/MSCU{r(containers):07d}/telemetry?page_size=100"
        ),
        "telemetry-1h": lambda: f"/containers/MSCU{r(containers):07d}/telemetry?bucket=1h",
    }


def measure(url: str, orders: int, seconds: float, clients: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {name: [] for name in queries(orders)}
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def client() -> None:
        paths = queries(orders)
        with httpx.Client(base_url=url, headers={"X-API-Key": KEY}) as http:
            while time.perf_counter() < deadline:
                for name, make in paths.items():
                    started = time.perf_counter()
                    response = http.get(make())
                    took = time.perf_counter() - started
                    assert response.status_code in (200, 404), response.text
                    with lock:
                        times[name].append(took)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return times


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(q * len(ordered)), len(ordered) - 1)] * 1000


def offload_ratio(sor: sqlite3.Connection, url: str, voyage: str, runs: int) -> None:
    """The cold-chain legs of one voyage: SQL on the SQLite system of record vs the API."""
    sor_s, api_s = [], []
    sor_rows: list[Any] = []
    api_rows: list[Any] = []
    with httpx.Client(base_url=url, headers={"X-API-Key": KEY}) as http:
        for _ in range(runs):
            started = time.perf_counter()
            sor_rows = sor.execute(SOR_COLD_CHAIN, (voyage,)).fetchall()
            sor_s.append(time.perf_counter() - started)
            started = time.perf_counter()
            body = http.get(f"/cold-chain/legs?voyage_id={voyage}&page_size=1000").json()
            api_s.append(time.perf_counter() - started)
            api_rows = body["items"]
    same = [(r[0], r[1], r[4], r[7]) for r in sor_rows] == [
        (r["order_id"], r["container_id"], r["readings"], r["excursions"]) for r in api_rows
    ]
    sor_ms, api_ms = statistics.median(sor_s) * 1000, statistics.median(api_s) * 1000
    print(f"offload ratio, cold-chain legs of voyage {voyage} ({len(api_rows)} legs, "
          f"same answer: {same}): SQLite system of record {sor_ms:.1f} ms, "
          f"API {api_ms:.2f} ms (median of {runs}) -> {sor_ms / api_ms:.0f}x")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--readings", type=int, default=10_000_000)
    parser.add_argument("--rate", type=int, default=1000, help="units of work/s while measuring")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--quick", action="store_true", help="2,000 orders, 200,000 readings, 8 s")
    args = parser.parse_args()
    if args.quick:
        args.orders, args.readings, args.seconds = 2_000, 200_000, 8.0
    with TemporaryDirectory() as tmp:
        started = time.perf_counter()
        master, telemetry = dataset(args.orders, args.readings, seed=7)
        print(f"generated {len(master):,} master rows, {len(telemetry):,} readings "
              f"in {time.perf_counter() - started:.1f}s")  # fmt: skip
        writer = Writer(Path(tmp) / "bench.duckdb", DuckDBLimits("2GB", 2))
        started = time.perf_counter()
        writer.apply([master])
        chunk = 200_000
        for i in range(0, len(telemetry), chunk):
            writer.apply([telemetry[i : i + chunk]])
        built = time.perf_counter() - started
        print(f"projection built (mirrors + views, real applier) in {built:.1f}s")
        started = time.perf_counter()
        sor = build_sor(Path(tmp) / "sor.sqlite", master, telemetry)
        print(f"SQLite system of record built in {time.perf_counter() - started:.1f}s")
        del master, telemetry
        server, thread, url = serve(writer)
        # Before the live ingest: both sides then hold exactly the same rows.
        offload_ratio(sor, url, "V0000000", runs=5)
        stop, done = threading.Event(), [0]
        feeder = threading.Thread(target=ingest, args=(writer, args.rate, stop, done))
        feeder.start()
        times = measure(url, args.orders, args.seconds, args.clients)
        stop.set()
        feeder.join()
        print(f"\n{args.clients} clients for {args.seconds:.0f}s while ingesting "
              f"{done[0] / args.seconds:,.0f} units of work/s (target {args.rate}):")  # fmt: skip
        print(f"{'query':<20}{'n':>8}{'p50 ms':>10}{'p99 ms':>10}")
        for name, values in times.items():
            print(f"{name:<20}{len(values):>8}{pct(values, 0.5):>10.2f}{pct(values, 0.99):>10.2f}")
        server.should_exit = True
        thread.join()
        writer.con.close()


if __name__ == "__main__":
    main()
