"""Idle capture's wait: it ends when another connection commits, or when stopped; never early
on its own (the longest wait here is an hour, so an early end would be the commit's doing)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest

from cdc_ingest.commit_watch import CommitWatch
from db2.catalog_reader import SystemCatalog
from db2.connection import connect_sqlite
from db2.dialect import SQLITE, db2_dialect
from simulators.sor import SystemOfRecord, install_shipping

HOUR_S = 3600.0
BOUND_S = 30.0
"""How long a test waits for a wait that must end (a bound, not a measured figure)."""


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[SystemOfRecord, SystemCatalog]]:
    path = tmp_path / "sor.sqlite"
    with SystemOfRecord.open(path) as sor:
        install_shipping(sor)
        with SystemCatalog(connect_sqlite(path, "SHIPPING"), SQLITE, "SHIPPING") as catalog:
            yield sor, catalog


def _commit_customer(sor: SystemOfRecord) -> None:
    row = {"CUSTOMER_ID": 1, "NAME": "n", "COUNTRY": "NL", "CREDIT_LIMIT": Decimal("1.00"),
           "CREATED_AT": datetime(2024, 1, 1)}  # fmt: skip
    with sor.unit_of_work() as unit:
        unit.insert(sor.table("CUSTOMERS"), [row])


def _waiting(
    watch: CommitWatch, source: SystemCatalog | None, stop: threading.Event
) -> threading.Thread:
    thread = threading.Thread(target=watch.wait, args=(source, stop), daemon=True)
    thread.start()
    return thread


def test_a_commit_after_the_mark_ends_the_wait(
    pair: tuple[SystemOfRecord, SystemCatalog],
) -> None:
    sor, catalog = pair
    watch = CommitWatch(HOUR_S)
    watch.mark(catalog)
    stop = threading.Event()
    thread = _waiting(watch, catalog, stop)
    _commit_customer(sor)
    thread.join(BOUND_S)
    ended = not thread.is_alive()
    stop.set()
    assert ended


def test_a_commit_between_the_mark_and_the_wait_ends_it_at_once(
    pair: tuple[SystemOfRecord, SystemCatalog],
) -> None:
    sor, catalog = pair
    watch = CommitWatch(HOUR_S)
    watch.mark(catalog)  # before the step's reads
    _commit_customer(sor)  # the reads missed this one
    stop = threading.Event()
    thread = _waiting(watch, catalog, stop)
    thread.join(BOUND_S)
    ended = not thread.is_alive()
    stop.set()
    assert ended


def test_without_a_commit_only_stop_ends_the_wait(
    pair: tuple[SystemOfRecord, SystemCatalog],
) -> None:
    _sor, catalog = pair
    watch = CommitWatch(HOUR_S)
    watch.mark(catalog)
    stop = threading.Event()
    thread = _waiting(watch, catalog, stop)
    thread.join(0.3)
    still_waiting = thread.is_alive()
    stop.set()
    thread.join(BOUND_S)
    assert still_waiting and not thread.is_alive()


class _NoCheapCheck(SystemCatalog):
    """A real Db2 as the watch sees it: no cheap check, and a check it must not run."""

    def __init__(self) -> None:
        self.dialect = db2_dialect()

    def change_token(self) -> int:
        raise AssertionError("the change check is a round trip to Db2: capture polls instead")


def test_on_a_real_db2_the_wait_is_the_poll_interval() -> None:
    source = _NoCheapCheck()
    watch = CommitWatch(0.05)
    watch.mark(source)
    watch.wait(source, threading.Event())  # returns after the poll interval, no check run
