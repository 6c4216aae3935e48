"""A small catalog shared by the event-contract tests."""

from __future__ import annotations

import pytest

from event_contract.catalog import Column, Db2Type, Table


@pytest.fixture
def orders() -> Table:
    """SHIPPING.ORDERS with one column of every Db2 type the gateway carries."""
    return Table(
        "SHIPPING",
        "ORDERS",
        (
            Column("ORDER_ID", Db2Type.BIGINT, nullable=False),
            Column("REGION", Db2Type.CHAR, 4, nullable=False),
            Column("AMOUNT", Db2Type.DECIMAL, 31, 2),
            Column("QTY", Db2Type.SMALLINT),
            Column("LINES", Db2Type.INTEGER),
            Column("STATUS", Db2Type.VARCHAR, 20),
            Column("CODE", Db2Type.CHAR, 10),
            Column("ORDERED_ON", Db2Type.DATE),
            Column("CUTOFF", Db2Type.TIME),
            Column("UPDATED_AT", Db2Type.TIMESTAMP),
            Column("WEIGHT", Db2Type.DOUBLE),
        ),
        ("ORDER_ID", "REGION"),
    )
