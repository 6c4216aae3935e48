"""A small DuckDB database in the projections' layout, locked down, and apps serving it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest
from fastapi.testclient import TestClient

from config.settings import ApiKey, ApiSettings, Settings
from query_api import DuckDBLimits, DuckDBReadStore, Watermark, create_app, lock_down
from query_api.auth import hash_key

KEYS = {"reader": "reader-secret-1", "analyst": "analyst-secret-2", "admin": "admin-secret-3"}
T0 = datetime(2025, 3, 1, 8, 0, 0)

_DDL = """
CREATE SCHEMA shipping; CREATE SCHEMA reference; CREATE SCHEMA views; CREATE SCHEMA _offload;
CREATE TABLE shipping.customers (customer_id INTEGER PRIMARY KEY, name VARCHAR(60) NOT NULL);
CREATE TABLE shipping.voyages (voyage_id INTEGER PRIMARY KEY, vessel_id INTEGER,
    origin_port CHAR(5), destination_port CHAR(5), departure_ts TIMESTAMP, arrival_ts TIMESTAMP);
CREATE TABLE shipping.containers (container_id VARCHAR(11) PRIMARY KEY, kind CHAR(4));
CREATE TABLE shipping.reefer_telemetry (container_id VARCHAR(11), reading_ts TIMESTAMP,
    temperature DECIMAL(5,2), PRIMARY KEY (container_id, reading_ts));
CREATE TABLE reference.products (product_id INTEGER PRIMARY KEY, name VARCHAR(40),
    temp_min DECIMAL(5,2), temp_max DECIMAL(5,2));
CREATE TABLE views.order_tracking (order_id BIGINT PRIMARY KEY, customer_id INTEGER,
    customer_name VARCHAR, product_id INTEGER, product_name VARCHAR, temp_min DECIMAL(5,2),
    temp_max DECIMAL(5,2), quantity INTEGER, amount DECIMAL(31,2), status CHAR(10),
    container_id VARCHAR(11), voyage_id INTEGER, vessel_name VARCHAR, origin_port VARCHAR,
    destination_port VARCHAR, departure_time TIMESTAMP, arrival_time TIMESTAMP,
    last_lsn BIGINT, last_commit_time TIMESTAMP);
CREATE TABLE views.cold_chain (order_id BIGINT, container_id VARCHAR(11), voyage_id INTEGER,
    product_id INTEGER, reading_count BIGINT, min_temp DECIMAL(5,2), max_temp DECIMAL(5,2),
    avg_temp DOUBLE, excursion_count BIGINT, first_excursion_at TIMESTAMP,
    last_reading_at TIMESTAMP, compliant BOOLEAN, PRIMARY KEY (order_id, container_id, voyage_id));
CREATE SEQUENCE _offload.batch_seq;
CREATE TABLE _offload.watermark (lsn BIGINT, commit_time TIMESTAMP, applied_at TIMESTAMP);
CREATE TABLE _offload.view_state (name VARCHAR PRIMARY KEY, lsn BIGINT, commit_time TIMESTAMP,
    status VARCHAR, rows BIGINT);
"""


def _fill(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        "INSERT INTO shipping.customers VALUES "
        "(1, 'Acme Foods'), (2, 'Polar Fish'), (3, 'Idle Ltd')"
    )
    con.execute(
        "INSERT INTO shipping.voyages VALUES "
        "(10, 7, 'NLRTM', 'USNYC', ?, ?), (11, 8, 'SGSIN', 'CNSHA', ?, ?)",
        [T0, T0 + timedelta(days=9), T0, T0 + timedelta(days=5)],
    )
    con.execute(
        "INSERT INTO shipping.containers VALUES "
        "('MSCU0000001', 'RF40'), ('MSCU0000002', 'RF40'), ('MSCU0000003', 'RF20')"
    )
    con.execute(
        "INSERT INTO reference.products VALUES (100, 'Salmon', -2, 2), (101, 'Bananas', 12, 14)"
    )
    # 120 readings per container, one a minute; container 2 has 3 readings above 2.00.
    con.execute(
        """INSERT INTO shipping.reefer_telemetry
           SELECT c, ?::TIMESTAMP + to_minutes(i::BIGINT),
                  CASE WHEN c = 'MSCU0000002' AND i IN (30, 31, 90) THEN 4.5 ELSE 0.5 END
           FROM range(120) r(i), (VALUES ('MSCU0000001'), ('MSCU0000002')) v(c)""",
        [T0],
    )
    for n in range(1, 8):  # customer 1: orders 1..7; customer 2: order 8
        customer, container = (1, f"MSCU000000{1 + n % 2}") if n < 8 else (2, "MSCU0000003")
        con.execute(
            """INSERT INTO views.order_tracking VALUES (?, ?, 'Acme Foods', 100, 'Salmon', -2, 2,
               10, 1234.50, 'AT_SEA', ?, 10, 'Nordic Star', 'Rotterdam', 'New York', ?, ?, ?, ?)""",
            [n, customer, container, T0, T0 + timedelta(days=9), 40 + n, T0],
        )
    con.execute(
        """INSERT INTO views.order_tracking VALUES (8, 2, 'Polar Fish', 101, 'Bananas', 12,
           14, 5, 99.99, 'BOOKED', 'MSCU0000003', 11, 'Lion City', 'Singapore', 'Shanghai',
           ?, ?, 48, ?)""",
        [T0, T0 + timedelta(days=5), T0],
    )
    con.execute(
        """INSERT INTO views.cold_chain
           SELECT order_id, container_id, voyage_id, product_id,
                  120, 0.5, CASE WHEN container_id = 'MSCU0000002' THEN 4.5 ELSE 0.5 END, 0.6,
                  CASE WHEN container_id = 'MSCU0000002' THEN 3 ELSE 0 END,
                  CASE WHEN container_id = 'MSCU0000002' THEN ?::TIMESTAMP + INTERVAL 30 MINUTE END,
                  ?::TIMESTAMP + INTERVAL 119 MINUTE, container_id <> 'MSCU0000002'
           FROM views.order_tracking WHERE voyage_id = 10""",
        [T0, T0],
    )
    con.execute("INSERT INTO _offload.watermark VALUES (50, ?, now())", [T0 + timedelta(hours=2)])
    con.execute(
        """INSERT INTO _offload.view_state VALUES
           ('cold_chain', 50, ?, 'serving', 7), ('order_tracking', 50, ?, 'serving', 8)""",
        [T0 + timedelta(hours=2), T0 + timedelta(hours=2)],
    )


@dataclass
class Projection:
    """The test database, its store, and a way to commit a new watermark as the writer would."""

    path: Path
    connection: duckdb.DuckDBPyConnection
    store: DuckDBReadStore

    def commit_watermark(self, lsn: int) -> None:
        """Apply a 'batch': advance the watermark in one transaction and wake the readers."""
        with self.connection.cursor() as cur:
            cur.execute("BEGIN")
            cur.execute("DELETE FROM _offload.watermark")
            cur.execute(
                "INSERT INTO _offload.watermark VALUES (?, ?, now())",
                [lsn, T0 + timedelta(hours=3)],
            )
            cur.execute("COMMIT")
        self.store.notify_committed(Watermark(lsn, T0 + timedelta(hours=3)))

    def checksum(self) -> list[tuple[Any, ...]]:
        """Every table and view with its row count and an order-independent content hash."""
        with self.connection.cursor() as cur:
            tables = cur.execute(
                "SELECT schema_name, table_name FROM duckdb_tables() ORDER BY ALL"
            ).fetchall()
            sums: list[tuple[Any, ...]] = []
            for schema, table in tables:
                sql = f'SELECT count(*), sum(hash(t)) FROM "{schema}"."{table}" t'
                sums.append((schema, table, *cur.execute(sql).fetchall()[0]))
            sums += cur.execute(
                "SELECT schema_name, view_name FROM duckdb_views() WHERE NOT internal ORDER BY ALL"
            ).fetchall()
            sums += cur.execute(
                "SELECT database_name FROM duckdb_databases() ORDER BY ALL"
            ).fetchall()
            sums += cur.execute(
                "SELECT sequence_name, last_value FROM duckdb_sequences() ORDER BY ALL"
            ).fetchall()
            return sums


@dataclass(frozen=True)
class FakeVersion:
    subject: str
    version: int
    id: int
    schema: str


class MemorySchemas:
    """An in-memory schema source with two subjects."""

    def __init__(self) -> None:
        key = '{"type":"record","name":"Key","fields":[{"name":"ORDER_ID","type":"long"}]}'
        value = '{"type":"record","name":"Value","fields":[{"name":"STATUS","type":"string"}]}'
        value2 = value.replace("]}", ',{"name":"NOTE","type":["null","string"],"default":null}]}')
        self._versions = {
            "offload.shipping.orders-key": [FakeVersion("offload.shipping.orders-key", 1, 11, key)],
            "offload.shipping.orders-value": [
                FakeVersion("offload.shipping.orders-value", 1, 21, value),
                FakeVersion("offload.shipping.orders-value", 2, 22, value2),
            ],
        }

    def by_id(self, schema_id: int) -> str | None:
        for versions in self._versions.values():
            for v in versions:
                if v.id == schema_id:
                    return v.schema
        return None

    def subjects(self) -> list[str]:
        return sorted(self._versions)

    def versions(self, subject: str) -> list[int]:
        return [v.version for v in self._versions.get(subject, [])]

    def get(self, subject: str, version: int) -> FakeVersion | None:
        for v in self._versions.get(subject, []):
            if v.version == version:
                return v
        return None


@pytest.fixture
def projection(tmp_path: Path) -> Iterator[Projection]:
    path = tmp_path / "offload.duckdb"
    con = duckdb.connect(str(path))
    con.execute(_DDL)
    _fill(con)
    lock_down(con, DuckDBLimits(memory_limit="512MB", threads=2))
    yield Projection(path, con, DuckDBReadStore(con, poll_s=0.02))
    con.close()


def make_settings(**api: Any) -> Settings:
    keys = {
        role: ApiKey.model_validate({"role": role, "sha256": hash_key(key)})
        for role, key in KEYS.items()
    }
    defaults: dict[str, Any] = {
        "keys": keys,
        "page_size_default": 3,
        "page_size_max": 5,
        "max_wait_ms": 2000,
        "sql_row_cap": 100,
        "sql_timeout_s": 1.0,
    }
    return Settings(api=ApiSettings(**{**defaults, **api}))


AppFactory = Callable[..., TestClient]


@pytest.fixture
def make_client(projection: Projection) -> Iterator[AppFactory]:
    clients: list[TestClient] = []

    def factory(role: str | None = "reader", **api: Any) -> TestClient:
        app = create_app(make_settings(**api), projection.store, MemorySchemas())
        headers = {"X-API-Key": KEYS[role]} if role else {}
        client = TestClient(app, headers=headers)
        clients.append(client)
        return client

    yield factory
    for client in clients:
        client.close()


@pytest.fixture
def reader(make_client: AppFactory) -> TestClient:
    return make_client("reader")


@pytest.fixture
def analyst(make_client: AppFactory) -> TestClient:
    return make_client("analyst")
