"""A nightly batch job on the shipping line's system of record: many updates in large units.

A mainframe's batch window rewrites rows the day's transactions left behind, in large units of
work. `BatchJob` plays such a job over the shipping tables as they stand (after `offload
simulate`, say): `changes` updates in units of work of `unit_rows` rows each, spread over the
tables by `MIX`, the bulk where a real batch hits:

| table | weight | what the job does |
|---|---:|---|
| REEFER_TELEMETRY | 40 | sensor recalibration: TEMPERATURE corrected by 0.01 °C (and back) |
| ORDERS | 30 | tariff revision: AMOUNT raised 0.1 % per revision, UPDATED_AT set |
| ORDER_ASSIGNMENTS | 20 | EDI reconciliation: ASSIGNED_AT moved to the carrier's time |
| CONTAINERS | 4 | re-rating: MAX_PAYLOAD_KG 10 kg down (and back) |
| CUSTOMERS | 4 | credit review: CREDIT_LIMIT raised 0.1 % per review |
| VOYAGES | 2 | ETA revision: PLANNED_ARRIVAL one minute later per revision |

Each unit takes the next rows of each table in primary-key order, wrapping round (one pass
over a table updates each of its rows once), so a row is never updated twice in one unit:
a table's share of a unit (`shares`) is capped at its row count and the rest goes to the
other tables by weight. A row's new values depend only on its values before the job and on
how many times the job has updated it (`Revision.revise`), so the same tables give the same
batch. Rows are written through `Unit.update_many`, the simulator's fastest update path.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from db2.dialect import SQLITE, quote
from simulators.sor import SystemOfRecord

CENT = Decimal("0.01")
NIGHT = datetime(2024, 12, 31, 22, 0, 0)
"""The batch's business time (UPDATED_AT of the revised orders)."""

Values = dict[str, object]


def _raised(value: object, generation: int) -> Decimal:
    assert isinstance(value, Decimal)
    return (value * (1 + Decimal(generation) / 1000)).quantize(CENT)


def _later(value: object, step: timedelta, generation: int) -> datetime:
    assert isinstance(value, datetime)
    return value + step * generation


def _toggled(value: object, delta: Any, generation: int) -> Any:
    return value + delta * (generation % 2)


@dataclass(frozen=True, slots=True)
class Revision:
    """What the batch job does to one table.

    Attributes:
        table: the table, unqualified (in the home schema).
        weight: its share of each unit of work, relative to the other tables'.
        columns: the columns it reads before the job and rewrites.
        revise: (the row's values of `columns` before the job, generation ≥ 1: how many times
            the job has now updated it) → the new values.
    """

    table: str
    weight: float
    columns: tuple[str, ...]
    revise: Callable[[Mapping[str, object], int], Values]


MIX = (
    Revision("REEFER_TELEMETRY", 40, ("TEMPERATURE",),
             lambda r, g: {"TEMPERATURE": _toggled(r["TEMPERATURE"], CENT, g)}),
    Revision("ORDERS", 30, ("AMOUNT",),
             lambda r, g: {"AMOUNT": _raised(r["AMOUNT"], g),
                           "UPDATED_AT": NIGHT + timedelta(seconds=g)}),
    Revision("ORDER_ASSIGNMENTS", 20, ("ASSIGNED_AT",),
             lambda r, g: {"ASSIGNED_AT": _later(r["ASSIGNED_AT"], timedelta(seconds=1), g)}),
    Revision("CONTAINERS", 4, ("MAX_PAYLOAD_KG",),
             lambda r, g: {"MAX_PAYLOAD_KG": _toggled(r["MAX_PAYLOAD_KG"], -10, g)}),
    Revision("CUSTOMERS", 4, ("CREDIT_LIMIT",),
             lambda r, g: {"CREDIT_LIMIT": _raised(r["CREDIT_LIMIT"], g)}),
    Revision("VOYAGES", 2, ("PLANNED_ARRIVAL",),
             lambda r, g: {"PLANNED_ARRIVAL": _later(r["PLANNED_ARRIVAL"], timedelta(minutes=1),
                                                     g)}),
)  # fmt: skip
"""The shipping batch (see the module docstring)."""


def shares(
    unit_rows: int, weights: Mapping[str, float], sizes: Mapping[str, int]
) -> dict[str, int]:
    """How many rows of each table one unit of work updates.

    `unit_rows` split by weight (largest remainders), each table capped at its row count, the
    rest split again over the tables not capped; fewer than `unit_rows` in all only when the
    weighted tables hold fewer rows.

    Args:
        unit_rows: rows per unit of work.
        weights: each table's weight (tables of weight 0 get nothing).
        sizes: each table's row count (a table missing here has none).
    """
    got = dict.fromkeys(weights, 0)
    remaining = unit_rows
    while remaining > 0:
        open_ = [t for t, w in weights.items() if w > 0 and got[t] < sizes.get(t, 0)]
        if not open_:
            break
        total = sum(weights[t] for t in open_)
        exact = {t: remaining * weights[t] / total for t in open_}
        alloc = {t: int(exact[t]) for t in open_}
        for t in sorted(open_, key=lambda t: (alloc[t] - exact[t], t))[
            : remaining - sum(alloc.values())
        ]:
            alloc[t] += 1
        for t in open_:
            take = min(alloc[t], sizes.get(t, 0) - got[t])
            got[t] += take
            remaining -= take
    return got


def unit_sizes(changes: int, unit_rows: int) -> list[int]:
    """The rows of each unit of work: full units, then the remainder (if any)."""
    full, rest = divmod(changes, unit_rows)
    return [unit_rows] * full + ([rest] if rest else [])


@dataclass
class BatchResult:
    """What a batch job committed.

    Attributes:
        units: units of work committed.
        rows: rows updated per table (SCHEMA.TABLE).
        first_lsn: the first unit's LSN.
        last_lsn: the last unit's LSN.
        first_commit_at: `time.monotonic()` when the first unit's COMMIT returned.
        last_commit_at: `time.monotonic()` when the last unit's COMMIT returned.
        seconds: from the first unit's BEGIN to the last unit's COMMIT.
    """

    units: int = 0
    rows: Counter[str] = field(default_factory=Counter)
    first_lsn: int = 0
    last_lsn: int = 0
    first_commit_at: float = 0.0
    last_commit_at: float = 0.0
    seconds: float = 0.0

    @property
    def total_rows(self) -> int:
        """Rows updated in all tables."""
        return sum(self.rows.values())


class _TableCursor:
    """One table's rows before the job, in primary-key order, and how far the job has got."""

    def __init__(self, sor: SystemOfRecord, revision: Revision) -> None:
        table = sor.table(revision.table)
        self.table, self.revision = table, revision
        key_cols = table.key_columns
        cols = [*key_cols, *(table.column(c) for c in revision.columns)]
        names, order = (
            ", ".join(quote(c.name) for c in cols),
            ", ".join(quote(c.name) for c in key_cols),
        )
        sql = f"SELECT {names} FROM {sor.ref(table)} ORDER BY {order}"  # noqa: S608 - catalog names
        width = len(key_cols)
        self.keys: list[Values] = []
        self.before: list[Values] = []
        for raw in sor.conn.execute(sql):
            values = [SQLITE.value_from_db(c, v) for c, v in zip(cols, raw, strict=True)]
            self.keys.append(dict(zip(table.primary_key, values[:width], strict=True)))
            self.before.append(dict(zip(revision.columns, values[width:], strict=True)))
        self.taken = 0

    def take(self, count: int) -> tuple[list[Values], list[Values]]:
        """The next `count` rows' keys and new values."""
        n = len(self.keys)
        keys, values = [], []
        for i in range(self.taken, self.taken + count):
            row, generation = i % n, i // n + 1
            keys.append(self.keys[row])
            values.append(self.revision.revise(self.before[row], generation))
        self.taken += count
        return keys, values


class BatchJob:
    """Commits `changes` updates in units of `unit_rows` (see the module docstring).

    Args:
        sor: the system of record, its tables filled (reads every revised table once, here).
        changes: rows to update in all.
        unit_rows: rows per unit of work.
        mix: what the job does to which table.

    Raises:
        ValueError: the tables hold fewer rows than one unit of work needs.
    """

    def __init__(
        self,
        sor: SystemOfRecord,
        changes: int,
        unit_rows: int,
        mix: tuple[Revision, ...] = MIX,
    ) -> None:
        self.sor = sor
        self._cursors = {r.table: _TableCursor(sor, r) for r in mix}
        weights = {r.table: r.weight for r in mix}
        sizes = {t: len(c.keys) for t, c in self._cursors.items()}
        wanted = unit_sizes(changes, unit_rows)
        self.plan = [shares(rows, weights, sizes) for rows in wanted]
        short = [rows for rows, plan in zip(wanted, self.plan, strict=True)
                 if sum(plan.values()) < rows]  # fmt: skip
        if short:
            raise ValueError(
                f"the revised tables hold {sum(sizes.values())} rows, fewer than a unit of work "
                f"of {short[0]} rows; simulate more first"
            )

    def commit_unit(self, index: int) -> int:
        """Commit unit `index` of the plan (the units in order, each once); returns its LSN."""
        with self.sor.unit_of_work() as unit:
            for table, count in self.plan[index].items():
                if count:
                    cursor = self._cursors[table]
                    keys, values = cursor.take(count)
                    unit.update_many(cursor.table, keys, values)
        return int(unit.lsn)

    def run(self, on_commit: Callable[[int, int], None] | None = None) -> BatchResult:
        """Commit every unit of the plan as fast as the simulator goes.

        Args:
            on_commit: called with (unit index, LSN) after each commit.
        """
        result = BatchResult()
        started = time.monotonic()
        for index, plan in enumerate(self.plan):
            lsn = self.commit_unit(index)
            now = time.monotonic()
            if index == 0:
                result.first_lsn, result.first_commit_at = lsn, now
            result.last_lsn, result.last_commit_at = lsn, now
            result.units += 1
            for table, count in plan.items():
                result.rows[self._cursors[table].table.qualified_name] += count
            if on_commit is not None:
                on_commit(index, lsn)
        result.seconds = time.monotonic() - started
        return result
