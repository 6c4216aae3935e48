"""Stall detection: a unit of work waiting for events that will never arrive decodable.

An undecodable change record names no unit of work, yet its unit's END marker counts it, so
that unit (the head of the assembler's queue) would wait for it forever. Once it has stalled
for `stall_grace_ms` and every partition of each table it waits for has moved past its LSN (or
was read to its end after its END marker), the events still missing are excused: the poison
records of that table whose LSN range holds the unit's are attributed to it (`PoisonLedger`),
and any shortfall beyond them is one "missing" error row; the unit is then applied without
them. A table whose topic is not read yet first asks for a look at the topology.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import replace

from projections.assembler import Partition, Stall, UnitOfWorkAssembler
from projections.discovery import Rediscovery
from projections.errorlog import ErrorRecord
from projections.poison import PoisonLedger
from projections.progress import ReadProgress
from projections.topology import Topology

logger = logging.getLogger(__name__)


class StallResolver:
    """Excuses the missing events of a stalled unit of work when they cannot arrive.

    Args:
        grace_ms: how long a unit of work stalls before its missing events may be excused.
        assembler: the assembler whose head unit stalls.
        poison: the undecodable change records not yet attributed.
        progress: what the loop has read of each partition.
    """

    def __init__(
        self,
        grace_ms: int,
        assembler: UnitOfWorkAssembler,
        poison: PoisonLedger,
        progress: ReadProgress,
    ) -> None:
        self._grace_s = grace_ms / 1000
        self._assembler = assembler
        self._poison = poison
        self._progress = progress
        self._since: tuple[str, float] | None = None

    def resolve(
        self,
        now: float,
        topology: Topology,
        assigned: Collection[Partition],
        discovery: Rediscovery,
    ) -> list[ErrorRecord]:
        """Excuse the head unit's missing events if the time has come.

        Args:
            now: monotonic seconds.
            topology: the topics read.
            assigned: every partition read.
            discovery: asked for a look when a missing table's topic is not read.

        Returns:
            the error rows of the events excused (for the next batch); none while the unit
            may still complete.
        """
        stall = self._overdue(now)
        if stall is None or not self._passed(stall, now, topology, assigned, discovery):
            return []
        errors = self._excuse(stall, topology)
        logger.warning("unit of work %s applied without %s", stall.uow_id, stall.missing)
        self._since = None
        return errors

    def _overdue(self, now: float) -> Stall | None:
        """The head unit's stall once it has lasted the grace period."""
        stall = self._assembler.stall()
        if stall is None or self._since is None or self._since[0] != stall.uow_id:
            self._since = None if stall is None else (stall.uow_id, now)
            return None
        return stall if now - self._since[1] >= self._grace_s else None

    def _passed(
        self,
        stall: Stall,
        now: float,
        topology: Topology,
        assigned: Collection[Partition],
        discovery: Rediscovery,
    ) -> bool:
        """Whether no partition of a table the unit waits for can still hold its events."""
        assert self._since is not None  # _overdue returned the stall
        for table in stall.missing:
            topic = topology.topic_of(table)
            if topic is None and discovery.last < self._since[1] + self._grace_s:
                discovery.table_named(table, now)
                return False
            parts = [p for p in assigned if p[0] == topic]
            if not all(self._progress.passed(p, stall.commit_lsn, stall.uow_id) for p in parts):
                return False
        return True

    def _excuse(self, stall: Stall, topology: Topology) -> list[ErrorRecord]:
        errors: list[ErrorRecord] = []
        for table, count in stall.missing.items():
            records = self._poison.attribute(topology.topic_of(table), stall.commit_lsn, count)
            errors += [
                replace(record, uow_id=stall.uow_id, commit_lsn=stall.commit_lsn)
                for record in records
            ]
            if len(records) < count:
                errors.append(_missing(topology.tx_topic, stall, table, count - len(records)))
            self._assembler.excuse(stall.uow_id, table, count)
        return errors


def _missing(tx_topic: str, stall: Stall, table: str, count: int) -> ErrorRecord:
    return ErrorRecord(
        kind="missing",
        reason=f"END announced {count} more events of {table} than arrived decodable",
        topic=tx_topic,
        partition=0,
        offset=-stall.commit_lsn,
        uow_id=stall.uow_id,
        commit_lsn=stall.commit_lsn,
        source_table=table,
    )
