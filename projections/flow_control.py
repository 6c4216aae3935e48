"""Flow control: memory stays bounded while units of work wait for their events.

Past `max_held_events` events waiting for their unit of work, every change partition that ran
ahead of the oldest waiting unit (its last event's LSN is above that unit's) is paused until
the backlog drains; the transaction topic is paused when too many units wait, unless the oldest
has not got its END yet: with capture split by table group, a group far behind writes the END
that completes it after the other groups' markers of many later units, so the topic is read on
(a small buffer per unit) until it comes. (Units reaching
`stage_threshold` events spill to the DuckDB stage: see `assembler`.) Pure: this decides which
partitions wait; the loop pauses and resumes them (`PartitionAssignment.pause_only`).
"""

from __future__ import annotations

from collections.abc import Iterable

from projections.assembler import Partition, UnitOfWorkAssembler
from projections.progress import ReadProgress
from projections.topology import Topology

MAX_QUEUED_UNITS = 100_000
"""Units of work waiting to be released past which the transaction topic is paused."""


class FlowControl:
    """Decides which partitions to pause.

    Args:
        max_held_events: events held in memory past which partitions that ran ahead pause.
        assembler: the assembler whose backlog is bounded.
        progress: what the loop has read of each partition.
    """

    def __init__(
        self, max_held_events: int, assembler: UnitOfWorkAssembler, progress: ReadProgress
    ) -> None:
        self._max_held = max_held_events
        self._assembler = assembler
        self._progress = progress

    def paused(
        self, held: int, topology: Topology, assigned: Iterable[Partition]
    ) -> set[Partition]:
        """The partitions to pause now.

        Args:
            held: the events the assembler holds in memory (`held_events`).
            topology: the topics read.
            assigned: every partition read.
        """
        wanted: set[Partition] = set()
        if held > self._max_held:
            head = self._assembler.head_lsn
            for part in assigned:
                if part[0] in topology.change and self._progress.ahead_of(part, head):
                    wanted.add(part)
        if self._assembler.queued_units > MAX_QUEUED_UNITS and self._assembler.head_ended:
            wanted.add((topology.tx_topic, 0))
        return wanted
