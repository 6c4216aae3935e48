"""`offload reconcile` against a real pipeline: equal after capture and projection, and each
kind of difference named (a changed value, a missing row, an unpublished unit of work, a view
row the writer did not keep right)."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import duckdb
import pytest

from config import Settings
from simulators.sor import SystemOfRecord

pytestmark = pytest.mark.kafka


def _ok(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def _report(run_offload: Any, settings: Settings, *args: str) -> tuple[int, dict[str, Any]]:
    done = run_offload(settings, "reconcile", "--json", *args)
    assert done.returncode in (0, 1), done.stderr
    return done.returncode, json.loads(done.stdout)


@pytest.fixture
def pipeline(kafka_settings: Settings, run_offload: Any) -> Settings:
    s = kafka_settings
    _ok(run_offload(s, "sor", "init"))
    _ok(run_offload(s, "simulate", "--transactions", "80", "--seed", "4"))
    _ok(run_offload(s, "cdc", "run", "--until-idle"))
    _ok(run_offload(s, "reference", "load"))  # the views read reference mirrors too
    _ok(run_offload(s, "project", "run", "--until-idle"))
    return s


def test_equal_pipeline_exits_0(pipeline: Settings, run_offload: Any) -> None:
    code, report = _report(run_offload, pipeline)
    assert code == 0, report
    assert report["equal"] is True
    tables = {t["table"]: t for t in report["tables"] if t["kind"] == "mirror"}
    views = {t["table"]: t for t in report["tables"] if t["kind"] == "view"}
    assert set(views) == {"VIEW order_tracking", "VIEW cold_chain"}
    for entry in views.values():
        assert entry["equal"] and entry["source_rows"] == entry["mirror_rows"] > 0
    assert report["notes"] == []
    with SystemOfRecord.open(pipeline.sor_path) as sor:
        assert set(tables) == sor.captured_tables()
        for name, entry in tables.items():
            rows = sor.conn.execute(f"SELECT COUNT(*) FROM {name}").fetchone()[0]
            assert entry["source_rows"] == entry["mirror_rows"] == rows
            assert entry["equal"] and entry["source_digest"] == entry["mirror_digest"]
    assert report["events"]["expected"] == report["events"]["published"] > 0
    text = _ok(run_offload(pipeline, "reconcile", "--tables", "shipping.orders"))
    assert "SHIPPING.ORDERS" in text and "SHIPPING.CUSTOMERS" not in text
    assert "reconciled: equal" in text


def test_differences_are_named_and_exit_1(pipeline: Settings, run_offload: Any) -> None:
    s = pipeline
    con = duckdb.connect(str(s.projections_path))
    try:
        order_id = con.execute("SELECT min(order_id) FROM shipping.orders").fetchall()[0][0]
        con.execute("UPDATE shipping.orders SET status = 'TAMPERED' WHERE order_id = ?", [order_id])
        customer_id = con.execute("SELECT max(customer_id) FROM shipping.customers").fetchall()[0][
            0
        ]
        con.execute("DELETE FROM shipping.customers WHERE customer_id = ?", [customer_id])
        leg = con.execute(
            "SELECT order_id, container_id, voyage_id FROM views.cold_chain ORDER BY ALL LIMIT 1"
        ).fetchall()[0]
        con.execute(
            "UPDATE views.cold_chain SET readings = readings + 1 "
            "WHERE order_id = ? AND container_id = ? AND voyage_id = ?",
            list(leg),
        )
    finally:
        con.close()
    with SystemOfRecord.open(s.sor_path) as sor, sor.unit_of_work() as unit:
        unit.execute(
            "UPDATE SHIPPING.VOYAGES SET STATUS = 'X' WHERE VOYAGE_ID = "
            "(SELECT MIN(VOYAGE_ID) FROM SHIPPING.VOYAGES)"
        )  # captured, not published
        unpublished = int(unit.lsn)
    code, report = _report(run_offload, s, "--wait", "0")
    assert code == 1
    assert report["equal"] is False
    tables = {t["table"]: t for t in report["tables"]}
    assert tables["SHIPPING.ORDERS"]["first_differences"] == [
        {"key": [str(order_id)], "difference": "values differ"}
    ]
    assert tables["SHIPPING.CUSTOMERS"]["first_differences"] == [
        {"key": [str(customer_id)], "difference": "missing"}
    ]
    assert (
        tables["SHIPPING.CUSTOMERS"]["mirror_rows"]
        == tables["SHIPPING.CUSTOMERS"]["source_rows"] - 1
    )
    assert not tables["SHIPPING.VOYAGES"]["equal"]
    assert tables["VIEW cold_chain"]["first_differences"] == [
        {"key": [str(v) for v in leg], "difference": "values differ"}
    ]
    assert tables["VIEW cold_chain"]["kind"] == "view"
    assert tables["SHIPPING.CONTAINERS"]["equal"]
    events = report["events"]
    assert events["missing"] == 1 and events["duplicated"] == 0
    assert [tuple(e[:2]) for e in events["first_missing"]] == [("SHIPPING.VOYAGES", unpublished)]
    assert any("LSN" in note for note in report["notes"])
    only = _report(run_offload, s, "--tables", "SHIPPING.CONTAINERS")
    assert only[0] == 0


def test_unknown_table_is_a_usage_error(pipeline: Settings, run_offload: Any) -> None:
    done = run_offload(pipeline, "reconcile", "--tables", "SHIPPING.NOPE")
    assert done.returncode == 2
    assert "SHIPPING.NOPE is not a captured table" in done.stderr
