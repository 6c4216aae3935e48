"""The `ReadStore` contract, run against every read store the API is served from.

`DuckDBReadStore` without a commit feed (`offload serve --no-projection`, `offload query` over the
file), `DuckDBReadStore` with the writer's commit feed (the writer's own process), and
`RemoteReadStore` (a serving worker of `offload serve`, through the writer's read server over
Arrow Flight) sit over the same projection database, built by the real projection code. The
API must see the same watermark, the same waits, the same head (where the store can know it)
and one consistent snapshot through each.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from projections.commit_signal import CommitSignal
from projections.store import open_database
from query_api import DuckDBReadStore, ReadStore, Watermark
from query_api.read_server import ReadServer
from query_api.remote_store import RemoteReadStore

T0 = datetime(2025, 3, 1, 8, 0, 0)
SAMPLE = Watermark(50, T0 + timedelta(hours=2))


@dataclass
class Served:
    """A read store and how the writer tells it about its progress.

    Attributes:
        store: the read store under test.
        committed: called by the writer after a batch committed at this LSN.
        published: called by the writer when it saw the source publish (LSN, commit time);
            None for a store that cannot know the head.
    """

    store: ReadStore
    committed: Callable[[int], None]
    published: Callable[[int, datetime], None] | None


@contextmanager
def _serve(kind: str, connection: Any, tmp: Path) -> Iterator[Served]:
    if kind == "polling":
        # No feed: waits re-read the watermark; nobody tells it the head.
        yield Served(DuckDBReadStore(connection, poll_s=0.02), lambda lsn: None, None)
        return
    signal = CommitSignal()
    local = DuckDBReadStore(connection, feed=signal)
    published = lambda lsn, at: signal.published(lsn, _epoch_ms(at))  # noqa: E731
    if kind == "writer":
        yield Served(local, signal.committed, published)
        return
    server = ReadServer(local)
    server.start(tmp / "read-server.json")
    remote = RemoteReadStore(tmp / "read-server.json", timeout_s=30)
    try:
        yield Served(remote, signal.committed, published)
    finally:
        remote.close()
        server.stop()


def _epoch_ms(naive_utc: datetime) -> int:
    return int(naive_utc.replace(tzinfo=UTC).timestamp() * 1000)


@pytest.fixture(params=["polling", "writer", "worker"])
def kind(request: pytest.FixtureRequest) -> str:
    """The name of each `ReadStore` implementation in turn."""
    return str(request.param)


@pytest.fixture
def served(kind: str, projection: Any, tmp_path: Path) -> Iterator[Served]:
    """The read store of `kind` over the sample projection (watermark LSN 50)."""
    with _serve(kind, projection.connection, tmp_path) as store:
        yield store


@pytest.fixture
def empty(kind: str, tmp_path: Path) -> Iterator[Served]:
    """The read store of `kind` over a projection database no batch was applied to."""
    connection = open_database(":memory:")
    try:
        with _serve(kind, connection, tmp_path) as store:
            yield store
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
    if served.published is None:
        return  # a store without the writer's feed never knows the head
    served.published(70, T0 + timedelta(hours=4))
    assert served.store.head() == Watermark(70, T0 + timedelta(hours=4))
    served.published(80, T0 + timedelta(hours=5))
    assert served.store.head() == Watermark(80, T0 + timedelta(hours=5))


def test_a_snapshot_reads_one_state(served: Served, projection: Any) -> None:
    sql = "SELECT status FROM views.order_tracking WHERE order_id = 1"
    with served.store.snapshot() as snap:
        assert snap.watermark == SAMPLE
        assert snap.query(sql).column("status").to_pylist() == ["LOADED"]
        projection.commit_watermark(60)
        served.committed(60)
        assert snap.query(sql).column("status").to_pylist() == ["LOADED"]
        assert snap.watermark == SAMPLE
    with served.store.snapshot() as snap:
        assert snap.query(sql).column("status").to_pylist() == ["IN_TRANSIT"]
        assert snap.watermark.lsn == 60


def test_a_snapshot_refuses_writes(served: Served, projection: Any) -> None:
    with served.store.snapshot() as snap, pytest.raises(Exception, match="read-only"):
        snap.query("UPDATE views.order_tracking SET status = 'X'")
    with served.store.snapshot() as snap:
        assert snap.query("SELECT count(*) AS n FROM views.order_tracking WHERE status = 'X'")[
            "n"
        ].to_pylist() == [0]


def test_the_commit_signal_wakes_only_a_commit_that_reaches_the_lsn() -> None:
    signal = CommitSignal()
    outcome: list[bool] = []
    waiters = [
        threading.Thread(target=lambda: outcome.append(signal.wait_lsn(60, 20.0))) for _ in range(3)
    ]
    for waiter in waiters:
        waiter.start()
    time.sleep(0.1)
    signal.committed(55)  # below the LSN waited for: everyone waits on
    time.sleep(0.1)
    assert outcome == []
    signal.committed(61)
    for waiter in waiters:
        waiter.join(timeout=20.0)
    assert outcome == [True, True, True]
    assert signal.wait_lsn(62, 0.05) is False
    signal.committed(40)  # an older notice never moves the LSN back
    assert signal.wait_lsn(61, 0.0) is True


class _CountingStore(DuckDBReadStore):
    """A store with the writer's feed that counts its reads of the watermark."""

    reads = 0

    def watermark(self) -> Watermark:
        self.reads += 1
        return super().watermark()


def test_a_reader_waiting_with_the_writers_feed_reads_the_database_once_per_wait(
    projection: Any,
) -> None:
    signal = CommitSignal()
    store = _CountingStore(projection.connection, feed=signal)
    outcome: list[bool] = []
    waiter = threading.Thread(target=lambda: outcome.append(store.wait_for_lsn(60, 20.0)))
    waiter.start()
    for lsn in range(51, 60):  # commits below the LSN waited for, 50 ms apart
        time.sleep(0.05)
        signal.committed(lsn)
    assert outcome == []
    projection.commit_watermark(60)
    signal.committed(60)
    waiter.join(timeout=20.0)
    assert outcome == [True]
    assert store.reads == 1  # before waiting; not at each commit, not every 50 ms
    assert store.wait_for_lsn(61, 0.1) is False
    assert store.reads == 3  # before waiting and once more at the timeout
