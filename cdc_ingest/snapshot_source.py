"""The snapshot source of capture: which tables to snapshot, and their chunks.

A table new to capture is snapshotted when its capture history does not give its rows (it
held rows when registered, or its CD table was pruned), and any table again once the
operator asks (`cdc snapshot TABLE`, a record of `<prefix>.cdc-offsets`): `schedule`
decides it when the streaming source meets the table. Snapshots in progress are read one
chunk of `capture.snapshot_chunk_rows` rows at a time, by primary key; a chunk read at LSN L
is published (`capture_steps.write_chunk`) only once the main stream has published every
change up to L, so the combined result equals the table's final state.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping
from dataclasses import replace

from cdc_ingest import capture_steps as steps
from cdc_ingest.offset_context import OffsetContext
from cdc_ingest.positions import CapturePosition, SnapshotProgress, TableState
from cdc_ingest.source import Source
from cdc_ingest.table_codecs import Refusal
from cdc_ingest.transactions import Transactions
from config import Settings
from plumbing.crash import CrashHook

logger = logging.getLogger(__name__)


def schedule(
    source: Source, state: CapturePosition, tables: Collection[str], requests: Mapping[str, int]
) -> CapturePosition:
    """Start capture of the tables of `tables` new to `state`, with a snapshot of those whose
    capture history does not give their rows; snapshot known tables with a new request.

    Args:
        source: the system of record (registrations, table rows).
        state: the position before.
        tables: the tables of the changes read (SCHEMA.TABLE).
        requests: the operator's snapshot requests: request time (ms) by table.
    """
    snapshots = dict(state.snapshots)
    result = state
    new = [name for name in tables if name not in state.tables]
    needs = {r.table for r in source.registrations() if r.needs_snapshot} if new else ()
    for name in tables:
        known = state.tables.get(name)
        requested = requests.get(name, 0)
        if known is None:
            wanted = name in needs or requested > 0
            if wanted and source.read_chunk(name, None, 1).rows:
                snapshots[name] = SnapshotProgress()
                logger.info("table %s: snapshot it (held rows when registered, or asked)", name)
            result = result.with_table(name, TableState(snapshot_ms=requested))
        elif requested > known.snapshot_ms:
            snapshots[name] = SnapshotProgress()
            result = result.with_table(name, replace(known, snapshot_ms=requested))
            logger.info("table %s: snapshot requested", name)
    return replace(result, snapshots=snapshots)


class SnapshotSource:
    """Reads and publishes the chunks of snapshots in progress.

    Args:
        settings: the whole configuration.
        context: the offset context (snapshots in progress, accepted schemas).
        transactions: where a chunk is published.
        crash: the crash-point hook (tests).
    """

    def __init__(
        self,
        settings: Settings,
        context: OffsetContext,
        transactions: Transactions,
        crash: CrashHook,
    ) -> None:
        self.chunk_rows = settings.capture.snapshot_chunk_rows
        self.context = context
        self.transactions = transactions
        self.crash = crash
        self._chunk: steps.Chunk | None = None

    def pending(self, source: Source) -> steps.Chunk | None:
        """The next chunk to publish (read now, or kept from before), or None."""
        if self._chunk is None:
            self._chunk = self._read(source)
        return self._chunk

    def publish(self, chunk: steps.Chunk) -> bool:
        """Publish `chunk` in one transaction (the main stream must have reached its LSN).

        Returns:
            False when its table's schema was refused and nothing was published (the next
            streaming step blocks the table).
        """
        self._chunk = None
        transactions, context = self.transactions, self.context
        assert transactions.codecs is not None
        transactions.begin()
        codec = transactions.codecs.resolve(chunk.data.table, context.accepted().get(chunk.table))
        if isinstance(codec, Refusal):
            transactions.abort()
            return False
        transactions.commit(lambda w: steps.write_chunk(w, context.state, chunk))
        if chunk.table in context.state.snapshots:
            self.crash("cdc.mid_snapshot")
        return True

    def forget(self) -> None:
        """Drop the chunk read (after a rewind or a reconnect: read it again)."""
        self._chunk = None

    def _read(self, source: Source) -> steps.Chunk | None:
        for name, progress in self.context.state.snapshots.items():
            table = self.context.state.tables.get(name)
            if table is not None and table.status != "running":
                continue
            size = self.chunk_rows
            data = source.read_chunk(name, progress.last_key, size + 1)
            return steps.Chunk(name, data, size, len(data.rows) <= size)
        return None
