"""The unit-of-work assembler: whole source transactions, in commit order, from many topics.

Change events of one unit of work arrive on several topics and partitions, interleaved with
other units' events and with the BEGIN/END markers of the transaction topic. The assembler
buffers them and releases a unit only when its END marker's per-table counts are all met;
it releases units in the order of the transaction topic. That topic has one partition and
capture writes it in commit order, so its order is LSN order, and a unit that comes later
in it waits only for units whose marker was already read there: a unit not yet seen in the
transaction topic cannot come before one that was.

With capture split by table group, every group writes a BEGIN and an END for every unit of
work (markers say which `part` of how many `parts`), its END counting its own tables' events:
a unit is complete once the ENDs of all its parts arrived and their counts are met. Each group
writes units in commit order, so the first marker of each unit still comes in LSN order.

Events whose marker has not been read yet ("orphans") are held too, since the change topics
may run ahead of the transaction topic. After a restart, positions are resumed from the
stored ones (the oldest held record of each partition), so records of units already applied
are read again: an event or marker of a source unit of work whose commit LSN is not above the
highest applied one is dropped on arrival (pseudo-units, snapshot chunks and the resumed parts
of units that touched a blocked table, may lie below it: the per-key rule makes them
idempotent), a repeated (table, change_lsn, key) within
a unit is dropped, and `drop_orphans` discards the rest once the transaction topic has been
read to its end (a visible event's BEGIN is always visible, so an orphan then belongs to a
unit that was applied before the restart).

A unit whose buffered events reach `stage_threshold` spills them to a `Stage` so memory
stays bounded; the applier reads them back in chunks inside the unit's one DuckDB
transaction. Pure logic: no broker, no database (the stage is injected).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from event_contract.envelope import SNAPSHOT_PREFIX, is_pseudo
from projections.events import DecodedChange, TxMarker

logger = logging.getLogger(__name__)

Partition = tuple[str, int]


class Stage(Protocol):
    """Where the events of a unit of work too large to hold in memory wait for its END."""

    def put(self, uow_id: str, events: Sequence[DecodedChange]) -> None:
        """Append events of a unit of work."""

    def chunks(self, uow_id: str, size: int) -> Iterator[list[DecodedChange]]:
        """The unit's staged events, in chunks of at most `size`."""

    def drop(self, uow_id: str) -> None:
        """Forget the unit's staged events."""


class MemoryStage:
    """A `Stage` that keeps everything in memory (tests, and tiny deployments)."""

    def __init__(self) -> None:
        self._units: dict[str, list[DecodedChange]] = {}

    def put(self, uow_id: str, events: Sequence[DecodedChange]) -> None:
        """Append events of a unit of work."""
        self._units.setdefault(uow_id, []).extend(events)

    def chunks(self, uow_id: str, size: int) -> Iterator[list[DecodedChange]]:
        """The unit's staged events, in chunks of at most `size`."""
        events = self._units.get(uow_id, [])
        for start in range(0, len(events), size):
            yield events[start : start + size]

    def drop(self, uow_id: str) -> None:
        """Forget the unit's staged events."""
        self._units.pop(uow_id, None)


@dataclass(frozen=True, slots=True)
class AssembledUnit:
    """A complete unit of work, ready to apply.

    Attributes:
        uow_id: its id.
        commit_lsn: its commit LSN.
        commit_ms: its commit time, ms since the epoch UTC.
        events: the events held in memory.
        staged: whether more of its events wait in the stage (read them with `Stage.chunks`).
        event_count: all its events, in memory and staged.
    """

    uow_id: str
    commit_lsn: int
    commit_ms: int
    events: tuple[DecodedChange, ...]
    staged: bool
    event_count: int

    @property
    def is_snapshot(self) -> bool:
        """Whether this is a snapshot pseudo-unit."""
        return self.uow_id.startswith(SNAPSHOT_PREFIX)

    @property
    def is_pseudo(self) -> bool:
        """Whether this is a pseudo-unit (snapshot or resumed): its LSN may lie below others'."""
        return is_pseudo(self.uow_id)


@dataclass(slots=True)
class _Buffer:
    """What has arrived of one unit of work so far."""

    uow_id: str
    commit_lsn: int
    marker_offset: int | None = None
    end: TxMarker | None = None
    begun: set[str | None] = field(default_factory=set)
    ends: dict[str | None, TxMarker] = field(default_factory=dict)
    events: list[DecodedChange] = field(default_factory=list)
    seen: set[tuple[str, int, tuple[Any, ...]]] = field(default_factory=set)
    counts: Counter[str] = field(default_factory=Counter)
    staged: int = 0
    low_offsets: dict[Partition, int] = field(default_factory=dict)
    excused: Counter[str] = field(default_factory=Counter)

    def missing(self) -> dict[str, int]:
        """Events per table that END announces and that have not arrived (nor been excused)."""
        assert self.end is not None
        wanted = self.end.counts or {}
        got = self.counts + self.excused
        return {table: n - got[table] for table, n in wanted.items() if got[table] < n}

    def complete(self) -> bool:
        if self.end is None or self.missing():
            return False
        arrived = len(self.seen) + sum(self.excused.values())
        return self.end.event_count is None or arrived >= self.end.event_count


@dataclass(frozen=True, slots=True)
class Stall:
    """The head of the queue: its END was read but some of its events have not arrived.

    Attributes:
        uow_id: the unit of work.
        commit_lsn: its commit LSN.
        missing: events per table (SCHEMA.TABLE) still missing.
    """

    uow_id: str
    commit_lsn: int
    missing: dict[str, int]


def _whole_end(ends: list[TxMarker]) -> TxMarker:
    """The END of a whole unit of work from the ENDs of its parts (one each capture group)."""
    if len(ends) == 1:
        return ends[0]
    counts: Counter[str] = Counter()
    for end in ends:
        counts.update(end.counts or {})
    totals = [end.event_count for end in ends]
    first = ends[0]
    return TxMarker(
        offset=first.offset,
        status="END",
        uow_id=first.uow_id,
        commit_lsn=first.commit_lsn,
        commit_ms=first.commit_ms,
        event_count=None if None in totals else sum(t or 0 for t in totals),
        counts=dict(counts),
        parts=len(ends),
    )


class UnitOfWorkAssembler:
    """Buffers change events and markers; releases complete units of work in commit order.

    Args:
        tx_topic: the transaction metadata topic (one partition).
        applied_uow_lsn: the highest commit LSN of a source (non-snapshot) unit of work
            already applied, from the stored watermark; 0 for a fresh projection.
        stage: where large units spill to.
        stage_threshold: a unit spills once it holds this many events in memory.
    """

    def __init__(
        self, tx_topic: str, applied_uow_lsn: int, stage: Stage, stage_threshold: int
    ) -> None:
        self._tx_topic = tx_topic
        self._uow_lsn = applied_uow_lsn
        self._stage = stage
        self._stage_threshold = stage_threshold
        self._queue: dict[str, _Buffer] = {}  # in transaction-topic order
        self._orphans: dict[str, _Buffer] = {}
        self._consumed: dict[Partition, int] = {}
        self._marked: set[str] = set()
        self.duplicates = 0
        """Events and markers dropped as already seen or already applied."""

    @property
    def held_events(self) -> int:
        """Events held in memory (not counting staged ones): for flow control."""
        units = [*self._queue.values(), *self._orphans.values()]
        return sum(len(b.events) for b in units)

    @property
    def queued_units(self) -> int:
        """Units of work whose marker was read and that wait to be released."""
        return len(self._queue)

    @property
    def head_lsn(self) -> int | None:
        """The commit LSN of the oldest unit of work waiting (None when none is queued)."""
        if not self._queue:
            return None
        return next(iter(self._queue.values())).commit_lsn

    @property
    def head_ended(self) -> bool:
        """Whether the oldest unit of work waiting has its END (of every part) read."""
        return bool(self._queue) and next(iter(self._queue.values())).end is not None

    @property
    def head_complete(self) -> bool:
        """Whether a unit of work is ready to be released (`ready` would return one)."""
        return bool(self._queue) and next(iter(self._queue.values())).complete()

    def note_consumed(self, partition: Partition, offset: int) -> None:
        """A record that holds nothing (a tombstone, an undecodable record) was read."""
        self._consumed[partition] = max(self._consumed.get(partition, 0), offset + 1)

    def stall(self) -> Stall | None:
        """The head unit of work when its END was read and events are still missing."""
        if not self._queue:
            return None
        buf = next(iter(self._queue.values()))
        if buf.end is None:
            return None
        missing = buf.missing()
        if not missing:
            return None
        return Stall(buf.uow_id, buf.end.commit_lsn, missing)

    def excuse(self, uow_id: str, table: str, count: int) -> None:
        """Count `count` events of `table` as arrived for a unit of work (they never will:
        they could not be decoded and went to the error table)."""
        buf = self._queue.get(uow_id)
        if buf is not None:
            buf.excused[table] += count

    def add_event(self, event: DecodedChange) -> None:
        """Take one change event (not a tombstone)."""
        part = (event.topic, event.partition)
        self._consumed[part] = max(self._consumed.get(part, 0), event.offset + 1)
        if event.commit_lsn <= self._uow_lsn and event.op != "r" and not is_pseudo(event.uow_id):
            self.duplicates += 1
            return
        buf = self._queue.get(event.uow_id) or self._orphans.get(event.uow_id)
        if buf is None:
            buf = self._orphans[event.uow_id] = _Buffer(event.uow_id, event.commit_lsn)
        ident = (event.table, event.change_lsn, event.key)
        if ident in buf.seen:
            self.duplicates += 1
            return
        buf.seen.add(ident)
        buf.events.append(event)
        buf.counts[event.table] += 1
        if event.offset < buf.low_offsets.get(part, event.offset + 1):
            buf.low_offsets[part] = event.offset
        if len(buf.events) >= self._stage_threshold:
            self._stage.put(buf.uow_id, buf.events)
            buf.staged += len(buf.events)
            buf.events = []
            logger.debug("staged %d events of unit of work %s", buf.staged, buf.uow_id)

    def add_marker(self, marker: TxMarker) -> None:
        """Take one BEGIN or END marker, in transaction-topic order."""
        part = (self._tx_topic, 0)
        self._consumed[part] = max(self._consumed.get(part, 0), marker.offset + 1)
        if marker.commit_lsn <= self._uow_lsn and not marker.is_pseudo:
            self.duplicates += 1
            return
        buf = self._queue.get(marker.uow_id)
        if buf is None:
            buf = self._orphans.pop(marker.uow_id, None) or _Buffer(
                marker.uow_id, marker.commit_lsn
            )
            buf.marker_offset = marker.offset
            self._queue[marker.uow_id] = buf
        if buf.end is not None or marker.part in (
            buf.begun if marker.status == "BEGIN" else buf.ends
        ):
            self.duplicates += 1
            return
        if marker.status == "BEGIN":
            buf.begun.add(marker.part)
            return
        buf.ends[marker.part] = marker
        if len(buf.ends) >= max(m.parts for m in buf.ends.values()):
            buf.end = _whole_end(list(buf.ends.values()))

    def ready(self, max_events: int) -> list[AssembledUnit]:
        """Pop the complete units at the head of the queue, up to about `max_events` events.

        At least one unit is returned when the head is complete, however large it is.
        """
        out: list[AssembledUnit] = []
        total = 0
        while self._queue:
            uow_id, buf = next(iter(self._queue.items()))
            size = len(buf.seen)
            if not buf.complete() or (out and total + size > max_events):
                break
            del self._queue[uow_id]
            out.append(self._release(buf))
            total += size
        return out

    def _release(self, buf: _Buffer) -> AssembledUnit:
        assert buf.end is not None  # complete() checked it
        if not buf.end.is_pseudo:
            self._uow_lsn = max(self._uow_lsn, buf.end.commit_lsn)
            stale = [
                u
                for u, b in self._orphans.items()
                if b.commit_lsn <= self._uow_lsn and not is_pseudo(u)
            ]
            for uow_id in stale:
                self._forget(self._orphans.pop(uow_id))
        return AssembledUnit(
            uow_id=buf.uow_id,
            commit_lsn=buf.end.commit_lsn,
            commit_ms=buf.end.commit_ms,
            events=tuple(buf.events),
            staged=buf.staged > 0,
            event_count=len(buf.seen),
        )

    def _forget(self, buf: _Buffer) -> None:
        self.duplicates += len(buf.seen)
        if buf.staged:
            self._stage.drop(buf.uow_id)

    def drop_orphans(self) -> int:
        """Drop events whose unit's marker never came: they belong to units applied before.

        Call only after every transaction-topic record visible when these events were
        consumed has been added (the transaction topic was read to its end since).

        Returns:
            the number of events dropped.
        """
        dropped = sum(len(b.seen) for b in self._orphans.values())
        for buf in self._orphans.values():
            self._forget(buf)
        self._orphans.clear()
        return dropped

    def sweep_orphans(self) -> int:
        """Drop the orphans that were already held at the previous sweep; mark the rest.

        Call when the transaction topic was read to its end. Two sweeps apart, an orphan has
        outlived a whole read of the transaction topic to its end after it arrived, so its
        marker was read before the restart: its unit was applied then.

        Returns:
            the number of events dropped.
        """
        dropped = 0
        for uow_id in self._marked.intersection(self._orphans):
            buf = self._orphans.pop(uow_id)
            dropped += len(buf.seen)
            self._forget(buf)
        self._marked = set(self._orphans)
        return dropped

    def positions(self) -> dict[Partition, int]:
        """Next offset to read per partition on restart: the oldest record still held.

        Store these with the units released so far, in the same DuckDB transaction.
        """
        out = dict(self._consumed)
        tx = (self._tx_topic, 0)
        for buf in [*self._queue.values(), *self._orphans.values()]:
            for part, low in buf.low_offsets.items():
                out[part] = min(out[part], low)
            if buf.marker_offset is not None:
                out[tx] = min(out[tx], buf.marker_offset)
        return out
