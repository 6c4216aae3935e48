"""The batch job: how a unit of work is shared out over the tables, and what it writes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from cdc_ingest.source import Position, Source, connect_sqlite
from db2.dialect import SQLITE
from simulators.batch_job import MIX, BatchJob, shares, unit_sizes
from simulators.simulation import SimulationOptions, run_simulation
from simulators.sor import SystemOfRecord

TABLES = ("A", "B", "C", "D")


@given(
    unit_rows=st.integers(0, 5000),
    weights=st.tuples(*[st.sampled_from([0, 0.5, 1, 2, 40]) for _ in TABLES]),
    sizes=st.tuples(*[st.integers(0, 3000) for _ in TABLES]),
)
def test_shares_fill_the_unit_within_each_tables_rows(
    unit_rows: int, weights: tuple[float, ...], sizes: tuple[int, ...]
) -> None:
    weight, size = dict(zip(TABLES, weights)), dict(zip(TABLES, sizes))

    got = shares(unit_rows, weight, size)

    available = sum(n for t, n in size.items() if weight[t] > 0)
    assert sum(got.values()) == min(unit_rows, available)
    assert all(0 <= got[t] <= size[t] for t in TABLES)
    assert all(got[t] == 0 for t in TABLES if weight[t] == 0)


def test_shares_follow_the_weights_when_no_table_is_short() -> None:
    assert shares(100, {"A": 3, "B": 1}, {"A": 1000, "B": 1000}) == {"A": 75, "B": 25}
    assert shares(10, {"A": 1, "B": 1, "C": 1}, {"A": 9, "B": 9, "C": 9}) == {
        "A": 4, "B": 3, "C": 3
    }  # fmt: skip


def test_a_short_table_gives_its_rest_to_the_others_by_weight() -> None:
    assert shares(100, {"A": 2, "B": 1, "C": 1}, {"A": 1000, "B": 1000, "C": 10}) == {
        "A": 60, "B": 30, "C": 10
    }  # fmt: skip


@given(changes=st.integers(0, 200_000), unit=st.integers(1, 20_000))
@settings(deadline=None)
def test_unit_sizes_add_up_to_the_changes(changes: int, unit: int) -> None:
    sizes = unit_sizes(changes, unit)

    assert sum(sizes) == changes
    assert all(0 < s <= unit for s in sizes)
    assert all(s == unit for s in sizes[:-1])


def _state(sor: SystemOfRecord) -> dict[str, list[tuple[object, ...]]]:
    """Every shipping table's rows, ordered: the exact stored values."""
    out = {}
    for name in sor.table_names():
        table = sor.table(name)
        order = ", ".join(f'"{c}"' for c in table.primary_key)
        out[name] = sor.conn.execute(f"SELECT * FROM {sor.ref(table)} ORDER BY {order}").fetchall()
    return out


def _changes(sor: SystemOfRecord, path: Path, after_lsn: int) -> list[tuple[object, ...]]:
    with Source(connect_sqlite(path, sor.schema), SQLITE, sor.schema) as source:
        batch = source.read_changes(Position.after_unit(after_lsn), 10**6)
    return [
        (u.lsn, c.table, c.op, c.seq, tuple(sorted((c.before or {}).items())),
         tuple(sorted((c.after or {}).items())))
        for u in batch.units for c in u.changes
    ]  # fmt: skip


def test_update_many_writes_what_update_does_row_by_row(
    sor_factory: Callable[..., SystemOfRecord], tmp_path: Path
) -> None:
    one, many = sor_factory("one"), sor_factory("many")
    for sor in (one, many):
        run_simulation(sor, SimulationOptions(transactions=120, seed=3))
    base = one.newest_lsn()
    job_one, job_many = BatchJob(one, 900, 300), BatchJob(many, 900, 300)

    for index in range(len(job_one.plan)):
        with one.unit_of_work() as unit:
            for name, count in job_one.plan[index].items():
                cursor = job_one._cursors[name]
                keys, values = cursor.take(count)
                for key, new in zip(keys, values, strict=True):
                    unit.update(cursor.table, key, new)
    job_many.run()

    assert _state(one) == _state(many)
    changes = _changes(one, tmp_path / "one.sqlite", base)
    assert len(changes) == 900
    assert changes == _changes(many, tmp_path / "many.sqlite", base)


def _column(sor: SystemOfRecord, name: str, column: str) -> list[object]:
    table = sor.table(name)
    order = ", ".join(f'"{c}"' for c in table.primary_key)
    sql = f'SELECT "{column}" FROM {sor.ref(table)} ORDER BY {order}'
    return [row[0] for row in sor.conn.execute(sql)]


def test_each_pass_revises_a_row_from_its_value_before_the_job(sor: SystemOfRecord) -> None:
    run_simulation(sor, SimulationOptions(transactions=120, seed=3))
    before = [Decimal(str(v)) for v in _column(sor, "REEFER_TELEMETRY", "TEMPERATURE")]
    rows = len(before)
    telemetry = (MIX[0],)

    first = BatchJob(sor, rows, rows, telemetry).run()
    once = [Decimal(str(v)) for v in _column(sor, "REEFER_TELEMETRY", "TEMPERATURE")]
    BatchJob(sor, 2 * rows, rows, telemetry).run()
    thrice = [Decimal(str(v)) for v in _column(sor, "REEFER_TELEMETRY", "TEMPERATURE")]

    assert first.rows == {"SHIPPING.REEFER_TELEMETRY": rows} and first.units == 1
    assert once == [t + Decimal("0.01") for t in before]
    assert thrice == once  # a new job starts from the rows as they are: generation 1, then 2


def test_the_tariff_revision_raises_amounts_and_stamps_the_batch_time(sor: SystemOfRecord) -> None:
    run_simulation(sor, SimulationOptions(transactions=120, seed=3))
    before = [Decimal(str(v)) for v in _column(sor, "ORDERS", "AMOUNT")]

    result = BatchJob(sor, 2 * len(before), len(before), (MIX[1],)).run()

    assert result.units == 2 and result.last_lsn == result.first_lsn + 1
    after = [Decimal(str(v)) for v in _column(sor, "ORDERS", "AMOUNT")]
    assert after == [(a * Decimal("1.002")).quantize(Decimal("0.01")) for a in before]
    stamps = {datetime.fromisoformat(str(v)) for v in _column(sor, "ORDERS", "UPDATED_AT")}
    assert stamps == {datetime(2024, 12, 31, 22, 0, 2)}
