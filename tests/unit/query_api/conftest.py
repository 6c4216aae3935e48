"""A small projection built by the real projection code on the real DDL, and apps serving it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from config import ApiKey, ApiSettings, Settings
from projections.applier import BatchApplier
from projections.assembler import AssembledUnit, MemoryStage
from projections.commit_signal import CommitSignal
from projections.events import DecodedChange
from projections.mirror import MirrorColumn, MirrorSpec, spec_from_table
from projections.store import open_database
from projections.views import ViewSet, load_views
from query_api import DuckDBLimits, DuckDBReadStore, ReadStore, create_app, lock_down
from query_api.auth import hash_key
from query_api.read_server import ReadServer
from query_api.remote_store import RemoteReadStore
from simulators.ddl import CreateTable, parse_statement, split_statements
from simulators.sor import SHIPPING_DDL

KEYS = {"reader": "reader-secret-1", "analyst": "analyst-secret-2", "admin": "admin-secret-3"}
T0 = datetime(2025, 3, 1, 8, 0, 0)

_REFERENCE = (
    # Reference mirrors as projections/views/*.sql read them (the reference loader's
    # topics decide these columns; keep in step with tests/unit/projections/conftest.py).
    MirrorSpec(
        "REFERENCE",
        "PRODUCTS",
        (
            MirrorColumn("product_id", "VARCHAR", False),
            MirrorColumn("product_name", "VARCHAR", True),
            MirrorColumn("temp_min", "DECIMAL(5,2)", True),
            MirrorColumn("temp_max", "DECIMAL(5,2)", True),
        ),
        ("product_id",),
    ),
    MirrorSpec(
        "REFERENCE",
        "PORTS",
        (MirrorColumn("unlocode", "VARCHAR", False), MirrorColumn("name", "VARCHAR", True)),
        ("unlocode",),
    ),
    MirrorSpec(
        "REFERENCE",
        "VESSELS",
        (MirrorColumn("vessel_id", "VARCHAR", False), MirrorColumn("name", "VARCHAR", True)),
        ("vessel_id",),
    ),
)


def mirror_specs() -> dict[str, MirrorSpec]:
    """The mirrors of the real system-of-record DDL (simulators/sql/shipping.sql) + reference."""
    specs = [
        spec_from_table(statement.table)
        for statement in (
            parse_statement(text, "SHIPPING")
            for text in split_statements(SHIPPING_DDL.read_text(encoding="utf-8"))
        )
        if isinstance(statement, CreateTable)
    ]
    return {s.source_name: s for s in (*specs, *_REFERENCE)}


def _customer(cid: int, name: str) -> dict[str, Any]:
    return {"CUSTOMER_ID": cid, "NAME": name, "COUNTRY": "NL", "SEGMENT": "STANDARD",
            "CREDIT_LIMIT": D("50000.00"), "ORDER_CUTOFF": None, "CREATED_AT": T0}  # fmt: skip


def _voyage(vid: str, origin: str, destination: str, days: int) -> dict[str, Any]:
    return {"VOYAGE_ID": vid, "VESSEL_ID": "IMO9000001", "ORIGIN_PORT": origin,
            "DESTINATION_PORT": destination, "PLANNED_DEPARTURE": T0,
            "PLANNED_ARRIVAL": T0 + timedelta(days=days), "DEPARTED_AT": T0,
            "ARRIVED_AT": None, "STATUS": "AT_SEA"}  # fmt: skip


def _order(oid: int, cid: int, product: str, amount: str, status: str) -> dict[str, Any]:
    return {"ORDER_ID": oid, "CUSTOMER_ID": cid, "PRODUCT_ID": product, "QUANTITY": 10,
            "AMOUNT": D(amount), "CURRENCY": "USD", "ORIGIN_PORT": "NLRTM",
            "DESTINATION_PORT": "USNYC", "REQUESTED_DATE": T0.date(), "STATUS": status,
            "CREATED_AT": T0, "UPDATED_AT": T0}  # fmt: skip


def sample_rows() -> list[tuple[str, dict[str, Any]]]:
    """Three customers, two voyages, three containers, eight orders, 240 readings.

    Orders 1..7 (customer 1, Salmon -2..2 °C) travel on voyage V0000010, odd ones in
    MSCU0000002 whose readings 30, 31 and 90 are 4.50 °C (non-compliant legs); order 8
    (customer 2) is assigned to V0000011 but not loaded yet (no cold-chain leg).
    """
    rows: list[tuple[str, dict[str, Any]]] = [
        ("SHIPPING.CUSTOMERS", _customer(1, "Acme Foods")),
        ("SHIPPING.CUSTOMERS", _customer(2, "Polar Fish")),
        ("SHIPPING.CUSTOMERS", _customer(3, "Idle Ltd")),
        ("SHIPPING.VOYAGES", _voyage("V0000010", "NLRTM", "USNYC", 9)),
        ("SHIPPING.VOYAGES", _voyage("V0000011", "SGSIN", "CNSHA", 5)),
        ("REFERENCE.PRODUCTS", {"product_id": "P100", "product_name": "Salmon",
                                "temp_min": D("-2.00"), "temp_max": D("2.00")}),
        ("REFERENCE.PRODUCTS", {"product_id": "P101", "product_name": "Bananas",
                                "temp_min": D("12.00"), "temp_max": D("14.00")}),
    ]  # fmt: skip
    for n in (1, 2, 3):
        rows.append(("SHIPPING.CONTAINERS", {"CONTAINER_ID": f"MSCU000000{n}", "ISO_TYPE": "45R1",
                     "MAX_PAYLOAD_KG": 29000, "STATUS": "LOADED", "LAST_PORT": None}))  # fmt: skip
    for n in range(1, 9):
        container, voyage = (f"MSCU000000{1 + n % 2}", "V0000010") if n < 8 else (
            "MSCU0000003", "V0000011")  # fmt: skip
        customer, product, amount = (1, "P100", "1234.50") if n < 8 else (2, "P101", "99.99")
        rows.append(("SHIPPING.ORDERS", _order(n, customer, product, amount, "LOADED")))
        rows.append(("SHIPPING.ORDER_ASSIGNMENTS", {"ORDER_ID": n, "CONTAINER_ID": container,
                     "VOYAGE_ID": voyage, "ASSIGNED_AT": T0, "LOADED_AT": T0 if n < 8 else None,
                     "DISCHARGED_AT": None}))  # fmt: skip
    for container in ("MSCU0000001", "MSCU0000002"):
        for i in range(120):
            hot = container == "MSCU0000002" and i in (30, 31, 90)
            rows.append(("SHIPPING.REEFER_TELEMETRY", {"CONTAINER_ID": container,
                         "READING_TS": T0 + timedelta(minutes=i),
                         "TEMPERATURE": D("4.50") if hot else D("0.50"), "HUMIDITY": None,
                         "POWER_STATE": "ON", "LATITUDE": None, "LONGITUDE": None}))  # fmt: skip
    return rows


class Projection:
    """A projection database built by the real projection code: mirrors of the real DDL,
    the real views, batches applied by `BatchApplier` on the writer's connection (after the
    lock-down, as `offload serve` runs it), and the read store the API serves from."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.connection = open_database(path)
        self.specs = mirror_specs()
        views = ViewSet(load_views(["order_tracking", "cold_chain"]))
        self.applier = BatchApplier(self.connection, MemoryStage(), views)
        for spec in self.specs.values():
            self.applier.ensure_mirror(spec)
        views.ensure(self.connection, {s.source_name.lower() for s in self.specs.values()})
        lock_down(self.connection, DuckDBLimits(memory_limit="512MB", threads=2))
        self.signal = CommitSignal()
        self.store = DuckDBReadStore(self.connection, feed=self.signal)
        self._offset = 0

    def apply(self, lsn: int, commit: datetime, rows: list[tuple[str, dict[str, Any]]]) -> None:
        """Apply one unit of work of upserts at `lsn`, committed at `commit` (naive UTC)."""
        commit_ms = int(commit.replace(tzinfo=UTC).timestamp() * 1000)
        events = []
        for seq, (table, row) in enumerate(rows, start=1):
            spec = self.specs[table]
            self._offset += 1
            events.append(DecodedChange(
                topic=f"t.{table.lower()}", partition=0, offset=self._offset, table=table,
                op="c", key=tuple(row[k] for k in spec.primary_key), row=row, commit_lsn=lsn,
                change_lsn=seq, uow_id=f"U{lsn}", commit_ms=commit_ms))  # fmt: skip
        unit = AssembledUnit(f"U{lsn}", lsn, commit_ms, tuple(events), False, len(events))
        self.applier.apply([unit], {})
        self.signal.committed(lsn)

    def commit_watermark(self, lsn: int) -> None:
        """A later unit of work: order 1 becomes IN_TRANSIT at `lsn` (3 h after T0)."""
        self.apply(lsn, T0 + timedelta(hours=3), [
            ("SHIPPING.ORDERS", _order(1, 1, "P100", "1234.50", "IN_TRANSIT"))])  # fmt: skip

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


def build_projection(path: Path) -> Projection:
    """The sample projection at `path`, its watermark LSN 50 committed at T0 + 2 h."""
    projection = Projection(path)
    projection.apply(50, T0 + timedelta(hours=2), sample_rows())
    return projection


@pytest.fixture
def projection(tmp_path: Path) -> Iterator[Projection]:
    built = build_projection(tmp_path / "offload.duckdb")
    yield built
    built.connection.close()


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


@pytest.fixture(params=["in-process", "worker"])
def served_store(
    request: pytest.FixtureRequest, projection: Projection, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ReadStore]:
    """The store the app answers from: the writer's own (`offload serve --no-projection`,
    `offload query`), or, as a serving worker of `offload serve` reads it, the writer's read
    server reached over Arrow Flight."""
    if request.param == "in-process":
        yield projection.store
        return
    server = ReadServer(projection.store)
    # Not in the test's own tmp_path, which the /sql attack tests check for leftovers.
    address = tmp_path_factory.mktemp("read-server") / "read-server.json"
    server.start(address)
    remote = RemoteReadStore(address, timeout_s=30)
    try:
        yield remote
    finally:
        remote.close()
        server.stop()


@pytest.fixture
def make_client(served_store: ReadStore) -> Iterator[AppFactory]:
    clients: list[TestClient] = []

    def factory(role: str | None = "reader", schemas: Any = None, **api: Any) -> TestClient:
        source = MemorySchemas() if schemas is None else schemas
        app = create_app(make_settings(**api), served_store, source)
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


@pytest.fixture
def built_file(tmp_path: Path) -> Path:
    """The sample projection written to a file and closed (no writer holds it)."""
    built = build_projection(tmp_path / "closed.duckdb")
    built.connection.close()
    return built.path


@pytest.fixture
def served_app(served_store: ReadStore) -> Any:
    """The app over the sample projection, with the test keys, as `offload serve` builds it."""
    return create_app(make_settings(), served_store, MemorySchemas())
