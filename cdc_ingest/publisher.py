"""The capture coordinator: committed units of work → Kafka, exactly once, across crashes.

Split the way Debezium splits a connector (`ChangeEventSourceCoordinator`): this module
runs the steps of a snapshot source (`snapshot_source`) and a streaming source
(`streaming_source`) over an offset context (`offset_context`), each step in one Kafka
transaction (`transactions`, over `transactional_producer`), and asks a small error
handler (`error_handler`) which failures are retriable.

`Publisher(settings, ...).run(until_idle=...)`:

1. creates its topics (`capture_topics`), then the transactional producer
   (transactional.id `<prefix>.cdc.<group>`, see `groups`) and calls `init_transactions()` FIRST: it
   fences any previous instance with the same id and aborts its open transaction;
2. THEN reads the last committed `CapturePosition` from `<prefix>.cdc-offsets` (read_committed,
   to the partition's end past the transactions open on it: other groups', see `offsets_log`)
   and the `_schemas` topic;
3. loops, one transaction per step: a table catching up on held changes first; else a
   snapshot chunk the main stream has reached; else the next changes of the main stream
   (`capture.max_events_per_transaction` rows), up to the LSN of a waiting snapshot chunk.
   Each writes its messages (`capture_steps`: BEGIN, events, tombstones, END, new schema
   versions) and the new position record, and commits. When a step finds nothing to do, it
   waits for the next commit on the source (`commit_watch`: at most `capture.poll_interval_ms`,
   ended within a few milliseconds of a commit where the source has a cheap change check).

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
from typing import TypeVar

from confluent_kafka import KafkaError, KafkaException

from cdc_ingest import capture_steps as steps
from cdc_ingest.capture_topics import control_topics, ensure_control_topics
from cdc_ingest.commit_watch import CommitWatch
from cdc_ingest.error_handler import KafkaFailure, is_retriable, kafka_failure
from cdc_ingest.errors import CaptureFatal, CaptureFenced
from cdc_ingest.groups import CaptureGroup, capture_group
from cdc_ingest.offset_context import OffsetContext
from cdc_ingest.positions import CapturePosition
from cdc_ingest.snapshot_source import SnapshotSource
from cdc_ingest.source import Source, open_source
from cdc_ingest.streaming_source import StreamingSource
from cdc_ingest.transactional_producer import TransactionalProducer
from cdc_ingest.transactions import Observer, Transactions
from config import Settings
from plumbing import gc_tuning
from plumbing.crash import CrashHook, no_crash
from plumbing.topics import wait_until_settled

logger = logging.getLogger(__name__)

_MIN_BACKOFF_S = 0.2
_MAX_BACKOFF_S = 5.0

T = TypeVar("T")


class Publisher:
    """One capture process (see the module docstring).

    Args:
        settings: the whole configuration.
        crash: the crash-point hook (tests); inert by default.
        observer: told about each commit (metrics, progress display).
        group: the capture group to publish (default: `capture.group`, see `groups`).
    """

    def __init__(
        self,
        settings: Settings,
        crash: CrashHook = no_crash,
        observer: Observer | None = None,
        group: CaptureGroup | None = None,
    ) -> None:
        self.settings = settings
        self.group = group = group or capture_group(settings)
        self.context = OffsetContext(settings, group)
        self.producer = TransactionalProducer(settings, group.name)
        self.tid = self.producer.tid
        self.transactions = Transactions(
            settings, self.producer, self.context, crash, observer, group=group
        )
        self.snapshots = SnapshotSource(settings, self.context, self.transactions, crash)
        self.streaming = StreamingSource(settings, self.context, self.transactions, group)
        self._source: Source | None = None
        self._watch = CommitWatch(settings.capture.poll_interval_ms / 1000)
        self._backoff = _MIN_BACKOFF_S
        self._failing: str | None = None  # the failure being retried, logged once
        self._failing_since = 0.0

    @property
    def state(self) -> CapturePosition:
        """Where the next step starts."""
        return self.context.state

    @property
    def committed(self) -> CapturePosition:
        """The position of the last committed transaction."""
        return self.context.committed

    def table_versions(self) -> dict[str, int | None]:
        """The latest value schema version of each table resolved so far."""
        codecs = self.transactions.codecs
        return {} if codecs is None else codecs.versions()

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
            gc_tuning.for_event_loop()
            while not stop.is_set():
                did = self._retrying(self._step, stop)
                if not did:
                    if until_idle:
                        # before exiting, commit a position that only moved forward
                        self._retrying(self.transactions.commit_moved, stop)
                        self._retrying(self._settle, stop)
                        return
                    self._retrying(lambda: self._watch.wait(self._source, stop), stop)
        finally:
            self._close()

    def _step(self) -> bool:
        """One step, one Kafka transaction at most; whether there was anything to do."""
        if not self.producer.is_open or self.transactions.codecs is None or self._source is None:
            self._connect()
        source = self._source
        assert source is not None
        self._watch.mark(source)  # before the reads: a commit after them ends the next wait
        self.context.refresh()
        lane = self.context.catching_up()
        if lane is not None:
            return self.streaming.catch_up(source, lane)
        chunk = self.snapshots.pending(source)
        if chunk is not None and steps.reached(self.context.state, chunk.data.lsn):
            if self.snapshots.publish(chunk):
                return True
            return self.streaming.stream(source, None)  # blocks the table whose schema was refused
        return self.streaming.stream(source, None if chunk is None else chunk.data.lsn)

    def _settle(self) -> None:
        """Wait until the last commit's markers are on every partition capture writes, so a
        read_committed reader started once `run(until_idle=True)` returns sees all of it."""
        kafka = self.settings.kafka
        codecs = self.transactions.codecs
        topics = {*(codecs.topics() if codecs else ()), *control_topics(kafka)}
        timeout = self.settings.capture.transaction_timeout_s
        if not wait_until_settled(kafka, topics, timeout):
            logger.warning(
                "the last transaction's markers were not on every partition after %d s; "
                "a read_committed reader may not see it yet", timeout
            )  # fmt: skip

    # --- failures ------------------------------------------------------------------------

    def _retrying(self, action: Callable[[], T], stop: threading.Event) -> T | bool:
        """`action()`, retried with backoff after retriable failures; False once stopped."""
        while True:
            try:
                result = action()
                self._backoff = _MIN_BACKOFF_S
                self._recovered()
                return result
            except KafkaException as exc:
                self._on_kafka_error(exc.args[0])
            except Exception as exc:
                if not is_retriable(exc):
                    raise
                self._retry_notice(exc)
                self._reconnect()
            if stop.wait(self._backoff):
                return False
            self._backoff = min(self._backoff * 2, _MAX_BACKOFF_S)

    def _on_kafka_error(self, error: KafkaError) -> None:
        error = self.producer.cause(error)  # produce() only says "fatal error"; error_cb said which
        failure = kafka_failure(error)
        if failure is KafkaFailure.FENCED:
            self.producer.drop()
            raise CaptureFenced(self.tid, error.str())
        if failure is KafkaFailure.FATAL:
            # Never re-initialise after a fatal error: a new init_transactions() would fence
            # the instance that fenced this one, and two captures would take turns.
            self.producer.drop()
            raise CaptureFatal(self.tid, error.str())
        if failure is KafkaFailure.ABORTABLE:
            logger.warning("abortable Kafka error: %s; aborting and rewinding", error.str())
            try:
                self.producer.abort()
                self._rewind()
                return
            except KafkaException as exc:
                logger.warning("abort failed (%s); recreating the producer", exc.args[0])
        else:
            logger.warning("Kafka error %s: outcome unknown; recreating the producer", error.str())
        self._reconnect()

    def _rewind(self) -> None:
        """Back to the committed position, forgetting what the aborted transaction did."""
        self.context.rewind()
        self.snapshots.forget()
        self.transactions.discard_pending()

    # --- connecting ----------------------------------------------------------------------

    def _connect(self) -> None:
        if not self.producer.is_open:
            ensure_control_topics(self.settings.kafka)
            self.producer.open()  # fences a previous instance FIRST
        self.context.load()
        self.transactions.load_schemas()
        if self._source is None:
            self._source = open_source(self.settings)
        self.snapshots.forget()
        state = self.context.state
        logger.info(
            "capture %s continues after LSN %d (seq %d), %d events published so far",
            self.tid, state.lsn, state.seq, state.events,
        )  # fmt: skip

    def _retry_notice(self, exc: Exception) -> None:
        """Log a failure once while it repeats (each retry at debug level)."""
        kind = type(exc).__name__
        if self._failing == kind:
            logger.debug("%s; retrying in %.1f s", exc, self._backoff)
            return
        if self._failing is None:
            self._failing_since = time.monotonic()
        self._failing = kind
        logger.warning("%s; retrying with backoff until it answers", exc)

    def _recovered(self) -> None:
        if self._failing is not None:
            waited = time.monotonic() - self._failing_since
            logger.info("capture goes on after %.1f s of retries", waited)
            self._failing = None

    def _reconnect(self) -> None:
        self.producer.drop()
        self.context.close()
        if self._source is not None:
            try:
                self._source.close()
            except Exception:  # a broken connection may fail to close; it is dropped anyway
                logger.debug("closing the source failed", exc_info=True)
            self._source = None
        self.transactions.reset()

    def _close(self) -> None:
        self.context.close()
        if self._source is not None:
            self._source.close()
            self._source = None
        self.producer.close()
