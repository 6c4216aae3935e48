"""Composition of a projection: database, schema store, writer, consumer, read store.

The entry points (`offload project ...`, and a process that also serves the query API) open a
`Projection` and take what they need from it; nothing here reads the environment.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import duckdb

from config import Settings
from event_contract.codec import Codec
from event_contract.registry import SchemaStore
from projections.applier import Hook
from projections.consumer import ProjectionConsumer
from projections.deadletters import DeadLetters
from projections.decoder import RecordDecoder
from projections.metrics import ProjectionMetrics
from projections.status import STATUS_FILE, collect, write_file
from projections.store import open_database, read_watermark
from projections.topology import discover
from projections.writer import ProjectionWriter

logger = logging.getLogger(__name__)


@dataclass
class Projection:
    """An open projection database with its writer.

    Attributes:
        settings: the configuration.
        con: the writer's DuckDB connection.
        writer: the batch writer.
        store: the schema store.
        metrics: the writer's Prometheus metrics (`metrics.registry`).
    """

    settings: Settings
    con: duckdb.DuckDBPyConnection
    writer: ProjectionWriter
    store: SchemaStore
    metrics: ProjectionMetrics
    _status_at: float = field(default=0.0, repr=False)
    _status_stale: bool = field(default=False, repr=False)

    def decoder(self) -> RecordDecoder:
        """A decoder of every topic the schema store knows now (mirrors created as needed)."""
        s = self.settings
        topology = discover(self.store, s.kafka.topic_prefix, s.projections.reference_topics)
        self.writer.ensure(topology.specs())
        return RecordDecoder(Codec(self.store.by_id), topology)

    def consumer(self) -> ProjectionConsumer:
        """The Kafka loop of this projection; it writes `status.json` as it commits."""
        return ProjectionConsumer(
            self.settings, self.writer, self.store, self._committed, self._between_batches
        )

    def write_status(self, consumer: ProjectionConsumer | None = None) -> None:
        """Write `status.json` beside the database (and set the lag gauges)."""
        head = None if consumer is None else consumer.head
        figures = collect(self.con, head, self.metrics.events_per_second())
        mark = read_watermark(self.con)
        mark_s = None if mark.commit_time is None else _epoch_s(mark.commit_time)
        self.metrics.lag(mark.lsn, mark_s, None if head is None else (head[0], head[1] / 1000))
        path = self.settings.projections_path.parent / STATUS_FILE
        write_file(path, figures)
        self._status_at = time.monotonic()

    def _committed(self, consumer: ProjectionConsumer) -> None:
        """After a batch: the status file, at most once a second (the skipped write is owed)."""
        if time.monotonic() - self._status_at >= 1.0:
            self.write_status(consumer)
        else:
            self._status_stale = True

    def _between_batches(self, consumer: ProjectionConsumer) -> None:
        """The status write owed since the last batch, once its second has passed (an idle
        writer's file would otherwise stay behind its database for good)."""
        if self._status_stale and time.monotonic() - self._status_at >= 1.0:
            self._status_stale = False
            self.write_status(consumer)


@contextmanager
def open_projection(
    settings: Settings, hook: Hook | None = None, dead_letters: bool = True
) -> Iterator[Projection]:
    """Open the projection database (creating it), the schema store and the writer.

    Args:
        settings: the configuration.
        hook: crash-point hook (tests), or None.
        dead_letters: copy error rows to `<prefix>.dlq`.

    Raises:
        DatabaseBusy: another process holds the database.
    """
    from event_contract.schema_stores import store_from_settings

    con = open_database(settings.projections_path, settings.projections.duckdb_memory_limit)
    try:
        metrics = ProjectionMetrics()
        dlq = DeadLetters(settings.kafka) if dead_letters else None
        kwargs: dict[str, Any] = {} if hook is None else {"hook": hook}
        writer = ProjectionWriter(con, settings, dead_letters=dlq, metrics=metrics, **kwargs)
        yield Projection(settings, con, writer, store_from_settings(settings), metrics)
        if dlq is not None:
            dlq.close()
    finally:
        con.close()


def _epoch_s(moment: datetime) -> float:
    return (moment - datetime(1970, 1, 1)).total_seconds()
