"""Tables captured after the projection started are read as soon as a unit of work needs them."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace
from typing import Any

import duckdb
import pytest

import projections.consumer as consumer_module
from projections.runtime import open_projection


def _wait_for_lsn(cur: duckdb.DuckDBPyConnection, lsn: int, worker: threading.Thread) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and worker.is_alive():
        row = cur.execute("SELECT lsn FROM _offload.watermark").fetchone()
        if row is not None and row[0] >= lsn:
            return
        time.sleep(0.05)
    raise AssertionError(f"watermark never reached LSN {lsn}")


@pytest.mark.kafka
def test_a_unit_on_a_table_captured_after_start_is_applied_whole(
    bank_settings: Any, kit: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No periodic look for new topics, and a stalled unit waits "forever" before a look: only
    # the END marker naming BANK.TRANSFERS can make the loop read that table's new topic.
    monkeypatch.setattr(consumer_module, "_REDISCOVER_S", 3600.0)
    patient = bank_settings.projections.model_copy(update={"stall_grace_ms": 3_600_000})
    bank_settings = bank_settings.model_copy(update={"projections": patient})
    accounts, transfers = kit.bank_tables()
    bank = kit.Bank(seed=3)
    kit.MiniCdc(bank_settings, [accounts]).publish([bank.opening()])
    failures: list[BaseException] = []
    with open_projection(bank_settings, dead_letters=False) as projection:
        consumer = projection.consumer()
        reader = projection.con.cursor()
        stop = threading.Event()

        def run() -> None:
            try:
                consumer.run(stop)
            except BaseException as exc:  # re-raised below, in the test's thread
                failures.append(exc)

        worker = threading.Thread(target=run)
        worker.start()
        try:
            _wait_for_lsn(reader, 1, worker)
            # BANK.TRANSFERS' topic and schemas appear only now, with its first unit of work.
            later = kit.MiniCdc(bank_settings, [accounts, transfers])
            later.publish([bank.transfer(), bank.transfer()])
            _wait_for_lsn(reader, 3, worker)
        finally:
            stop.set()
            worker.join()
        if failures:
            raise failures[0]
        accounts_rows, transfer_rows = bank.expected(3)
        assert reader.execute("SELECT * FROM bank.accounts ORDER BY 1").fetchall() == accounts_rows
        assert reader.execute("SELECT * FROM bank.transfers ORDER BY 1").fetchall() == transfer_rows
        assert reader.execute("SELECT count(*) FROM _offload.errors").fetchall() == [(0,)]
        assert consumer.summary.units == 3
