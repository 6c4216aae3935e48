"""The `ReadStore` contract, run against both read stores the API is served from.

`DuckDBReadStore` (query_api's own: `offload serve --no-projection`, `offload query` over the
file) and `ProjectionReadStore` (projections': `offload serve` with the writer in process) sit
over the same projection database, built by the real projection code. The writer tells each
about commits and about the newest published LSN its own way; the API must then see the same
watermark, the same waits and the same head through either.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from projections.readstore import CommitSignal, ProjectionReadStore
from projections.store import open_database
from query_api import DuckDBReadStore, ReadStore, Watermark

T0 = datetime(2025, 3, 1, 8, 0, 0)
SAMPLE = Watermark(50, T0 + timedelta(hours=2))


@dataclass
class Served:
    """A read store and how the writer tells it about its progress.

    Attributes:
        store: the read store under test.
        committed: called by the writer after a batch committed at this LSN.
        published: called by the writer when it saw the source publish (LSN, commit time).
    """

    store: ReadStore
    committed: Callable[[int], None]
    published: Callable[[int, datetime], None]


def _serve(kind: str, connection: Any) -> Served:
    if kind == "duckdb":
        store = DuckDBReadStore(connection, poll_s=0.02)
        return Served(
            store,
            lambda lsn: store.notify_committed(),
            lambda lsn, at: store.notify_committed(Watermark(lsn, at)),
        )
    signal = CommitSignal()
    return Served(
        ProjectionReadStore(connection, signal),
        signal.committed,
        lambda lsn, at: signal.published(lsn, _epoch_ms(at)),
    )


def _epoch_ms(naive_utc: datetime) -> int:
    return int(naive_utc.replace(tzinfo=UTC).timestamp() * 1000)


@pytest.fixture(params=["duckdb", "projection"])
def kind(request: pytest.FixtureRequest) -> str:
    """The name of each `ReadStore` implementation in turn."""
    return str(request.param)


@pytest.fixture
def served(kind: str, projection: Any) -> Served:
    """The read store of `kind` over the sample projection (watermark LSN 50)."""
    return _serve(kind, projection.connection)


@pytest.fixture
def empty(kind: str) -> Iterator[Served]:
    """The read store of `kind` over a projection database no batch was applied to."""
    connection = open_database(":memory:")
    try:
        yield _serve(kind, connection)
    finally:
        connection.close()


def test_before_any_batch_the_watermark_is_zero_and_there_is_no_head(empty: Served) -> None:
    assert empty.store.watermark() == Watermark(0, None)
    assert empty.store.head() is None
    assert empty.store.wait_for_lsn(0, 0.0) is True
    assert empty.store.wait_for_lsn(1, 0.0) is False


def test_the_watermark_is_the_last_committed_batch(served: Served) -> None:
    assert served.store.watermark() == SAMPLE
    assert served.store.watermark().time_text == "2025-03-01T10:00:00Z"


def test_waiting_for_a_reached_lsn_returns_at_once(served: Served) -> None:
    started = time.monotonic()
    assert served.store.wait_for_lsn(50, 5.0) is True
    assert time.monotonic() - started < 1.0


def test_waiting_for_a_later_lsn_times_out(served: Served) -> None:
    started = time.monotonic()
    assert served.store.wait_for_lsn(51, 0.2) is False
    assert time.monotonic() - started >= 0.2


def test_a_commit_wakes_a_waiting_reader(served: Served, projection: Any) -> None:
    outcome: list[bool] = []
    waiter = threading.Thread(target=lambda: outcome.append(served.store.wait_for_lsn(60, 20.0)))
    waiter.start()
    time.sleep(0.1)
    started = time.monotonic()
    projection.commit_watermark(60)
    served.committed(60)
    waiter.join(timeout=20.0)
    assert outcome == [True]
    assert time.monotonic() - started < 5.0
    assert served.store.watermark() == Watermark(60, T0 + timedelta(hours=3))


def test_the_head_is_the_newest_published_lsn(served: Served) -> None:
    assert served.store.head() is None
    served.published(70, T0 + timedelta(hours=4))
    assert served.store.head() == Watermark(70, T0 + timedelta(hours=4))
    served.published(80, T0 + timedelta(hours=5))
    assert served.store.head() == Watermark(80, T0 + timedelta(hours=5))


def test_a_cursor_reads_one_snapshot(served: Served, projection: Any) -> None:
    sql = "SELECT status FROM views.order_tracking WHERE order_id = 1"
    with served.store.cursor() as cursor:
        cursor.execute("BEGIN TRANSACTION READ ONLY")
        assert cursor.execute(sql).fetchall() == [("LOADED",)]
        projection.commit_watermark(60)
        served.committed(60)
        assert cursor.execute(sql).fetchall() == [("LOADED",)]
        cursor.execute("COMMIT")
    with served.store.cursor() as cursor:
        assert cursor.execute(sql).fetchall() == [("IN_TRANSIT",)]
