"""The streaming source of capture: the CD tables' changes, in commit order.

`stream(bound)` publishes the next changes after the position (at most
`capture.max_events_per_transaction` rows, and no unit of work past LSN `bound`, the LSN of
a snapshot chunk waiting for the main stream), creating the change topics of tables it meets
first and starting their capture (`snapshot_source.schedule`). `catch_up(table)` publishes a
table's changes held while it was blocked on an incompatible schema change, up to the main
position (see `capture_steps`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from cdc_ingest import capture_steps as steps
from cdc_ingest.capture_topics import ensure_change_topics
from cdc_ingest.groups import CaptureGroup
from cdc_ingest.offset_context import OffsetContext
from cdc_ingest.snapshot_source import schedule
from cdc_ingest.source import Position, Source
from cdc_ingest.transactions import Transactions
from config import Settings


class StreamingSource:
    """Publishes the main stream of changes and held tables' catch-up.

    Args:
        settings: the whole configuration.
        context: the offset context; where reads start.
        transactions: where changes are published.
        group: the capture group: its tables; split, it also writes the markers of units
            that changed none of them.
    """

    def __init__(
        self,
        settings: Settings,
        context: OffsetContext,
        transactions: Transactions,
        group: CaptureGroup,
    ) -> None:
        self.settings = settings
        self.context = context
        self.transactions = transactions
        self.max_rows = settings.capture.max_events_per_transaction
        self.bulk_rows = settings.capture.bulk_min_rows or None
        self._tables = None if "*" in group.tables else list(group.tables)
        self._exclude = frozenset(group.exclude)
        self._every_unit = group.is_split
        self._topic_known: set[str] = set()

    def stream(self, source: Source, bound: int | None) -> bool:
        """Publish the next changes, none past LSN `bound` (if given), in one transaction.

        Returns:
            whether anything was published, or the main stream reached `bound`.
        """
        context, transactions = self.context, self.transactions
        assert transactions.codecs is not None
        after = Position(context.state.lsn, context.state.seq)
        batch = source.read_changes(
            after,
            self.max_rows,
            self._tables,
            self.bulk_rows,
            exclude=self._exclude,
            every_unit=self._every_unit,
        )
        context.newest = batch.newest_lsn
        units, position, last_complete = steps.cut_at(batch, bound)
        self._ensure_topics(batch.tables)
        before = context.state
        start = schedule(source, before, batch.tables, context.operator.snapshot_requests)
        transactions.begin()
        state = steps.check_tables(start, batch, transactions.codecs, context.accepted())
        if not units and state == before:
            transactions.abort()
            context.state = replace(state, lsn=position.lsn, seq=position.seq)
            return bound is not None and steps.reached(context.state, bound)
        transactions.commit(lambda w: steps.write_changes(w, state, units, position, last_complete))
        return True

    def catch_up(self, source: Source, name: str) -> bool:
        """Publish the next held changes of table `name` in one transaction; always True."""
        context, transactions = self.context, self.transactions
        assert transactions.codecs is not None
        held = context.state.tables[name].held_after or (0, 0)
        batch = source.read_changes(Position(*held), self.max_rows, [name])
        transactions.begin()
        state = steps.check_tables(context.state, batch, transactions.codecs, context.accepted())
        if state.tables[name].status == "blocked":
            transactions.commit(lambda _w: state)
            return True
        max_rows = self.max_rows
        transactions.commit(lambda w: steps.write_catch_up(w, state, name, batch, max_rows))
        return True

    def _ensure_topics(self, tables: Iterable[str]) -> None:
        new_tables = [t for t in tables if t not in self._topic_known]
        if new_tables:
            ensure_change_topics(self.settings.kafka, new_tables)
            self._topic_known.update(new_tables)
