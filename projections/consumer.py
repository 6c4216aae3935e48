"""The Kafka loop: read every topic of the topology, assemble units of work, apply in batches.

One `confluent_kafka.Consumer` with `isolation.level=read_committed` and no commits is
`assign()`ed every partition of the change topics, the transaction topic and the reference
topics, each seeked to the position stored in `_offload.positions` (the beginning when none):
group offsets are never used. Records are decoded (`RecordDecoder`), fed to the assembler
(units of work) or kept for the next batch (reference records), and complete units are applied
in batches of up to `batch_max_events` events or `batch_max_ms` milliseconds, each batch one
DuckDB transaction with the positions and the watermark, run on the apply thread
(`pipeline.ApplyWorker`) while the loop reads on. New change topics and schema versions are
looked up periodically and at once when a record needs them (`discovery.Rediscovery`).

Memory stays bounded: past `max_held_events` events waiting for their unit of work, every
change partition that ran ahead of the oldest waiting unit (its last event's LSN is above that
unit's) is paused until the backlog drains; the transaction topic is paused when too many units
wait; units larger than `stage_threshold` spill to the DuckDB stage.

An undecodable record never stops the loop (`PoisonLedger`): it goes to the error table with
the next batch, and the unit of work it belonged to, which would otherwise wait for it forever,
is applied without it once every partition of its table has moved past the unit's LSN (or was
read to its end after the unit's END marker) and `stall_grace_ms` has passed.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Message, TopicPartition

from config import Settings
from event_contract.codec import Codec
from plumbing.kafka_errors import KafkaUnavailable
from projections.assembler import AssembledUnit, Partition, UnitOfWorkAssembler
from projections.decoder import RawRecord, RecordDecoder
from projections.discovery import Rediscovery
from projections.errorlog import ErrorRecord
from projections.errors import DecodeFailure
from projections.events import ChangeEvent, TxMarker
from projections.pipeline import ApplyWorker
from projections.poison import PoisonLedger
from projections.store import read_positions, read_watermark
from projections.topology import Topology, discover
from projections.writer import ProjectionWriter

logger = logging.getLogger(__name__)

_POLL_S = 0.05
_BUSY_POLL_S = 0.005
_REDISCOVER_S = 10.0
_MAX_QUEUED_UNITS = 100_000


@dataclass(slots=True)
class RunSummary:
    """What one run did.

    Attributes:
        batches: batches committed.
        units: units of work applied.
        events: events applied (change and reference).
        errors: records sent to the error table.
        seconds: wall time of the run.
        lsn: the watermark at the end.
    """

    batches: int = 0
    units: int = 0
    events: int = 0
    errors: int = 0
    seconds: float = 0.0
    lsn: int = 0


@dataclass(slots=True)
class _Batch:
    units: list[AssembledUnit] = field(default_factory=list)
    references: list[ChangeEvent] = field(default_factory=list)
    errors: list[ErrorRecord] = field(default_factory=list)
    events: int = 0
    started: float = 0.0
    dirty: bool = False

    def __bool__(self) -> bool:
        return bool(self.units or self.references or self.errors or self.dirty)


class ProjectionConsumer:
    """The long-running read loop of one projection.

    Args:
        settings: the whole configuration.
        writer: the projection writer (its database already open).
        store: the schema store (`event_contract.schema_stores.store_from_settings`).
        on_commit: called after each committed batch (status files, say).
    """

    def __init__(
        self,
        settings: Settings,
        writer: ProjectionWriter,
        store: object,
        on_commit: Callable[[ProjectionConsumer], None] | None = None,
    ) -> None:
        self._settings = settings
        self._p = settings.projections
        self._writer = writer
        self._store = store
        self._on_commit = on_commit
        self._codec = Codec(store.by_id)  # type: ignore[attr-defined]
        self.topology = Topology(settings.kafka.topic("transaction"), {}, {})
        self._decoder = RecordDecoder(self._codec, self.topology)
        mark = read_watermark(writer.con)
        self.assembler = UnitOfWorkAssembler(
            self.topology.tx_topic, mark.uow_lsn, writer.stage, self._p.stage_threshold
        )
        self.poison = PoisonLedger()
        self.summary = RunSummary()
        self._consumer: Consumer | None = None
        self._assigned: set[Partition] = set()
        self._paused: set[Partition] = set()
        self._ref_positions: dict[Partition, int] = {}
        self._eof: dict[Partition, int] = {}
        self._last_lsn: dict[Partition, int] = {}
        self._end_seen: dict[str, int] = {}
        self._seq = 0
        self._batch = _Batch()
        self._stall: tuple[str, float] | None = None
        self._last_sweep = 0.0
        self._discovery = Rediscovery(_REDISCOVER_S)
        self._worker = ApplyWorker()
        self.head: tuple[int, int] | None = None
        """The newest (LSN, commit ms) seen in an END marker: how far the source published."""

    def run(self, stop: threading.Event, until_idle: bool = False) -> RunSummary:
        """Consume and apply until `stop` is set (or, with `until_idle`, all is applied).

        The batch in progress is applied before returning.
        """
        started = time.monotonic()
        self._consumer = Consumer(self._consumer_config())
        self._discovery = Rediscovery(None if until_idle else _REDISCOVER_S)
        try:
            self._rediscover()
            self._writer.deliver_dead_letters()
            idle_since: float | None = None
            while not stop.is_set():
                polled = self._poll()
                now = time.monotonic()
                self._worker.check()
                if self._discovery.due(now):
                    self._rediscover()
                self._resolve_stall(now)
                self._collect(now, idle=not polled)
                self._flow_control()
                if until_idle:
                    idle_since = self._idle_since(idle_since, now)
                    if idle_since is not None and now - idle_since >= self._p.idle_ms / 1000:
                        break
            self._apply(wait=True)
            self._worker.wait()
        finally:
            try:
                self._worker.wait()
            finally:
                self._consumer.close()
                self._consumer = None
        self.summary.seconds = time.monotonic() - started
        self.summary.lsn = read_watermark(self._writer.con).lsn
        return self.summary

    def _consumer_config(self) -> dict[str, object]:
        prefix = self._settings.kafka.topic_prefix
        return {
            **self._settings.kafka.client_config(),
            # Required by librdkafka even with assign(); nothing is ever committed to it.
            "group.id": f"{prefix}.projection.{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "isolation.level": "read_committed",
            "enable.partition.eof": True,
            "auto.offset.reset": "earliest",
            "queued.max.messages.kbytes": 16384,
            "fetch.max.bytes": 16 * 1024 * 1024,
        }

    # -- topics -----------------------------------------------------------------------

    def _rediscover(self) -> None:
        self._worker.wait()  # the apply thread owns the connection while it applies
        load = getattr(self._store, "load", None)
        if callable(load) and self._assigned:
            load()
        found = discover(self._store, self._settings.kafka.topic_prefix, self._p.reference_topics)  # type: ignore[arg-type]
        self.topology = Topology(found.tx_topic, found.change, found.reference)
        self._decoder = RecordDecoder(self._codec, self.topology)
        built = self._writer.ensure(self.topology.specs())
        for name in built:
            logger.info("view %s built", name)
        self._assign_new()
        tables = [spec.source_name for spec in self.topology.change.values()]
        self._discovery.known(tables, _schema_ids(self._store, self.topology.topics()))
        self._discovery.done(time.monotonic())

    def _assign_new(self) -> None:
        assert self._consumer is not None
        stored = read_positions(self._writer.con)
        try:
            metadata = self._consumer.list_topics(timeout=30)
        except Exception as exc:
            raise KafkaUnavailable("listing topics", str(exc)) from exc
        new = []
        for topic in self.topology.topics():
            meta = metadata.topics.get(topic)
            if meta is None or meta.error is not None:
                continue
            for partition in meta.partitions:
                part = (topic, partition)
                if part not in self._assigned:
                    offset = stored.get(part, OFFSET_BEGINNING)
                    new.append(TopicPartition(topic, partition, offset))
                    self._assigned.add(part)
        if new:
            self._consumer.incremental_assign(new)
            logger.info("reading %d more partitions", len(new))

    # -- records ----------------------------------------------------------------------

    def _poll(self) -> int:
        assert self._consumer is not None
        # Do not wait for more records while complete units of work wait to be applied.
        timeout = _POLL_S
        if self._worker.busy:
            timeout = _BUSY_POLL_S
        elif self.assembler.head_complete:
            timeout = 0.0
        messages = self._consumer.consume(1000, timeout)
        for message in messages:
            self._handle(message)
        return len(messages)

    def _handle(self, message: Message) -> None:
        error = message.error()
        part = (message.topic() or "", int(message.partition() or 0))
        self._seq += 1
        if error is not None:
            if error.code() == KafkaError._PARTITION_EOF:
                self._eof[part] = self._seq
                if part[0] == self.topology.tx_topic:
                    self._sweep()
                return
            if error.fatal():
                raise KafkaUnavailable(f"reading {part[0]}", str(error))
            logger.warning("consumer: %s", error)
            return
        self._eof.pop(part, None)
        record = RawRecord.of(message)
        self._batch.dirty = True
        schema_id = _schema_id(record.value)
        if schema_id is not None and self._discovery.schema_seen(schema_id, time.monotonic()):
            self._rediscover()
        try:
            item = self._decoder.decode(record)
        except DecodeFailure as exc:
            self._poisoned(record, exc.reason)
            return
        if item is None:
            self.assembler.note_consumed(part, record.offset)
        elif isinstance(item, TxMarker):
            self.assembler.add_marker(item)
            for table in item.counts or ():
                if not self._discovery.reads(table):
                    self._discovery.table_named(table, time.monotonic())
            if item.status == "END":
                self._end_seen[item.uow_id] = self._seq
                if self.head is None or item.commit_lsn > self.head[0]:
                    self.head = (item.commit_lsn, item.commit_ms)
                    self._writer.signal.published(item.commit_lsn, item.commit_ms)
        elif record.topic in self.topology.reference:
            self._batch.references.append(item)
            self._batch.events += 1
            self._ref_positions[part] = record.offset + 1
        else:
            self._last_lsn[part] = item.commit_lsn
            if self.poison:
                self.poison.observe(part, item.commit_lsn)
            self.assembler.add_event(item)

    def _poisoned(self, record: RawRecord, reason: str) -> None:
        part = (record.topic, record.partition)
        entry = record.error("decode", reason, self.topology)
        entry = _with_key(entry, self._decoder.key_text(record))
        logger.warning("error table: %s partition %d offset %d: %s", *part, record.offset, reason)
        self._batch.errors.append(entry)
        if record.topic in self.topology.reference:
            self._ref_positions[part] = record.offset + 1
            return
        self.assembler.note_consumed(part, record.offset)
        if record.topic in self.topology.change:
            self.poison.add(part, record.offset, self._last_lsn.get(part, 0), entry)

    def _sweep(self) -> None:
        now = time.monotonic()
        if now - self._last_sweep >= 1.0:
            dropped = self.assembler.sweep_orphans()
            if dropped:
                logger.info("dropped %d events of units of work applied before", dropped)
            self._last_sweep = now

    # -- stalls -----------------------------------------------------------------------

    def _resolve_stall(self, now: float) -> None:
        stall = self.assembler.stall()
        if stall is None:
            self._stall = None
            return
        if self._stall is None or self._stall[0] != stall.uow_id:
            self._stall = (stall.uow_id, now)
            return
        grace = self._p.stall_grace_ms / 1000
        if now - self._stall[1] < grace:
            return
        end_seq = self._end_seen.get(stall.uow_id, self._seq)
        for table in stall.missing:
            topic = self.topology.topic_of(table)
            if topic is None and self._discovery.last < self._stall[1] + grace:
                self._discovery.table_named(table, now)
                return
            parts = [p for p in self._assigned if p[0] == topic]
            if not all(self._passed(p, stall.commit_lsn, end_seq) for p in parts):
                return
        for table, count in stall.missing.items():
            topic = self.topology.topic_of(table)
            records = self.poison.attribute(topic, stall.commit_lsn, count)
            for record in records:
                self._batch.errors.append(_attributed(record, stall.uow_id, stall.commit_lsn))
            if len(records) < count:
                gap = count - len(records)
                self._batch.errors.append(self._missing(stall.uow_id, stall.commit_lsn, table, gap))
            self.assembler.excuse(stall.uow_id, table, count)
        logger.warning("unit of work %s applied without %s", stall.uow_id, stall.missing)
        self._stall = None

    def _passed(self, part: Partition, lsn: int, end_seq: int) -> bool:
        return self._last_lsn.get(part, -1) > lsn or self._eof.get(part, -1) > end_seq

    def _missing(self, uow_id: str, lsn: int, table: str, count: int) -> ErrorRecord:
        return ErrorRecord(
            kind="missing",
            reason=f"END announced {count} more events of {table} than arrived decodable",
            topic=self.topology.tx_topic,
            partition=0,
            offset=-lsn,
            uow_id=uow_id,
            commit_lsn=lsn,
            source_table=table,
        )

    # -- batches ----------------------------------------------------------------------

    def _collect(self, now: float, idle: bool) -> None:
        batch = self._batch
        if not batch.units and not batch.references:
            batch.started = now
        room = self._p.batch_max_events - batch.events
        if room > 0:
            for unit in self.assembler.ready(room):
                batch.units.append(unit)
                batch.events += unit.event_count
        full = batch.events >= self._p.batch_max_events
        aged = now - batch.started >= self._p.batch_max_ms / 1000
        if batch and (full or aged or (idle and (batch.units or batch.references or batch.errors))):
            self._apply()

    def _apply(self, wait: bool = False) -> None:
        """Hand the batch to the apply thread; while it is busy, unless `wait`, the batch
        goes on collecting (up to its limit) and the loop on reading."""
        if not self._batch or (self._worker.busy and not wait):
            return
        batch, self._batch = self._batch, _Batch(started=time.monotonic())
        positions = {**self.assembler.positions(), **self._ref_positions}
        self._ref_positions = {}
        self._worker.submit(lambda: self._commit(batch, positions))

    def _commit(self, batch: _Batch, positions: dict[Partition, int]) -> None:
        """Apply one batch (on the apply thread)."""
        result = self._writer.apply(batch.units, positions, batch.references, batch.errors)
        s = self.summary
        s.batches += 1
        s.units += result.units
        s.events += result.events
        s.errors += len(batch.errors)
        if self._on_commit is not None:
            self._on_commit(self)

    # -- flow control and idleness ----------------------------------------------------

    def _flow_control(self) -> None:
        assert self._consumer is not None
        held = self.assembler.held_events
        self._writer.metrics.held.set(held)
        want: set[Partition] = set()
        if held > self._p.max_held_events:
            head = self.assembler.head_lsn
            for part in self._assigned:
                if part[0] in self.topology.change:
                    last = self._last_lsn.get(part, -1)
                    if head is None or last > head:
                        want.add(part)
        if self.assembler.queued_units > _MAX_QUEUED_UNITS:
            want.add((self.topology.tx_topic, 0))
        if want != self._paused:
            pause = [TopicPartition(t, p) for t, p in want - self._paused]
            resume = [TopicPartition(t, p) for t, p in self._paused - want]
            if pause:
                self._consumer.pause(pause)
            if resume:
                self._consumer.resume(resume)
            self._paused = want
            self._writer.metrics.paused.set(len(want))

    def _idle_since(self, since: float | None, now: float) -> float | None:
        """When the loop became idle: every partition at its end, nothing left to apply."""
        caught_up = all(part in self._eof for part in self._assigned)
        batch = self._batch
        busy = batch.units or batch.references or self.assembler.head_complete or self._worker.busy
        busy = busy or self.assembler.stall() is not None
        if not caught_up or busy:
            return None
        return now if since is None else since


def _schema_id(value: bytes | None) -> int | None:
    if value is None or len(value) < 5 or value[0] != 0:
        return None
    return int.from_bytes(value[1:5], "big")


def _schema_ids(store: object, topics: list[str]) -> list[int]:
    ids = []
    for topic in topics:
        for part in ("key", "value"):
            found = store.latest(f"{topic}-{part}")  # type: ignore[attr-defined]
            if found is not None:
                ids.append(int(found.id))
    return ids


def _with_key(record: ErrorRecord, key_text: str | None) -> ErrorRecord:
    from dataclasses import replace

    return replace(record, key_text=key_text)


def _attributed(record: ErrorRecord, uow_id: str, lsn: int) -> ErrorRecord:
    from dataclasses import replace

    return replace(record, uow_id=uow_id, commit_lsn=lsn)
