"""CD-table flavors: the simulated Db2 writes integer or binary log positions, updates as `U`
rows or `D` + `I` pairs; the capture reader gives the same changes from every flavor, whatever
the batch size."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from cdc_ingest.capture_rows import pair_updates
from cdc_ingest.source import Position, Source, connect_sqlite
from db2.dialect import SQLITE, db2_dialect
from db2.errors import SourceConfigError, SourceError
from event_contract.changes import Op, RowChange
from simulators.simulation import SimulationOptions, run_simulation
from simulators.sor import SystemOfRecord, install_shipping

FLAVORS = [(f, p) for f in ("simulator", "zos", "zos-extended", "luw") for p in (False, True)]
WIDTHS = {"simulator": None, "zos": 10, "zos-extended": 16, "luw": 16}


def _make(path: Path, flavor: str, pairs: bool, transactions: int = 150) -> None:
    with SystemOfRecord.open(path, flavor=flavor, updates_as_delete_insert=pairs) as sor:
        install_shipping(sor)
        run_simulation(sor, SimulationOptions(transactions=transactions, seed=4))


def _changes(path: Path, max_rows: int) -> list[tuple[Any, ...]]:
    """Every change the capture reader gives, read `max_rows` rows at a time."""
    out: list[tuple[Any, ...]] = []
    with Source(connect_sqlite(path, "SHIPPING"), SQLITE, "SHIPPING") as source:
        position = Position(0, 0)
        while True:
            batch = source.read_changes(position, max_rows)
            if not batch.units:
                return out
            out += [
                (u.lsn, u.uow_id, u.commit_time is not None, c.table, c.op, c.before, c.after)
                for u in batch.units
                for c in u.changes
            ]
            position = batch.position


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[Any, ...]]:
    path = tmp_path_factory.mktemp("baseline") / "sor.sqlite"
    _make(path, "simulator", False)
    return _changes(path, 10_000)


@pytest.mark.parametrize(("flavor", "pairs"), FLAVORS)
def test_every_flavor_and_batch_size_gives_the_same_changes(
    flavor: str, pairs: bool, tmp_path: Path, baseline: list[tuple[Any, ...]]
) -> None:
    path = tmp_path / "sor.sqlite"
    _make(path, flavor, pairs)
    con = sqlite3.connect(path)
    kinds = set(con.execute(
        "SELECT typeof(IBMSNAP_COMMITSEQ), length(CAST(IBMSNAP_COMMITSEQ AS BLOB)), "
        "typeof(IBMSNAP_INTENTSEQ) FROM CD_ORDERS UNION "
        "SELECT typeof(IBMSNAP_COMMITSEQ), length(CAST(IBMSNAP_COMMITSEQ AS BLOB)), "
        "typeof(IBMSNAP_UOWID) FROM IBMSNAP_UOW"
    ).fetchall())  # fmt: skip
    ops = dict(con.execute("SELECT IBMSNAP_OPERATION, COUNT(*) FROM CD_ORDERS GROUP BY 1"))
    con.close()
    width = WIDTHS[flavor]
    if width is None:
        assert {(k, c) for k, _, c in kinds} == {("integer", "integer"), ("integer", "text")}
    else:
        assert kinds == {("blob", width, "blob")}
    assert ops.get("U", 0) == 0 if pairs else ops.get("U", 0) > 0
    assert ops.get("D", 0) > 0 and ops.get("I", 0) > 0
    assert {c[4] for c in baseline} == {Op.INSERT, Op.UPDATE, Op.DELETE}
    for max_rows in (1, 2, 10_000):  # pairs meet the batch limit at 1 and 2
        assert _changes(path, max_rows) == baseline, max_rows


def test_the_catalog_says_the_width_and_an_existing_file_keeps_its_flavor(
    tmp_path: Path,
) -> None:
    path = tmp_path / "sor.sqlite"
    SystemOfRecord.open(path, flavor="zos-extended").close()
    with Source(connect_sqlite(path, "SHIPPING"), SQLITE, "SHIPPING") as source:
        assert source.lsn_bytes == 16 and source.newest_lsn() == 0
    with SystemOfRecord.open(path) as sor:  # no flavor asked: the file's
        assert sor.flavor.name == "zos-extended"
    with pytest.raises(SourceConfigError, match=r"source\.flavor.*'zos'.*'zos-extended'"):
        SystemOfRecord.open(path, flavor="zos")
    con = sqlite3.connect(path)
    columns = {r[1] for r in con.execute("PRAGMA table_info(IBMSNAP_UOW)")}
    register = {r[1] for r in con.execute("PRAGMA table_info(IBMSNAP_REGISTER)")}
    con.close()
    assert {
        "IBMSNAP_AUTHTKN",
        "IBMSNAP_AUTHID",
        "IBMSNAP_REJ_CODE",
        "IBMSNAP_APPLY_QUAL",
    } <= columns
    assert {
        "CHG_UPD_TO_DEL_INS",
        "ARCH_LEVEL",
        "PHYS_CHANGE_OWNER",
        "CD_NEW_SYNCHPOINT",
    } <= register


def test_a_delete_and_insert_of_one_key_in_a_pairs_table_is_an_update(tmp_path: Path) -> None:
    sql = (
        "CREATE TABLE A.T (K INTEGER NOT NULL PRIMARY KEY, V VARCHAR(5));"
        "INSERT INTO A.T VALUES (1, 'x'), (2, 'y')"
    )
    results = {}
    for pairs in (False, True):
        path = tmp_path / f"{pairs}.sqlite"
        with SystemOfRecord.open(path, updates_as_delete_insert=pairs) as sor:
            with sor.unit_of_work() as unit:
                sor.run_script(unit, sql)
                sor.register("A.T")
            with sor.unit_of_work() as unit:  # the same key removed and put back; a new key
                sor.run_script(
                    unit, "DELETE FROM A.T WHERE K = 1; INSERT INTO A.T VALUES (1, 'z');"
                    "UPDATE A.T SET K = 3 WHERE K = 2",
                )  # fmt: skip
        results[pairs] = [(c.op, c.before, c.after) for c in _units(path)[-1].changes]
    # a table registered with U rows keeps what the program did
    assert [op for op, _, _ in results[False]] == [Op.DELETE, Op.INSERT, Op.UPDATE]
    # registered with pairs, the same key's D + I is the update ASN would have logged; a key
    # change stays a delete and an insert (what a key-changing U is published as anyway)
    assert results[True] == [
        (Op.UPDATE, {"K": 1, "V": "x"}, {"K": 1, "V": "z"}),
        (Op.DELETE, {"K": 2, "V": "y"}, None),
        (Op.INSERT, None, {"K": 3, "V": "y"}),
    ]


def _units(path: Path) -> list[Any]:
    with Source(connect_sqlite(path, "SHIPPING"), SQLITE, "SHIPPING") as source:
        return list(source.read_changes(Position(0, 0), 1000).units)


def test_pairing_needs_the_same_table_key_and_adjacency() -> None:
    def change(table: str, op: Op, seq: int, key: int) -> RowChange:
        row = {"K": key, "V": seq}
        return RowChange(table, op, 7, seq, None if op is Op.INSERT else row,
                         None if op is Op.DELETE else row)  # fmt: skip

    paired = {"S.T": ("K",)}
    d, i = change("S.T", Op.DELETE, 1, 1), change("S.T", Op.INSERT, 2, 1)
    (merged,) = pair_updates([d, i], paired)
    assert (merged.op, merged.seq, merged.before, merged.after) == (Op.UPDATE, 1, d.before, i.after)
    other_table = change("S.U", Op.INSERT, 2, 1)
    between = change("S.T", Op.INSERT, 2, 5)
    for changes in ([d, other_table], [d, between, i], [i, d], [d]):
        assert pair_updates(changes, paired) == changes
    assert pair_updates([d, i], {}) == [d, i]


def test_a_log_position_beyond_63_bits_is_refused_by_name() -> None:
    dialect = db2_dialect()
    assert dialect.lsn_from_db(bytes(9) + b"\x05") == 5
    assert dialect.lsn_to_db(5) == bytes(9) + b"\x05"
    with pytest.raises(SourceError, match=r"log position x'0080(00)+' does not fit the 63-bit"):
        dialect.lsn_from_db(b"\x00\x80" + bytes(8))


CHILD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from simulators.sor import SystemOfRecord
    sor = SystemOfRecord.open(Path(sys.argv[1]))
    with sor.unit_of_work() as unit:
        sor.run_script(unit, "INSERT INTO ACCT.A VALUES (2); UPDATE ACCT.A SET K = 3 WHERE K = 1;"
                             "INSERT INTO SALES.B VALUES (2)")
        print("written", flush=True)
        time.sleep(60)
    """
)


def test_kill_9_mid_unit_across_schemas_leaves_nothing(tmp_path: Path) -> None:
    path = tmp_path / "sor.sqlite"
    with SystemOfRecord.open(path, flavor="zos", updates_as_delete_insert=True) as sor:
        with sor.unit_of_work() as unit:
            sor.run_script(
                unit,
                "CREATE TABLE ACCT.A (K INTEGER NOT NULL PRIMARY KEY);"
                "CREATE TABLE SALES.B (K INTEGER NOT NULL PRIMARY KEY)",
            )
            sor.register("ACCT.A")
            sor.register("SALES.B")
        with sor.unit_of_work() as unit:
            sor.run_script(unit, "INSERT INTO ACCT.A VALUES (1); INSERT INTO SALES.B VALUES (1)")
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
    con = sqlite3.connect(path)
    counts = [
        con.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0]
        for t in ("ACCT.A", "ACCT.CD_A", "SALES.B", "SALES.CD_B")
    ]
    con.close()
    assert counts == [1, 1, 1, 1]
    with SystemOfRecord.open(path) as sor:
        assert sor.newest_lsn() == before
        with sor.unit_of_work() as unit:  # the lock died with the process
            sor.run_script(unit, "UPDATE ACCT.A SET K = 4 WHERE K = 1")
        assert unit.lsn == before + 1
    (last,) = _units(path)[-1:]
    assert [(c.table, c.op) for c in last.changes] == [("ACCT.A", Op.DELETE), ("ACCT.A", Op.INSERT)]
