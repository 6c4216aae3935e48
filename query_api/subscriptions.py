"""Subscriptions to the views' changes: positions, reading the change log, the SSE stream.

The projection writer logs every view row a batch changed in the batch's own transaction
(`projections/changelog.py`, table `_offload.view_changes`), at the batch's position
(lsn, n): lsn is the watermark after the batch, n is 0 (or 1, 2, ... for later batches that
did not move the watermark: reference records, replays). A subscriber reads the log after
its position on one snapshot, so any serving worker can serve any subscriber, and a
reconnect that names its last position gets exactly what followed it.

One server-sent event per batch (never split across events), so the event's `id:` names a
position the client has wholly received: `L` when n is 0, `L.n` otherwise.

`ChangeFeed` is one thread per process that waits for the writer's next commit (the store's
`wait_for_lsn`, at most `idle_s`) and reads the log's newest position, waking every
subscriber of the process when it moved; subscribers never hold a thread while they wait.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import threading
import time
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import duckdb

from query_api.errors import BadParameter, QueryApiError
from query_api.reads import Reads
from query_api.snapshot import Snapshot
from query_api.store import ReadStore

logger = logging.getLogger(__name__)

_POSITION_RE = re.compile(r"^(\d{1,19})(?:\.(\d{1,9}))?$")
BATCHES_PER_READ = 100
"""Batches read from the log at most per query (a long catch-up is read in steps)."""
HEARTBEAT_S = 15.0
"""Idle time after which a stream sends a heartbeat event (with the position it scanned)."""


@dataclass(frozen=True, order=True, slots=True)
class Position:
    """A place in the change log: after the batch at watermark `lsn`, `n`-th at that LSN."""

    lsn: int
    n: int = 0

    @property
    def text(self) -> str:
        """`L`, or `L.n` when n > 0: the SSE event id."""
        return str(self.lsn) if self.n == 0 else f"{self.lsn}.{self.n}"

    @classmethod
    def parse(cls, text: str, parameter: str) -> Position:
        """A position from `L` or `L.n`.

        Raises:
            BadParameter: naming `parameter`, the text is not like `1234` or `1234.1`.
        """
        match = _POSITION_RE.match(text.strip())
        if match is None or int(match.group(1)) > 2**63 - 1:
            raise BadParameter(
                parameter, f"expected a change position like 1234 or 1234.1, got {text!r}"
            )
        return cls(int(match.group(1)), int(match.group(2) or 0))


class ChangesCompacted(QueryApiError):
    """The changes a subscriber asked for are no longer all in the log (410).

    Attributes:
        asked: the position the subscriber resumes from.
        horizon: the oldest position the log can resume from.
    """

    status = 410

    def __init__(self, asked: Position, horizon: Position) -> None:
        super().__init__(
            f"changes after position {asked.text} are no longer kept: the view change log "
            f"starts after {horizon.text} (kept for projections' change retention); read the "
            "view again and subscribe with since_lsn = its watermark"
        )
        self.asked = asked.text
        self.horizon = horizon.text
        self.reason = "compacted"


@dataclass(frozen=True, slots=True)
class ChangeBatch:
    """The changes of one batch, as the JSON texts of its items."""

    position: Position
    commit_time: datetime | None
    items: list[str]


@dataclass(frozen=True, slots=True)
class LogRead:
    """One read of the log: its batches after a position, and how far it looked."""

    batches: list[ChangeBatch]
    scanned: Position
    horizon: Position


class ChangeLogReader:
    """Reads the change log with one of the named queries on one snapshot.

    Args:
        reads: the named queries.
        query: `view_changes` (one view's changes; `params` names the view) or
            `cold_chain_alerts`.
        params: its other parameters.
    """

    def __init__(self, reads: Reads, query: str, params: dict[str, Any] | None = None) -> None:
        self._reads = reads
        self._query = query
        self._params = dict(params or {})

    def state(self, snap: Snapshot) -> tuple[Position, Position]:
        """The log's newest position and its horizon."""
        return _state(self._reads, snap)

    def read(self, snap: Snapshot, after: Position, batches: int = BATCHES_PER_READ) -> LogRead:
        """The batches after `after`, at most `batches` of them, on one snapshot."""
        last, horizon = self.state(snap)
        params = {**self._params, "lsn": after.lsn, "n": after.n, "batches": batches}
        table = snap.query(self._reads.sql(self._query), params)
        found: list[ChangeBatch] = []
        columns = [table.column(c).to_pylist() for c in ("lsn", "n", "commit_time", "item")]
        for lsn, n, commit_time, item in zip(*columns, strict=True):
            position = Position(int(lsn), int(n))
            if not found or found[-1].position != position:
                found.append(ChangeBatch(position, commit_time, []))
            found[-1].items.append(str(item))
        scanned = found[-1].position if len(found) >= batches else max(last, after)
        return LogRead(found, scanned, horizon)


def _state(reads: Reads, snap: Snapshot) -> tuple[Position, Position]:
    rows = reads.rows(snap, "view_changes_state", {})
    if not rows:
        return Position(0), Position(0)
    row = rows[0]
    return Position(row["last_lsn"], row["last_n"]), Position(row["horizon_lsn"], row["horizon_n"])


def start_position(
    reader: ChangeLogReader, snap: Snapshot, last_event_id: str | None, since_lsn: int | None
) -> Position:
    """Where a new stream starts: after `Last-Event-ID` if sent (a reconnect), else after
    `since_lsn`, else after the newest change (only changes from now on).

    Raises:
        BadParameter: `Last-Event-ID` is not a position.
        ChangesCompacted: the log no longer holds every change after that position.
    """
    last, horizon = reader.state(snap)
    if last_event_id:
        start = Position.parse(last_event_id, "Last-Event-ID")
    elif since_lsn is not None:
        start = Position(since_lsn)
    else:
        return last
    if start < horizon:
        raise ChangesCompacted(start, horizon)
    return start


def sse_event(event: str, position: Position | None, data: str) -> str:
    """One server-sent event: `event:`, `id:` (when given), one `data:` line, a blank line."""
    head = f"event: {event}\n" + (f"id: {position.text}\n" if position is not None else "")
    return f"{head}data: {data}\n\n"


def batch_data(name: str, batch: ChangeBatch) -> str:
    """The JSON `data` of one batch's event: position, LSN, commit time and its items."""
    commit = "null" if batch.commit_time is None else f'"{batch.commit_time.isoformat()}"'
    items = ",".join(batch.items)
    return (
        f'{{"position":"{batch.position.text}","lsn":{batch.position.lsn},'
        f'"commit_time":{commit},"{name}":[{items}]}}'
    )


class ChangeFeed:
    """Wakes this process's subscribers when the change log's newest position moves.

    Args:
        store: the read store (the writer's database, locally or over Flight).
        reads: the named queries.
        idle_s: longest wait for a commit before the log's position is read again (batches
            that do not move the watermark are noticed within it).
        linger_s: the thread ends after this long without a subscriber.
    """

    def __init__(
        self, store: ReadStore, reads: Reads, idle_s: float = 1.0, linger_s: float = 30.0
    ) -> None:
        self._store = store
        self._reads = reads
        self._idle_s = idle_s
        self._linger_s = linger_s
        self._lock = threading.Lock()
        self._last: Position | None = None
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        self._thread: threading.Thread | None = None
        self._idle_since: float | None = None

    async def wait(self, after: Position, timeout_s: float) -> None:
        """Return once the log holds a position after `after`, or after `timeout_s`."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        with self._lock:
            if self._last is not None and self._last > after:
                return
            self._waiters.append((loop, future))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="change-feed", daemon=True)
                self._thread.start()
        try:
            await asyncio.wait_for(future, timeout_s)
        except TimeoutError:
            pass
        finally:
            with self._lock:
                if (loop, future) in self._waiters:
                    self._waiters.remove((loop, future))

    def _run(self) -> None:
        mark = 0
        while self._wanted():
            try:
                self._store.wait_for_lsn(mark + 1, self._idle_s)
                with self._store.snapshot() as snap:
                    mark = snap.watermark.lsn
                    last, _ = _state(self._reads, snap)
            except (QueryApiError, duckdb.Error) as exc:  # writer down, starting or closing
                logger.debug("change feed: %s", exc)
                time.sleep(self._idle_s)
                continue
            self._publish(last)

    def _wanted(self) -> bool:
        """Whether to go on: a subscriber waits, or one did within `linger_s`."""
        now = time.monotonic()
        with self._lock:
            if self._waiters:
                self._idle_since = None
                return True
            self._idle_since = self._idle_since or now
            if now - self._idle_since < self._linger_s:
                return True
            self._thread = None
            self._idle_since = None
            return False

    def _publish(self, last: Position) -> None:
        with self._lock:
            moved = self._last is None or last > self._last
            self._last = last if moved else self._last
            woken = self._waiters if moved else []
            if moved:
                self._waiters = []
        for loop, future in woken:
            loop.call_soon_threadsafe(_resolve, future)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


async def change_stream(
    reader: ChangeLogReader,
    feed: ChangeFeed,
    store: ReadStore,
    *,
    start: Position,
    name: str,
    event: str,
    disconnected: Callable[[], Any],
) -> AsyncGenerator[str, None]:
    """The SSE text of every batch after `start`, then each new one, until the client leaves.

    Args:
        reader: reads the log (a view's changes, or the alerts).
        feed: wakes the stream when the log moves.
        store: where snapshots come from.
        start: the position the client has.
        name: the JSON key of a batch's items ("changes", "alerts").
        event: the SSE event name of a batch.
        disconnected: awaitable factory: whether the client went away.
    """
    after = start
    yield f"retry: 1000\n{sse_event('subscribed', after, _position_json(after))}"
    loop = asyncio.get_running_loop()
    sent_at = loop.time()
    while not await disconnected():
        try:
            got = await asyncio.to_thread(_read, store, reader, after)
        except QueryApiError as exc:  # the writer is down: say so, keep the position
            yield sse_event("unavailable", None, _error_json(exc))
            await asyncio.sleep(1.0)
            continue
        if after < got.horizon:
            yield sse_event("error", None, _error_json(ChangesCompacted(after, got.horizon)))
            return
        for batch in got.batches:
            yield sse_event(event, batch.position, batch_data(name, batch))
            sent_at = loop.time()
        after = max(after, got.scanned)
        if len(got.batches) >= BATCHES_PER_READ:
            continue  # more to catch up on
        if loop.time() - sent_at >= HEARTBEAT_S:
            yield sse_event("heartbeat", after, _position_json(after))
            sent_at = loop.time()
        await feed.wait(after, max(HEARTBEAT_S - (loop.time() - sent_at), 0.05))


def _read(store: ReadStore, reader: ChangeLogReader, after: Position) -> LogRead:
    with store.snapshot() as snap:
        return reader.read(snap, after)


def _position_json(position: Position) -> str:
    return json.dumps({"position": position.text, "lsn": position.lsn})


def _error_json(exc: QueryApiError) -> str:
    return json.dumps({"error": type(exc).__name__, "detail": str(exc)})
