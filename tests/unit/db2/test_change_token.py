"""The change check of the system-of-record boundary: a new token after another connection
commits, the same one otherwise."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest

from db2.catalog_reader import SystemCatalog
from db2.connection import connect_sqlite
from db2.dialect import SQLITE, db2_dialect
from simulators.sor import SystemOfRecord, install_shipping


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[SystemOfRecord, SystemCatalog]]:
    """The simulated Db2 (its writer) and a catalog reader on its own connection."""
    path = tmp_path / "sor.sqlite"
    with SystemOfRecord.open(path) as sor:
        install_shipping(sor)
        with SystemCatalog(connect_sqlite(path, "SHIPPING"), SQLITE, "SHIPPING") as catalog:
            yield sor, catalog


def _commit_customer(sor: SystemOfRecord, customer_id: int) -> None:
    row = {"CUSTOMER_ID": customer_id, "NAME": "n", "COUNTRY": "NL",
           "CREDIT_LIMIT": Decimal("1.00"), "CREATED_AT": datetime(2024, 1, 1)}  # fmt: skip
    with sor.unit_of_work() as unit:
        unit.insert(sor.table("CUSTOMERS"), [row])


def test_the_token_changes_after_another_connection_commits_and_only_then(
    pair: tuple[SystemOfRecord, SystemCatalog],
) -> None:
    sor, catalog = pair
    first = catalog.change_token()
    assert catalog.change_token() == first
    catalog.table_names()  # the reader's own reads change nothing
    with catalog.read_transaction():
        catalog.newest_lsn()
    assert catalog.change_token() == first
    _commit_customer(sor, 1)
    second = catalog.change_token()
    assert second != first
    assert catalog.change_token() == second
    _commit_customer(sor, 2)
    assert catalog.change_token() != second


def test_only_the_simulated_db2_has_a_cheap_check() -> None:
    assert SQLITE.commit_check("SHIPPING") == 'PRAGMA "SHIPPING".data_version'
    assert SQLITE.commit_check_s is not None and SQLITE.commit_check_s < 0.05
    db2 = db2_dialect()
    assert db2.commit_check("SHIPPING") is None
    assert db2.commit_check_s is None
