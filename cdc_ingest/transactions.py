"""Capture's Kafka transactions: a step's messages, new schema versions and its position.

Each step of capture runs in one Kafka transaction of the `TransactionalProducer`: `begin()`,
resolve the tables' codecs (which registers new schema versions through the same producer),
then either `abort()` (nothing to publish, or a refused schema) or `commit(build)`: `build`
writes the step's messages through a `UnitWriter` and returns the new position, which is
produced as the `position:<group>` record of `<prefix>.cdc-offsets` in the same transaction.
The schema store takes the versions registered in a transaction as its own only once it
committed, and forgets them when it aborted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace

from cdc_ingest.capture_steps import now_ms
from cdc_ingest.groups import CaptureGroup
from cdc_ingest.offset_context import OffsetContext
from cdc_ingest.offsets_log import offsets_topic
from cdc_ingest.positions import POSITION_KEY, CapturePosition, record_key
from cdc_ingest.table_codecs import TableCodecs
from cdc_ingest.transactional_producer import TransactionalProducer
from cdc_ingest.unit_writer import UnitWriter
from config import Settings
from event_contract.envelope import SourceInfo
from event_contract.registry import SchemaStore
from event_contract.schema_stores import TopicSchemaStore, store_from_settings
from plumbing.crash import CrashHook

logger = logging.getLogger(__name__)

Observer = Callable[[CapturePosition, int], None]
"""Called after each commit with the committed position and the source's newest LSN."""

Build = Callable[[UnitWriter], CapturePosition]
"""Writes a step's messages; returns the position to commit with them."""


class Transactions:
    """Begins, aborts and commits capture's Kafka transactions.

    Args:
        settings: the whole configuration.
        producer: the transactional producer (opened by the caller).
        context: the offset context; a commit advances it.
        crash: the crash-point hook (tests).
        observer: told about each commit, or None.
        group: the capture group (its position record, its part of each unit's markers).

    Attributes:
        codecs: the table encoders once `load_schemas()` ran, else None.
        bulk_pieces: units of work (or pieces of one) encoded a column at a time in the
            transactions committed so far.
        declined: large ones the bulk path left to the per-event path in them, by reason
            (each reason logged the first time).
    """

    def __init__(
        self,
        settings: Settings,
        producer: TransactionalProducer,
        context: OffsetContext,
        crash: CrashHook,
        observer: Observer | None,
        *,
        group: CaptureGroup,
    ) -> None:
        self.settings = settings
        self.group = group
        self.producer = producer
        self.context = context
        self.crash = crash
        self.observer = observer
        self.codecs: TableCodecs | None = None
        self._store: SchemaStore | None = None
        self._source_info = SourceInfo(settings.kafka.topic_prefix, settings.sor_path.stem)
        self.bulk_pieces = 0
        self.declined: dict[str, int] = {}

    def load_schemas(self) -> None:
        """Read the schemas (the `_schemas` topic) into a new store registering through the
        producer, and start new table encoders over it."""
        store = store_from_settings(self.settings, self.producer.client)
        if isinstance(store, TopicSchemaStore):
            store.load()
        self._store = store
        self.codecs = TableCodecs(store, self.settings.kafka)

    def reset(self) -> None:
        """Drop the table encoders (reconnecting: `load_schemas()` makes new ones)."""
        self.codecs = None

    def begin(self) -> None:
        """Begin a transaction."""
        self.producer.begin()
        if self.codecs is not None:
            self.codecs.begin()

    def abort(self) -> None:
        """Abort the open transaction and forget the schema versions registered in it."""
        self.producer.abort()
        self.discard_pending()

    def discard_pending(self) -> None:
        """Forget schema versions registered in a transaction that did not commit."""
        if self._store is not None:
            self._store.discard_pending()
        if self.codecs is not None:
            self.codecs.forget_uncommitted()

    def commit(self, build: Build) -> None:
        """Write the step's messages and the new position in the open transaction; commit."""
        assert self.codecs is not None
        group = self.group
        writer = UnitWriter(
            self.codecs, self._source_info, self.producer.emitter(), group.name, group.parts
        )
        state = build(writer)
        key = record_key(POSITION_KEY, group.name)
        self.producer.produce(offsets_topic(self.settings.kafka), key, state.to_json(), 0)
        self.crash("cdc.after_produce")
        self.producer.commit()
        self.context.commit(state)
        self._count_paths(writer)
        if self._store is not None:
            self._store.commit_pending()
        self.crash("cdc.after_commit")
        if self.observer is not None:
            self.observer(state, self.context.newest)

    def _count_paths(self, writer: UnitWriter) -> None:
        """Count a committed transaction's units by encoding path (an aborted one counts
        when it is written again)."""
        if writer.bulk_units and not self.bulk_pieces:
            logger.info("large units of work are encoded a column at a time (bulk_min_rows)")
        self.bulk_pieces += writer.bulk_units
        for reason, count in writer.declined.items():
            if reason not in self.declined:
                logger.info("a large unit of work is written event by event: %s", reason)
            self.declined[reason] = self.declined.get(reason, 0) + count

    def commit_moved(self) -> None:
        """Commit a position that only moved forward (nothing to publish), if it did."""
        context = self.context
        if context.state != context.committed:
            self.begin()
            self.commit(lambda _w: replace(context.state, published_ms=now_ms()))
