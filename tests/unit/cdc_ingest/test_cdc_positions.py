"""The capture position and operator records survive their JSON form; events/s of status."""

from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal

import pytest

from cdc_ingest.capture_status import events_per_second, table_state
from cdc_ingest.offsets_log import OffsetsLog
from cdc_ingest.positions import (
    CapturePosition,
    Decision,
    OpenUnit,
    SnapshotProgress,
    TableState,
    record_key,
)
from cdc_ingest.source import UOW_END


def _full_position() -> CapturePosition:
    return CapturePosition(
        lsn=812,
        seq=UOW_END,
        open_unit=OpenUnit(813, "000000000000000032D", 1_714_564_800_123, {"SHIPPING.ORDERS": 7}),
        tables={
            "SHIPPING.ORDERS": TableState(snapshot_ms=5),
            "SHIPPING.VOYAGES": TableState(
                "blocked", (700, 3), 123456, "capture of table SHIPPING.VOYAGES stopped", 0
            ),
            "SHIPPING.PORTS": TableState("catching_up", (650, 1), 99, None, 0),
        },
        snapshots={
            "SHIPPING.CONTAINERS": SnapshotProgress(
                4,
                (
                    Decimal("-12.50"),
                    date(2024, 2, 29),
                    time(23, 59, 59),
                    datetime(9999, 12, 31, 23, 59, 59, 999_999),
                    "OFLU0000001",
                    2**63 - 1,
                    None,
                ),
                20_000,
            ),
            "SHIPPING.CUSTOMERS": SnapshotProgress(),
        },
        events=1_234_567,
        commit_ms=1_714_564_800_000,
        published_ms=1_714_564_801_000,
    )


def test_a_position_round_trips_through_json_with_typed_snapshot_keys() -> None:
    position = _full_position()
    back = CapturePosition.from_json(position.to_json())
    assert back == position
    key = back.snapshots["SHIPPING.CONTAINERS"].last_key
    assert key is not None
    assert [type(v) for v in key] == [Decimal, date, time, datetime, str, int, type(None)]
    assert str(key[0]) == "-12.50"


def test_an_empty_position_round_trips_and_blocked_lists_held_tables() -> None:
    assert CapturePosition.from_json(CapturePosition().to_json()) == CapturePosition()
    assert set(_full_position().blocked()) == {"SHIPPING.VOYAGES", "SHIPPING.PORTS"}


def test_a_record_that_is_not_a_position_is_refused() -> None:
    with pytest.raises((ValueError, KeyError)):
        CapturePosition.from_json(b'{"seq": 1}')


def test_record_keys_and_the_log_keep_the_newest_record_per_key_of_its_group() -> None:
    assert record_key("position", "default") == b"position:default"
    assert record_key("decision", "g1", "shipping.orders") == b"decision:g1:SHIPPING.ORDERS"
    log = OffsetsLog()
    first, second = CapturePosition(lsn=5, events=10), CapturePosition(lsn=9, events=30)
    log.take("g1", b"position:g1", first.to_json())
    log.take("g1", b"position:g2", CapturePosition(lsn=99).to_json())  # another group
    log.take("g1", b"position:g1", second.to_json())
    decision = Decision("SHIPPING.ORDERS", 42, 1000)
    log.take("g1", b"decision:g1:SHIPPING.ORDERS", decision.to_json())
    log.take("g1", b"snapshot:g1:SHIPPING.ORDERS", b'{"table":"SHIPPING.ORDERS","requested_ms":7}')
    log.take("g1", b"decision:g1:SHIPPING.VOYAGES", None)  # a tombstone
    assert log.position == second
    assert log.history == [(0, 10), (0, 30)]
    assert log.decisions == {"SHIPPING.ORDERS": decision}
    assert log.snapshot_requests == {"SHIPPING.ORDERS": 7}


def test_events_per_second_over_the_last_minute() -> None:
    now = 1_000_000
    # 6,000 events in the last 60 s, from the record just before the window's start.
    history = [(now - 120_000, 1_000), (now - 61_000, 4_000), (now - 30_000, 7_000), (now, 10_000)]
    assert events_per_second(history, now) == 100.0
    # Only records inside the window: the rate since the oldest of them.
    assert events_per_second([(now - 20_000, 0), (now - 10_000, 500)], now) == 25.0
    assert events_per_second([(now - 10_000, 500)], now) == pytest.approx(8.3)
    assert events_per_second([], now) == 0.0


def test_table_state_text_for_status() -> None:
    position = _full_position()
    assert table_state("SHIPPING.ORDERS", position) == ("running", None)
    assert table_state("SHIPPING.VOYAGES", position) == (
        "waiting on incompatible change",
        "capture of table SHIPPING.VOYAGES stopped",
    )
    assert table_state("SHIPPING.PORTS", position) == ("catching up", None)
    assert table_state("SHIPPING.NEW", position) == ("not started", None)
