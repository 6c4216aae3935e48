"""Units of work of the simulated Db2: atomic with their capture rows, strictly increasing LSNs."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest

from cdc_ingest.source import Position, Source, connect_sqlite
from db2.dialect import SQLITE
from event_contract.changes import Op
from simulators.errors import StatementError
from simulators.sor import SystemOfRecord

NOW = datetime(2024, 3, 1, 6, 0, 0, 123456)


def _customer(cid: int) -> dict[str, object]:
    return {
        "CUSTOMER_ID": cid, "NAME": f"C{cid}", "COUNTRY": "NL",
        "CREDIT_LIMIT": Decimal("1000.00"), "CREATED_AT": NOW,
    }  # fmt: skip


def _reader(sor: SystemOfRecord, path: Path) -> Source:
    return Source(connect_sqlite(path, sor.schema), SQLITE, sor.schema)


def _count(sor: SystemOfRecord, table: str) -> int:
    return int(sor.conn.execute(f'SELECT COUNT(*) FROM "SHIPPING"."{table}"').fetchone()[0])


def test_unit_commits_rows_with_their_capture_rows(sor: SystemOfRecord, tmp_path: Path) -> None:
    customers = sor.table("CUSTOMERS")
    with sor.unit_of_work() as unit:
        unit.insert(customers, [_customer(1), _customer(2)])
        unit.update(customers, {"CUSTOMER_ID": 1}, {"NAME": "Renamed"})
        unit.delete(customers, {"CUSTOMER_ID": 2})
    with _reader(sor, tmp_path / "sor.sqlite") as source:
        batch = source.read_changes(Position.after_unit(unit.lsn - 1), 100)
    (uow,) = batch.units
    assert (uow.lsn, uow.uow_id) == (unit.lsn, unit.uow_id)
    assert [(c.op, c.seq) for c in uow.changes] == [
        (Op.INSERT, 1), (Op.INSERT, 2), (Op.UPDATE, 3), (Op.DELETE, 4)
    ]  # fmt: skip
    assert uow.changes[2].before is not None and uow.changes[2].before["NAME"] == "C1"
    assert uow.changes[2].after is not None and uow.changes[2].after["NAME"] == "Renamed"
    assert uow.changes[3].after is None
    assert uow.changes[3].before is not None and uow.changes[3].before["CUSTOMER_ID"] == 2
    assert unit.counts == {("SHIPPING.CUSTOMERS", "I"): 2, ("SHIPPING.CUSTOMERS", "U"): 1,
                           ("SHIPPING.CUSTOMERS", "D"): 1}  # fmt: skip


def test_rolled_back_unit_leaves_nothing(sor: SystemOfRecord) -> None:
    before = sor.newest_lsn()
    with pytest.raises(RuntimeError, match="boom"), sor.unit_of_work() as unit:
        unit.insert(sor.table("CUSTOMERS"), [_customer(1)])
        raise RuntimeError("boom")
    assert sor.newest_lsn() == before
    assert _count(sor, "CUSTOMERS") == 0
    assert _count(sor, "CD_CUSTOMERS") == 0
    assert _count(sor, "IBMSNAP_OPEN_UOW") == 0
    with sor.unit_of_work() as unit:  # the next unit gets the LSN the rolled-back one freed
        unit.insert(sor.table("CUSTOMERS"), [_customer(1)])
    assert unit.lsn == before + 1


def test_failed_statement_rolls_the_unit_back(sor: SystemOfRecord) -> None:
    with pytest.raises(StatementError) as info, sor.unit_of_work() as unit:
        unit.insert(sor.table("CUSTOMERS"), [_customer(1)])
        unit.insert(sor.table("CUSTOMERS"), [_customer(1)])
    assert "UNIQUE constraint failed" in str(info.value)
    assert _count(sor, "CUSTOMERS") == 0 and _count(sor, "CD_CUSTOMERS") == 0


def test_lsns_strictly_increase_across_writers(sor_factory: Callable[..., SystemOfRecord]) -> None:
    first = sor_factory()
    second = SystemOfRecord.open(Path(first.conn.execute("PRAGMA database_list").fetchall()[1][2]))
    lsns = []
    for i in range(1, 21):
        writer = first if i % 2 else second
        with writer.unit_of_work() as unit:
            unit.insert(writer.table("CUSTOMERS"), [_customer(i)])
        lsns.append(unit.lsn)
    second.close()
    assert lsns == sorted(set(lsns)) and len(lsns) == 20
    assert all(b == a + 1 for a, b in itertools.pairwise(lsns))


def test_write_outside_a_unit_of_work_is_refused(sor: SystemOfRecord) -> None:
    with pytest.raises(Exception, match=r"SHIPPING\.CUSTOMERS changed outside a unit of work"):
        sor.conn.execute(
            "INSERT INTO SHIPPING.CUSTOMERS (CUSTOMER_ID, NAME, COUNTRY, CREDIT_LIMIT, CREATED_AT)"
            " VALUES (1, 'x', 'NL', '1.00', '2024-01-01 00:00:00.000000')"
        )
    assert _count(sor, "CUSTOMERS") == 0


CHILD = textwrap.dedent(
    """
    import sys, time
    from datetime import datetime
    from decimal import Decimal
    from pathlib import Path
    from simulators.sor import SystemOfRecord
    sor = SystemOfRecord.open(Path(sys.argv[1]))
    with sor.unit_of_work() as unit:
        rows = [{"CUSTOMER_ID": i, "NAME": "n", "COUNTRY": "NL", "CREDIT_LIMIT": Decimal("1.00"),
                 "CREATED_AT": datetime(2024, 1, 1)} for i in range(1000, 6000)]
        unit.insert(sor.table("CUSTOMERS"), rows)
        print("written", flush=True)
        time.sleep(60)
    """
)


def test_kill_9_mid_unit_leaves_nothing_behind(sor: SystemOfRecord, tmp_path: Path) -> None:
    path = tmp_path / "sor.sqlite"
    before = sor.newest_lsn()
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path)], stdout=subprocess.PIPE, text=True,
        cwd=Path(__file__).parents[3],
    )  # fmt: skip
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "written"
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait()
        if child.stdout is not None:
            child.stdout.close()
    assert child.returncode == -signal.SIGKILL
    assert sor.newest_lsn() == before
    assert _count(sor, "CUSTOMERS") == 0 and _count(sor, "CD_CUSTOMERS") == 0
    with sor.unit_of_work() as unit:  # the lock died with the process
        unit.insert(sor.table("CUSTOMERS"), [_customer(1)])
    assert unit.lsn == before + 1 and _count(sor, "CD_CUSTOMERS") == 1
