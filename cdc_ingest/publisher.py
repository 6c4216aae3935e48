"""The transactional publisher: committed units of work → Kafka, exactly once, across crashes.

`Publisher(settings, ...).run(until_idle=...)`:

1. creates its topics (`capture_topics`), then the transactional producer
   (transactional.id `<prefix>.cdc.<capture.group>`) and calls `init_transactions()` FIRST: it
   fences any previous instance with the same id and aborts its open transaction;
2. THEN reads the last committed `CapturePosition` from `<prefix>.cdc-offsets` (read_committed,
   up to the high watermark) and the `_schemas` topic;
3. loops: read a bounded batch from the source (`capture.max_events_per_transaction` rows),
   begin a transaction, write its messages (`capture_steps`: BEGIN, events, tombstones, END,
   new schema versions) and the new position record, commit.

librdkafka's error classes: an abortable error (`txn_requires_abort()`) aborts, rewinds to the
last committed position and retries; a fatal one (being fenced included) raises
`CaptureFenced`/`CaptureFatal` and nothing more is written; anything else on commit or abort
(a timeout: the outcome is unknown) recreates the producer, calls `init_transactions()` again
and re-reads the committed position. An unreachable broker or source is retried with
backoff (logged) until it answers again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Producer

from cdc_ingest import capture_steps as steps
from cdc_ingest.capture_topics import ensure_change_topics, ensure_control_topics
from cdc_ingest.crash import CrashHook, no_crash
from cdc_ingest.errors import CaptureFatal, CaptureFenced, CdcError
from cdc_ingest.offsets_log import OffsetsLog, OperatorFeed, offsets_topic, read_log
from cdc_ingest.positions import (
    POSITION_KEY,
    CapturePosition,
    SnapshotProgress,
    TableState,
    record_key,
)
from cdc_ingest.source import Position, Source, open_source
from cdc_ingest.table_codecs import Refusal, TableCodecs
from cdc_ingest.unit_writer import UnitWriter
from config import Settings
from event_contract.envelope import SourceInfo
from event_contract.schema_stores import TopicSchemaStore, store_from_settings
from plumbing.errors import Transient

logger = logging.getLogger(__name__)

_FENCED = {KafkaError._FENCED, KafkaError.INVALID_PRODUCER_EPOCH}
_FENCED_NAMES = ("PRODUCER_FENCED", "FENCED_INSTANCE_ID")
_MAX_BACKOFF_S = 5.0
_IDLE_COMMIT_S = 5.0

Observer = Callable[[CapturePosition, int], None]
"""Called after each commit with the committed position and the source's newest LSN."""


def transactional_id(settings: Settings) -> str:
    """The producer's transactional.id: one per topic prefix and capture group."""
    return f"{settings.kafka.topic_prefix}.cdc.{settings.capture.group}"


def producer_config(settings: Settings) -> dict[str, Any]:
    """librdkafka settings of the transactional producer (sized for throughput)."""
    return {
        **settings.kafka.client_config(),
        "transactional.id": transactional_id(settings),
        "enable.idempotence": True,
        "acks": "all",
        "partitioner": "murmur2_random",
        "linger.ms": 20,
        "batch.size": 1_000_000,
        "batch.num.messages": 10_000,
        "queue.buffering.max.messages": 1_000_000,
        "queue.buffering.max.kbytes": 1_048_576,
        "transaction.timeout.ms": 60_000,
        "log_level": 3,
    }


class Publisher:
    """One capture process (see the module docstring).

    Args:
        settings: the whole configuration.
        crash: the crash-point hook (tests); inert by default.
        observer: told about each commit (metrics, progress display).
    """

    def __init__(
        self, settings: Settings, crash: CrashHook = no_crash, observer: Observer | None = None
    ) -> None:
        self.settings = settings
        self.crash = crash
        self.observer = observer
        self.tid = transactional_id(settings)
        self.state = CapturePosition()
        self.committed = CapturePosition()
        self._producer: Any = None
        self._source: Source | None = None
        self._store: TopicSchemaStore | Any = None
        self._codecs: TableCodecs | None = None
        self._chunk: steps.Chunk | None = None
        self._operator = OffsetsLog()
        self._feed: OperatorFeed | None = None
        self._fatal: KafkaError | None = None
        self._operator_read = 0.0
        self._last_commit = 0.0
        self._backoff = 0.2
        self._newest = 0
        cap = settings.capture
        self._tables = None if "*" in cap.tables else [t.upper() for t in cap.tables]
        self._topic_known: set[str] = set()

    def table_versions(self) -> dict[str, int | None]:
        """The latest value schema version of each table resolved so far."""
        return {} if self._codecs is None else self._codecs.versions()

    # --- the loop ------------------------------------------------------------------------

    def run(self, until_idle: bool = False, stop: threading.Event | None = None) -> None:
        """Publish until idle (`until_idle`) or until `stop` is set; then finish and close.

        Raises:
            CaptureFenced: another instance took over.
            CaptureFatal: the producer hit a fatal error.
            CdcError: a terminal error of the source or the schemas.
        """
        stop = stop or threading.Event()
        try:
            self._retrying(self._connect, stop)
            while not stop.is_set():
                did = self._retrying(self._step, stop)
                if not did:
                    if until_idle:
                        self._retrying(self._flush_idle, stop)
                        return
                    stop.wait(self.settings.capture.poll_interval_ms / 1000)
        finally:
            self._close()

    def _retrying(self, action: Callable[[], Any], stop: threading.Event) -> Any:
        while True:
            try:
                result = action()
                self._backoff = 0.2
                return result
            except KafkaException as exc:
                self._on_kafka_error(exc.args[0])
            except CdcError as exc:
                if not isinstance(exc, Transient):
                    raise
                logger.warning("%s; retrying in %.1f s", exc, self._backoff)
                self._reconnect()
            except Exception as exc:
                if not isinstance(exc, Transient):
                    raise
                logger.warning("%s; retrying in %.1f s", exc, self._backoff)
                self._reconnect()
            if stop.wait(self._backoff):
                return False
            self._backoff = min(self._backoff * 2, _MAX_BACKOFF_S)

    def _on_kafka_error(self, error: KafkaError) -> None:
        if error.code() == KafkaError._FATAL:
            if self._fatal is None and self._producer is not None:
                try:
                    self._producer.poll(0)  # serve error_cb, which names the cause
                except KafkaException as exc:  # or poll raises the fatal error itself
                    self._fatal = exc.args[0]
            if self._fatal is not None:
                error = self._fatal  # produce() only says "fatal error"; error_cb said which
        if error.code() in _FENCED or error.name() in _FENCED_NAMES:
            self._drop_producer()
            raise CaptureFenced(self.tid, error.str())
        if error.fatal() or error.code() == KafkaError._FATAL:
            # Never re-initialise after a fatal error: a new init_transactions() would fence
            # the instance that fenced this one, and two captures would take turns.
            self._drop_producer()
            raise CaptureFatal(self.tid, error.str())
        if error.txn_requires_abort():
            logger.warning("abortable Kafka error: %s; aborting and rewinding", error.str())
            try:
                self._producer.abort_transaction(30)
                self._rewind()
                return
            except KafkaException as exc:
                logger.warning("abort failed (%s); recreating the producer", exc.args[0])
        else:
            logger.warning("Kafka error %s: outcome unknown; recreating the producer", error.str())
        self._reconnect()

    # --- connecting ----------------------------------------------------------------------

    def _connect(self) -> None:
        kafka = self.settings.kafka
        if self._producer is None:
            ensure_control_topics(kafka)
            self._fatal = None
            producer = Producer({**producer_config(self.settings), "error_cb": self._client_error})
            self._producer = producer
            producer.init_transactions(30)  # fences a previous instance FIRST
        log = read_log(kafka, self.settings.capture.group)
        self.state = self.committed = log.position or CapturePosition()
        self._operator = log
        self._operator_read = time.monotonic()
        self._close_feed()
        self._feed = OperatorFeed(kafka, self.settings.capture.group, log)
        store = store_from_settings(self.settings, self._producer)
        if isinstance(store, TopicSchemaStore):
            store.load()
        self._store = store
        self._codecs = TableCodecs(store, kafka)
        if self._source is None:
            self._source = open_source(self.settings)
        self._chunk = None
        logger.info(
            "capture %s continues after LSN %d (seq %d), %d events published so far",
            self.tid, self.state.lsn, self.state.seq, self.state.events,
        )  # fmt: skip

    def _client_error(self, error: KafkaError) -> None:
        """librdkafka's error callback: remember a fatal error (it names the cause)."""
        if error.fatal():
            self._fatal = error
        logger.debug("Kafka client error: %s", error.str())

    def _reconnect(self) -> None:
        self._drop_producer()
        self._close_feed()
        if self._source is not None:
            try:
                self._source.close()
            except Exception:  # a broken connection may fail to close; it is dropped anyway
                logger.debug("closing the source failed", exc_info=True)
            self._source = None
        self._codecs = None

    def _drop_producer(self) -> None:
        if self._producer is not None:
            try:
                self._producer.purge(in_queue=True, in_flight=True, blocking=False)
            except KafkaException:
                logger.debug("purging the old producer failed", exc_info=True)
            self._producer = None

    def _rewind(self) -> None:
        self.state = self.committed
        self._chunk = None
        if isinstance(self._store, TopicSchemaStore):
            self._store.discard_pending()
        if self._codecs is not None:
            self._codecs.reset()

    def _close(self) -> None:
        self._close_feed()
        if self._source is not None:
            self._source.close()
            self._source = None
        if self._producer is not None:
            self._producer.flush(10)
            self._producer = None

    # --- one step: one Kafka transaction at most ------------------------------------------

    def _step(self) -> bool:
        if self._producer is None or self._codecs is None or self._source is None:
            self._connect()
        self._refresh_operator()
        lane = next((n for n, t in self.state.tables.items() if t.status == "catching_up"), None)
        if lane is not None:
            return self._catch_up(lane)
        if self._chunk is None:
            self._read_chunk()
        chunk = self._chunk
        if chunk is not None and steps.reached(self.state, chunk.data.lsn):
            self._chunk = None
            assert self._codecs is not None
            self._begin()
            codec = self._codecs.resolve(chunk.data.table, self._accepted().get(chunk.table))
            if isinstance(codec, Refusal):  # the next main step blocks the table
                self._producer.abort_transaction(30)
                self._rewind_codecs_if_pending()
                return self._main(None)
            self._finish(lambda w: steps.write_chunk(w, self.state, chunk))
            if chunk.table in self.state.snapshots:
                self.crash("cdc.mid_snapshot")
            return True
        return self._main(None if chunk is None else chunk.data.lsn)

    def _main(self, bound: int | None) -> bool:
        assert self._source is not None and self._codecs is not None
        max_rows = self.settings.capture.max_events_per_transaction
        after = Position(self.state.lsn, self.state.seq)
        batch = self._source.read_changes(after, max_rows, self._tables)
        self._newest = batch.newest_lsn
        units, position, last_complete = steps.cut_at(batch, bound)
        new_tables = [t for t in batch.tables if t not in self._topic_known]
        if new_tables:
            ensure_change_topics(self.settings.kafka, new_tables)
            self._topic_known.update(new_tables)
        before = self.state
        start = self._start_tables(before, batch.tables)
        self._begin()
        state = steps.check_tables(start, batch, self._codecs, self._accepted())
        if not units and state == before:
            self._producer.abort_transaction(30)
            self._rewind_codecs_if_pending()
            self.state = replace(state, lsn=position.lsn, seq=position.seq)
            return bound is not None and steps.reached(self.state, bound)
        self._finish(lambda w: steps.write_changes(w, state, units, position, last_complete))
        return True

    def _catch_up(self, name: str) -> bool:
        assert self._source is not None and self._codecs is not None
        max_rows = self.settings.capture.max_events_per_transaction
        held = self.state.tables[name].held_after or (0, 0)
        batch = self._source.read_changes(Position(*held), max_rows, [name])
        self._begin()
        state = steps.check_tables(self.state, batch, self._codecs, self._accepted())
        if state.tables[name].status == "blocked":
            self._finish(lambda _w: state)
            return True
        self._finish(lambda w: steps.write_catch_up(w, state, name, batch, max_rows))
        return True

    def _read_chunk(self) -> None:
        assert self._source is not None
        for name, progress in self.state.snapshots.items():
            table = self.state.tables.get(name)
            if table is not None and table.status != "running":
                continue
            size = self.settings.capture.snapshot_chunk_rows
            data = self._source.read_chunk(name, progress.last_key, size + 1)
            self._chunk = steps.Chunk(name, data, size, len(data.rows) <= size)
            return

    def _start_tables(self, state: CapturePosition, tables: Any) -> CapturePosition:
        """Snapshot new tables whose capture history does not give their rows (they held rows
        when registered, or their CD table was pruned), and tables with a new `cdc snapshot`
        request."""
        assert self._source is not None
        snapshots = dict(state.snapshots)
        result = state
        new = [name for name in tables if name not in state.tables]
        needs = {r.table for r in self._source.registrations() if r.needs_snapshot} if new else ()
        for name in tables:
            known = state.tables.get(name)
            requested = self._operator.snapshot_requests.get(name, 0)
            if known is None:
                wanted = name in needs or requested > 0
                if wanted and self._source.read_chunk(name, None, 1).rows:
                    snapshots[name] = SnapshotProgress()
                    logger.info("table %s: snapshot it (held rows when registered, or asked)", name)
                result = result.with_table(name, TableState(snapshot_ms=requested))
            elif requested > known.snapshot_ms:
                snapshots[name] = SnapshotProgress()
                result = result.with_table(name, replace(known, snapshot_ms=requested))
                logger.info("table %s: snapshot requested", name)
        return replace(result, snapshots=snapshots)

    def _accepted(self) -> dict[str, int]:
        return {name: d.schema_id for name, d in self._operator.decisions.items()}

    def _refresh_operator(self) -> None:
        if time.monotonic() - self._operator_read < self.settings.capture.operator_poll_s:
            return
        if self._feed is not None:
            self._operator = self._feed.poll()
        self._operator_read = time.monotonic()

    def _close_feed(self) -> None:
        if self._feed is not None:
            self._feed.close()
            self._feed = None

    # --- transactions --------------------------------------------------------------------

    def _begin(self) -> None:
        self._producer.begin_transaction()

    def _transact(self, build: Callable[[UnitWriter], CapturePosition]) -> None:
        self._begin()
        self._finish(build)

    def _finish(self, build: Callable[[UnitWriter], CapturePosition]) -> None:
        """Write the step's messages and the new position in the open transaction; commit."""
        assert self._codecs is not None
        producer = self._producer
        produce, poll = producer.produce, producer.poll

        def emit(topic: str, key: bytes, value: bytes | None) -> None:
            while True:
                try:
                    produce(topic, value, key)
                    return
                except BufferError:
                    poll(0.05)

        source_info = SourceInfo(self.settings.kafka.topic_prefix, self.settings.sor_path.stem)
        state = build(UnitWriter(self._codecs, source_info, emit))
        key = record_key(POSITION_KEY, self.settings.capture.group)
        producer.produce(offsets_topic(self.settings.kafka), state.to_json(), key, partition=0)
        self.crash("cdc.after_produce")
        producer.commit_transaction(60)
        self.state = self.committed = state
        if isinstance(self._store, TopicSchemaStore):
            self._store.commit_pending()
        self._last_commit = time.monotonic()
        self.crash("cdc.after_commit")
        if self.observer is not None:
            self.observer(state, self._newest)

    def _rewind_codecs_if_pending(self) -> None:
        if isinstance(self._store, TopicSchemaStore):
            self._store.discard_pending()
        if self._codecs is not None:
            self._codecs.reset()

    def _flush_idle(self) -> None:
        """Before exiting `--until-idle`, commit a position that only moved forward."""
        if self.state != self.committed:
            self._transact(lambda _w: replace(self.state, published_ms=steps.now_ms()))
