"""Units of work larger than every bound, through the real pipeline, with kill -9 on the way.

A batch job commits two units of `UNIT_ROWS` updates each. Each unit is larger than capture's
`max_events_per_transaction`, so it is published across several Kafka transactions, and larger
than the projection's `stage_threshold` and `max_held_events`, so the writer spills it to the
DuckDB stage while it reads it: memory is bounded by those settings, not by the unit (the
full-size figures are in the README, "The batch window"). Capture encodes each piece of 250
rows a column at a time (`capture.bulk_min_rows` 100, below the piece). Capture is killed at
injected points inside a split unit and at random times, the writer at an injected point while
the staged unit is being applied and at random times. After every writer kill the projection
holds each unit whole or not at all, and at the end `offload reconcile` finds every mirror and
view equal to the source and every capture row in the topics exactly once.
"""

from __future__ import annotations

import json
import random
import subprocess
import time
from pathlib import Path
from typing import Any

import duckdb
import pytest

from config import Settings
from simulators.batch_job import NIGHT, BatchJob
from simulators.sor import SystemOfRecord

pytestmark = pytest.mark.kafka

UNIT_ROWS = 1000
BOUNDS = {
    "capture.max_events_per_transaction": 250,
    "capture.bulk_min_rows": 100,
    "projections.stage_threshold": 200,
    "projections.max_held_events": 400,
    "projections.batch_max_events": 300,
}
CAPTURE_KILLS = ["cdc.after_produce:2", "cdc.after_commit:1", "cdc.after_produce:3"]


def _ok(proc: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


def _killed(proc: subprocess.CompletedProcess[str], point: str) -> None:
    assert proc.returncode == -9, f"{point}: exit {proc.returncode}\n{proc.stderr[-2000:]}"


def _duck(db: Path, sql: str) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_units_larger_than_every_bound_survive_kill_9_whole(
    settings_factory: Any, kafka_broker: Settings, run_offload: Any, start_offload: Any
) -> None:
    s = settings_factory(BOUNDS)
    _ok(run_offload(s, "sor", "init"))
    _ok(run_offload(s, "simulate", "--transactions", "300", "--seed", "3"))
    _ok(run_offload(s, "cdc", "run", "--until-idle"))
    _ok(run_offload(s, "reference", "load"))  # the views read reference mirrors too
    _ok(run_offload(s, "project", "run", "--until-idle"))
    db = s.projections_path
    ((base_lsn,),) = _duck(db, "SELECT lsn FROM _offload.watermark")

    with SystemOfRecord.open(s.sor_path, s.source.schema_name) as sor:
        job = BatchJob(sor, 2 * UNIT_ROWS, UNIT_ROWS)
        result = job.run()
        sql = f"SELECT COUNT(*) FROM {sor.ref(sor.table('ORDERS'))}"
        (orders,) = sor.conn.execute(sql).fetchone()
    assert result.units == 2 and result.total_rows == 2 * UNIT_ROWS
    first, second = (plan["ORDERS"] for plan in job.plan)
    # orders revised by the job (UPDATED_AT on the batch's night) once each unit is applied
    revised = {base_lsn: 0, result.first_lsn: first, result.last_lsn: min(orders, first + second)}
    at_night = f"SELECT COUNT(*) FROM shipping.orders WHERE updated_at >= '{NIGHT}'"

    # capture: killed inside a unit split across transactions, then at random times
    rnd = random.Random(15)
    for point in CAPTURE_KILLS:
        crash = {"OFFLOAD_CRASH_AT": point}
        killed = run_offload(s, "cdc", "run", "--until-idle", env=crash)
        _killed(killed, point)
        assert "encoded a column at a time" in killed.stderr, killed.stderr[-2000:]
    for _ in range(3):
        child = start_offload(s, "cdc", "run")
        time.sleep(rnd.uniform(1.5, 4.0))
        child.kill()
        child.wait(30)
    _ok(run_offload(s, "cdc", "run", "--until-idle"))

    # the writer: killed while the first unit is applied out of the stage, then at random
    crash = {"OFFLOAD_CRASH_AT": "project.mid_batch:1"}
    _killed(run_offload(s, "project", "run", "--until-idle", env=crash), "project.mid_batch:1")
    ((units, staged),) = _duck(db, "SELECT COUNT(DISTINCT uow_id), COUNT(*) FROM _offload.stage")
    assert units >= 1 and staged > BOUNDS["projections.stage_threshold"], "nothing was staged"
    for round_ in range(8):
        if round_:
            child = start_offload(s, "project", "run")
            time.sleep(rnd.uniform(1.0, 5.0))
            child.kill()
            child.wait(30)
        ((lsn,),) = _duck(db, "SELECT lsn FROM _offload.watermark")
        assert lsn in revised, f"watermark {lsn} is none of the units' LSNs {sorted(revised)}"
        assert _duck(db, at_night) == [(revised[lsn],)], f"half a unit at watermark {lsn}"
    _ok(run_offload(s, "project", "run", "--until-idle"))
    assert _duck(db, "SELECT lsn FROM _offload.watermark") == [(result.last_lsn,)]
    assert _duck(db, at_night) == [(revised[result.last_lsn],)]
    assert _duck(db, "SELECT COUNT(*) FROM _offload.stage") == [(0,)]

    report = _ok(run_offload(s, "reconcile", "--json"))
    found = json.loads(report.stdout)
    assert found["equal"] is True, report.stdout
    views = {t["table"] for t in found["tables"] if t["kind"] == "view"}
    assert views == {"VIEW order_tracking", "VIEW cold_chain"}
    events = found["events"]
    assert events["missing"] == events["duplicated"] == 0, events
    assert events["published"] == events["expected"] > 2 * UNIT_ROWS, events
