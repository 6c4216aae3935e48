"""Fixtures of the projections' unit tests: the shipping mirrors, events, a database in memory.

The suite runs with --import-mode=importlib, so helpers reach the tests as the `kit` fixture.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest

from projections.applier import BatchApplier
from projections.assembler import AssembledUnit, MemoryStage
from projections.events import ChangeEvent
from projections.mirror import MirrorColumn, MirrorSpec
from projections.store import open_database
from projections.views import ViewSet, load_views


def _spec(schema: str, name: str, key: tuple[str, ...], *cols: tuple[str, str]) -> MirrorSpec:
    columns = tuple(MirrorColumn(n, t, n not in key) for n, t in cols)
    return MirrorSpec(schema, name, columns, key)


SHIPPING = {
    s.source_name: s
    for s in (
        _spec(
            "SHIPPING",
            "CUSTOMERS",
            ("CUSTOMER_ID",),
            ("CUSTOMER_ID", "INTEGER"),
            ("NAME", "VARCHAR"),
        ),
        _spec(
            "SHIPPING",
            "ORDERS",
            ("ORDER_ID",),
            ("ORDER_ID", "BIGINT"),
            ("CUSTOMER_ID", "INTEGER"),
            ("PRODUCT_ID", "VARCHAR"),
            ("QUANTITY", "INTEGER"),
            ("AMOUNT", "DECIMAL(13,2)"),
            ("CURRENCY", "VARCHAR"),
            ("STATUS", "VARCHAR"),
            ("ORIGIN_PORT", "VARCHAR"),
            ("DESTINATION_PORT", "VARCHAR"),
        ),
        _spec(
            "SHIPPING",
            "VOYAGES",
            ("VOYAGE_ID",),
            ("VOYAGE_ID", "VARCHAR"),
            ("VESSEL_ID", "VARCHAR"),
            ("PLANNED_DEPARTURE", "TIMESTAMP"),
            ("PLANNED_ARRIVAL", "TIMESTAMP"),
            ("DEPARTED_AT", "TIMESTAMP"),
            ("ARRIVED_AT", "TIMESTAMP"),
        ),
        _spec(
            "SHIPPING",
            "ORDER_ASSIGNMENTS",
            ("ORDER_ID", "CONTAINER_ID", "VOYAGE_ID"),
            ("ORDER_ID", "BIGINT"),
            ("CONTAINER_ID", "VARCHAR"),
            ("VOYAGE_ID", "VARCHAR"),
            ("ASSIGNED_AT", "TIMESTAMP"),
            ("LOADED_AT", "TIMESTAMP"),
            ("DISCHARGED_AT", "TIMESTAMP"),
        ),
        _spec(
            "SHIPPING",
            "REEFER_TELEMETRY",
            ("CONTAINER_ID", "READING_TS"),
            ("CONTAINER_ID", "VARCHAR"),
            ("READING_TS", "TIMESTAMP"),
            ("TEMPERATURE", "DECIMAL(5,2)"),
            ("HUMIDITY", "DECIMAL(5,2)"),
            ("POWER_STATE", "VARCHAR"),
        ),
        _spec(
            "REFERENCE",
            "PRODUCTS",
            ("product_id",),
            ("product_id", "VARCHAR"),
            ("product_name", "VARCHAR"),
            ("temp_min", "DECIMAL(5,2)"),
            ("temp_max", "DECIMAL(5,2)"),
        ),
        _spec("REFERENCE", "PORTS", ("unlocode",), ("unlocode", "VARCHAR"), ("name", "VARCHAR")),
        _spec(
            "REFERENCE", "VESSELS", ("vessel_id",), ("vessel_id", "VARCHAR"), ("name", "VARCHAR")
        ),
    )
}

EventFactory = Callable[..., ChangeEvent]


def make_event(
    table: str,
    row: Mapping[str, Any] | None,
    lsn: int,
    seq: int = 1,
    *,
    key: tuple[Any, ...] | None = None,
    op: str | None = None,
    uow: str | None = None,
    offset: int = 0,
    partition: int = 0,
) -> ChangeEvent:
    """A change event of `table` (SCHEMA.TABLE); key from the row unless given."""
    spec = SHIPPING[table]
    if key is None:
        assert row is not None
        key = tuple(row[k] for k in spec.primary_key)
    return ChangeEvent(
        topic=f"t.{table.lower()}",
        partition=partition,
        offset=offset,
        table=table,
        op=op or ("d" if row is None else "u"),
        key=key,
        row=None if row is None else dict(row),
        commit_lsn=lsn,
        change_lsn=seq,
        uow_id=uow or f"U{lsn}",
        commit_ms=1_700_000_000_000 + lsn,
    )


def unit(lsn: int, *events: ChangeEvent, uow: str | None = None) -> AssembledUnit:
    """An assembled unit of work holding `events`."""
    return AssembledUnit(uow or f"U{lsn}", lsn, 1_700_000_000_000 + lsn, events, False, len(events))


class Projection:
    """A projection database in memory with the shipping mirrors and both views."""

    def __init__(self, with_views: bool = True) -> None:
        self.con = open_database(":memory:")
        self.stage = MemoryStage()
        self.views = ViewSet(load_views(["order_tracking", "cold_chain"])) if with_views else None
        self.applier = BatchApplier(self.con, self.stage, self.views, chunk_events=7)
        for spec in SHIPPING.values():
            self.applier.ensure_mirror(spec)
        if self.views is not None:
            mirrors = {f"{s.schema}.{s.name}".lower() for s in SHIPPING.values()}
            self.views.ensure(self.con, mirrors)

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        cur = self.con.cursor()
        try:
            return sorted(cur.execute(sql).fetchall(), key=repr)
        finally:
            cur.close()


T0 = datetime(2024, 5, 1, 8, 0, 0)
D = Decimal


@pytest.fixture
def kit() -> SimpleNamespace:
    """The helpers: SHIPPING specs, make_event, unit, Projection, T0, D."""
    return SimpleNamespace(
        SHIPPING=SHIPPING, make_event=make_event, unit=unit, Projection=Projection, T0=T0, D=D
    )


@pytest.fixture
def projection() -> Iterator[Projection]:
    """A projection database with the shipping mirrors and both views."""
    p = Projection()
    yield p
    p.con.close()


@pytest.fixture
def bare_projection() -> Iterator[Projection]:
    """A projection database with the shipping mirrors and no views."""
    p = Projection(with_views=False)
    yield p
    p.con.close()
