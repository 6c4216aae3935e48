"""How far the Kafka loop has read each partition, in the order its messages arrived.

Every consumed message (a record, the end of a partition, an error) advances a sequence
number. A partition read to its end remembers the number it was at, an END marker the number
it arrived at, and each change partition the LSN of the last change event read from it. So
whether a partition can still hold events of a unit of work is one comparison (`passed`): its
last event's LSN is above the unit's, or it was read to its end after the unit's END marker.
Stall detection, flow control and the idle check ask these questions. Pure bookkeeping.
"""

from __future__ import annotations

from collections.abc import Iterable

from projections.assembler import Partition

KEPT_END_MARKERS = 110_000
"""END markers remembered at most, the oldest forgotten first (`ReadProgress.note_end_marker`):
`flow_control.MAX_QUEUED_UNITS` and more than a poll's worth; about 18 MB when full (the dict,
its 20-character unit ids and sequence numbers, measured)."""


class ReadProgress:
    """What the loop has read of each partition so far."""

    def __init__(self) -> None:
        self._seq = 0
        self._eof: dict[Partition, int] = {}
        self._last_lsn: dict[Partition, int] = {}
        self._end_seen: dict[str, int] = {}

    def note_record(self, partition: Partition) -> None:
        """A record of `partition` was read: it is no longer at its end."""
        self._seq += 1
        self._eof.pop(partition, None)

    def note_end(self, partition: Partition) -> None:
        """`partition` was read to its end."""
        self._seq += 1
        self._eof[partition] = self._seq

    def note_error(self) -> None:
        """The consumer reported an error (it takes a place in the order all the same)."""
        self._seq += 1

    def note_change(self, partition: Partition, lsn: int) -> None:
        """A change event of commit LSN `lsn` was read from `partition`."""
        self._last_lsn[partition] = lsn

    def note_end_marker(self, uow_id: str) -> None:
        """The END marker of unit of work `uow_id` was read (just now).

        Only the newest `KEPT_END_MARKERS` are remembered: a loop running for days reads
        millions, and a unit still waiting is among the newest (flow control pauses the
        transaction topic at `flow_control.MAX_QUEUED_UNITS` units waiting). A unit whose
        marker was forgotten is judged as if it was not read (only an event past its LSN shows a
        partition passed it): later, never wrongly.
        """
        self._end_seen[uow_id] = self._seq
        if len(self._end_seen) > KEPT_END_MARKERS:
            del self._end_seen[next(iter(self._end_seen))]

    def last_lsn(self, partition: Partition) -> int:
        """The commit LSN of the last change event read from `partition`; 0 when none was."""
        return self._last_lsn.get(partition, 0)

    def ahead_of(self, partition: Partition, lsn: int | None) -> bool:
        """Whether `partition` was read past LSN `lsn` (always, when `lsn` is None)."""
        return lsn is None or self._last_lsn.get(partition, -1) > lsn

    def passed(self, partition: Partition, lsn: int, uow_id: str) -> bool:
        """Whether `partition` can hold no more events of unit of work `uow_id` (LSN `lsn`).

        It was read past `lsn`, or to its end after the unit's END marker (or after now,
        when that marker was not read).
        """
        end_seq = self._end_seen.get(uow_id, self._seq)
        return self._last_lsn.get(partition, -1) > lsn or self._eof.get(partition, -1) > end_seq

    def at_end(self, partitions: Iterable[Partition]) -> bool:
        """Whether every one of `partitions` is read to its end."""
        return all(part in self._eof for part in partitions)
