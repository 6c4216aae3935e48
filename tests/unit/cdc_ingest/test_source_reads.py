"""The capture reader: commit order, units of work in pieces, headers, key chunks, Db2 errors."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest

from cdc_ingest.source import Position, Source, SourceConfigError, connect_sqlite, parse_dsn
from db2.dialect import SQLITE
from simulators.simulation import SimulationOptions, run_simulation
from simulators.sor import SystemOfRecord, install_shipping

REPO = Path(__file__).parents[3]


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[SystemOfRecord, Source]]:
    path = tmp_path / "sor.sqlite"
    with SystemOfRecord.open(path) as sor:
        install_shipping(sor)
        with Source(connect_sqlite(path, "SHIPPING"), SQLITE, "SHIPPING") as source:
            yield sor, source


def _all_changes(source: Source, max_rows: int) -> list[tuple[int, int, str]]:
    seen, position = [], Position(0, 0)
    while True:
        batch = source.read_changes(position, max_rows)
        rows = [(c.lsn, c.seq, c.table) for u in batch.units for c in u.changes]
        assert len(rows) <= max_rows
        seen += rows
        if not rows:
            return seen
        position = batch.position


def test_reading_in_small_pieces_gives_every_row_once_in_commit_order(
    pair: tuple[SystemOfRecord, Source],
) -> None:
    sor, source = pair
    run_simulation(sor, SimulationOptions(transactions=60, seed=3))
    whole = _all_changes(source, 1_000_000)
    assert whole == sorted(whole) and len(set(whole)) == len(whole)
    assert _all_changes(source, 7) == whole
    total = sor.conn.execute(
        "SELECT SUM(n) FROM (" + " UNION ALL ".join(
            f'SELECT COUNT(*) AS n FROM SHIPPING."CD_{t}"' for t in sor.captured()
        ) + ")"
    ).fetchone()[0]  # fmt: skip
    assert len(whole) == total


def test_a_unit_larger_than_the_bound_comes_in_pieces(pair: tuple[SystemOfRecord, Source]) -> None:
    sor, source = pair
    rows = [{"CUSTOMER_ID": i, "NAME": "n", "COUNTRY": "NL", "CREDIT_LIMIT": Decimal("1.00"),
             "CREATED_AT": datetime(2024, 1, 1)} for i in range(1, 11)]  # fmt: skip
    with sor.unit_of_work() as unit:
        unit.insert(sor.table("CUSTOMERS"), rows)
        unit.update(sor.table("CUSTOMERS"), {"CUSTOMER_ID": 1}, {"NAME": "m"})
    first = source.read_changes(Position.after_unit(unit.lsn - 1), 4)
    assert [c.seq for c in first.units[0].changes] == [1, 2, 3, 4]
    assert not first.last_complete and first.position == Position(unit.lsn, 4)
    rest = source.read_changes(first.position, 100)
    assert [c.seq for c in rest.units[0].changes] == list(range(5, 12))
    assert rest.last_complete and rest.position == Position.after_unit(unit.lsn)
    header = source.uow_header(unit.lsn)
    assert header is not None
    assert (header.uow_id, header.total_rows) == (unit.uow_id, 11)
    assert header.rows_by_table == {"SHIPPING.CUSTOMERS": 11}
    assert header.commit_time == first.units[0].commit_time
    assert source.uow_header(unit.lsn + 1) is None


def test_reading_named_tables_only(pair: tuple[SystemOfRecord, Source]) -> None:
    sor, source = pair
    run_simulation(sor, SimulationOptions(transactions=30, seed=5))
    batch = source.read_changes(Position(0, 0), 100_000, ["shipping.containers"])
    assert {c.table for u in batch.units for c in u.changes} == {"SHIPPING.CONTAINERS"}
    assert list(batch.tables) == ["SHIPPING.CONTAINERS"]


def _group_read(
    source: Source, max_rows: int, tables: list[str] | None, exclude: list[str]
) -> tuple[list[int], list[tuple[int, int, str]]]:
    """Every unit of work (LSNs, a unit in pieces once) and every row one group reads."""
    units: list[int] = []
    rows: list[tuple[int, int, str]] = []
    position = Position(0, 0)
    while True:
        batch = source.read_changes(position, max_rows, tables, exclude=exclude, every_unit=True)
        for unit in batch.units:
            if not units or units[-1] != unit.lsn:
                units.append(unit.lsn)
        rows += [(c.lsn, c.seq, c.table) for u in batch.units for c in u.changes]
        if batch.position == position:
            return units, rows
        position = batch.position


@pytest.mark.parametrize("max_rows", [1, 7, 1_000_000])
def test_a_table_group_reads_every_unit_and_only_its_rows(
    pair: tuple[SystemOfRecord, Source], max_rows: int
) -> None:
    sor, source = pair
    run_simulation(sor, SimulationOptions(transactions=40, seed=5))
    whole = source.read_changes(Position(0, 0), 1_000_000)
    # every unit of work of IBMSNAP_UOW, also those that changed no captured table (DDL)
    every = [n for n in range(1, source.newest_lsn() + 1) if source.uow_header(n) is not None]
    assert set(every) > {u.lsn for u in whole.units}
    rows = [(c.lsn, c.seq, c.table) for u in whole.units for c in u.changes]
    telemetry = ["SHIPPING.REEFER_TELEMETRY"]
    for tables, exclude in ((telemetry, []), (None, telemetry)):
        units, got = _group_read(source, max_rows, tables, exclude)
        assert units == every
        assert got == [r for r in rows if (r[2] in telemetry) == (tables is not None)]
        assert {r[0] for r in got} < set(every)  # some units have no rows of this group


def test_chunks_walk_a_composite_key_in_order(pair: tuple[SystemOfRecord, Source]) -> None:
    sor, source = pair
    run_simulation(sor, SimulationOptions(transactions=300, seed=11))
    keys, after, lsn = [], None, sor.newest_lsn()
    while True:
        chunk = source.read_chunk("REEFER_TELEMETRY", after, 50)
        assert chunk.lsn == lsn
        keys += [(r["CONTAINER_ID"], r["READING_TS"]) for r in chunk.rows]
        if chunk.done:
            break
        after = chunk.last_key
    count = sor.conn.execute("SELECT COUNT(*) FROM SHIPPING.REEFER_TELEMETRY").fetchone()[0]
    assert keys == sorted(keys) and len(set(keys)) == len(keys) == count > 50


def test_dsn_must_name_host_and_port() -> None:
    assert parse_dsn("DATABASE=D;HOSTNAME=zos.example.com;PORT=446;UID=U") == (
        "zos.example.com",
        446,
    )
    with pytest.raises(SourceConfigError) as info:
        parse_dsn("DATABASE=D;HOSTNAME=zos.example.com")
    assert str(info.value) == "config key 'source.dsn': must name HOSTNAME and a numeric PORT"


def test_unreachable_db2_exits_3_naming_host_and_port(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "OFFLOAD__RUNTIME__DATA_DIR": str(tmp_path),
        "OFFLOAD__SOURCE__KIND": "db2",
        "OFFLOAD__SOURCE__DSN": "DATABASE=DSNV12;HOSTNAME=127.0.0.1;PORT=1;PROTOCOL=TCPIP;UID=U",
        "OFFLOAD__SOURCE__CONNECT_TIMEOUT_S": "2",
        "COLUMNS": "200",
    }
    done = subprocess.run(
        [sys.executable, "-m", "offload", "sor", "tables"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 3
    assert done.stderr.strip() == (
        "offload: error: system of record Db2 at 127.0.0.1:1 is unreachable: Connection refused"
    )
