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
from projections.events import DecodedChange
from projections.mirror import MirrorColumn, MirrorSpec, spec_from_table
from projections.store import open_database
from projections.views import ViewSet, load_views
from simulators.ddl import CreateTable, parse_statement, split_statements
from simulators.sor import SHIPPING_DDL

T0 = datetime(2024, 5, 1, 8, 0, 0)
D = Decimal


def _shipping_specs() -> list[MirrorSpec]:
    """The mirrors of the simulator's own DDL (simulators/sql/shipping.sql)."""
    texts = split_statements(SHIPPING_DDL.read_text(encoding="utf-8"))
    statements = [parse_statement(text, "SHIPPING") for text in texts]
    return [spec_from_table(s.table) for s in statements if isinstance(s, CreateTable)]


def _reference(name: str, key: str, *cols: tuple[str, str]) -> MirrorSpec:
    """A reference mirror as projections/views/*.sql read it: a VARCHAR key, then `cols`."""
    columns = tuple(MirrorColumn(n, t, n != key) for n, t in ((key, "VARCHAR"), *cols))
    return MirrorSpec("REFERENCE", name, columns, (key,))


SHIPPING = {
    s.source_name: s
    for s in (
        *_shipping_specs(),
        _reference("PRODUCTS", "product_id", ("product_name", "VARCHAR"),
                   ("temp_min", "DECIMAL(5,2)"), ("temp_max", "DECIMAL(5,2)")),
        _reference("PORTS", "unlocode", ("name", "VARCHAR")),
        _reference("VESSELS", "vessel_id", ("name", "VARCHAR")),
    )
}  # fmt: skip

# A value of each DuckDB type for the NOT NULL columns a test row does not name.
_FILLERS: dict[str, Any] = {
    "VARCHAR": "",
    "SMALLINT": 0,
    "INTEGER": 0,
    "BIGINT": 0,
    "DATE": T0.date(),
    "TIME": T0.time(),
    "TIMESTAMP": T0,
    "DOUBLE": 0.0,
}


def full_row(table: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """`values` completed to the whole row image a change event carries: a column the test does
    not name is NULL, or a fixed value of its type where the DDL declares it NOT NULL."""
    row = {
        c.name: None if c.nullable else _FILLERS.get(c.duck_type, Decimal(0))
        for c in SHIPPING[table].columns
    }
    return row | dict(values)


EventFactory = Callable[..., DecodedChange]


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
) -> DecodedChange:
    """A change event of `table` (SCHEMA.TABLE); key from the row unless given."""
    spec = SHIPPING[table]
    if key is None:
        assert row is not None
        key = tuple(row[k] for k in spec.primary_key)
    return DecodedChange(
        topic=f"t.{table.lower()}",
        partition=partition,
        offset=offset,
        table=table,
        op=op or ("d" if row is None else "u"),
        key=key,
        row=None if row is None else full_row(table, row),
        commit_lsn=lsn,
        change_lsn=seq,
        uow_id=uow or f"U{lsn}",
        commit_ms=1_700_000_000_000 + lsn,
    )


def unit(lsn: int, *events: DecodedChange, uow: str | None = None) -> AssembledUnit:
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
