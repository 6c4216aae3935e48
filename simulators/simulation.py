"""Running the workload: pacing, stopping, and the summary of what was written."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from simulators.sor import SystemOfRecord
from simulators.workload import Workload


@dataclass(frozen=True, slots=True)
class SimulationOptions:
    """How long and how fast to run.

    Attributes:
        transactions: units of work to run (None: until `duration_s`).
        duration_s: seconds to run (None: until `transactions`).
        tps: target units of work per second (None: as fast as the store goes).
        seed: random seed; the same seed and options give the same data.
    """

    transactions: int | None = None
    duration_s: float | None = None
    tps: float | None = None
    seed: int = 1


@dataclass
class Summary:
    """What a run wrote."""

    seed: int
    units_of_work: int = 0
    first_lsn: int | None = None
    last_lsn: int | None = None
    rows: Counter[tuple[str, str]] = field(default_factory=Counter)
    programs: Counter[str] = field(default_factory=Counter)
    excursions: dict[str, int] = field(default_factory=dict)
    elapsed_s: float = 0.0

    @property
    def total_rows(self) -> int:
        """Rows written in all tables."""
        return sum(self.rows.values())

    def as_dict(self) -> dict[str, Any]:
        """The summary as JSON-ready values (rows per table and operation I/U/D)."""
        rows: dict[str, dict[str, int]] = {}
        for (table, op), count in sorted(self.rows.items()):
            rows.setdefault(table, {})[op] = count
        elapsed = max(self.elapsed_s, 1e-9)
        return {
            "seed": self.seed,
            "units_of_work": self.units_of_work,
            "first_lsn": self.first_lsn,
            "last_lsn": self.last_lsn,
            "rows": rows,
            "total_rows": self.total_rows,
            "programs": dict(sorted(self.programs.items())),
            "excursion_containers": [
                {"container_id": cid, "excursion_readings": n}
                for cid, n in sorted(self.excursions.items())
            ],
            "elapsed_s": round(self.elapsed_s, 3),
            "units_of_work_per_s": round(self.units_of_work / elapsed, 1),
            "rows_per_s": round(self.total_rows / elapsed, 1),
        }


def run_simulation(
    sor: SystemOfRecord,
    options: SimulationOptions,
    on_step: Callable[[Summary], None] | None = None,
) -> Summary:
    """Run the workload against `sor`, one unit of work per transaction program.

    Args:
        sor: the system of record (its shipping tables must exist: `offload sor init`).
        options: how long and how fast.
        on_step: called after each committed unit of work (progress display).
    """
    if options.transactions is None and options.duration_s is None:
        raise ValueError("give a number of transactions or a duration")
    workload = Workload(sor, options.seed)
    summary = Summary(seed=options.seed)
    start = time.monotonic()
    while True:
        elapsed = time.monotonic() - start
        if options.transactions is not None and summary.units_of_work >= options.transactions:
            break
        if options.duration_s is not None and elapsed >= options.duration_s:
            break
        if options.tps:
            delay = summary.units_of_work / options.tps - elapsed
            if delay > 0:
                time.sleep(delay)
        with sor.unit_of_work() as unit:
            program = workload.step(unit)
        summary.units_of_work += 1
        summary.first_lsn = summary.first_lsn or unit.lsn
        summary.last_lsn = unit.lsn
        summary.rows.update(unit.counts)
        summary.programs[program] += 1
        if on_step is not None:
            on_step(summary)
    summary.elapsed_s = time.monotonic() - start
    summary.excursions = dict(workload.excursions)
    return summary
