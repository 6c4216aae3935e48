"""The Kafka loop: read every topic of the topology, assemble units of work, apply in batches.

`ProjectionConsumer` runs the loop and composes its parts, each a module of its own:

- `assignment`: the one read_committed consumer, assigned every partition of the change
  topics, the transaction topic and the reference topics at the positions stored in
  `_offload.positions` (group offsets are never used), and paused or resumed.
- `dispatcher`: each record decoded and routed to the assembler (units of work), the next
  batch (reference records), or the error table and the poison ledger (undecodable records).
- `stalls`: a unit of work that waits for undecodable events is applied without them once
  every partition of their table has moved past it and `stall_grace_ms` has passed.
- `batcher`: batches, each one DuckDB transaction with the positions and the watermark,
  applied on the apply thread (`pipeline.ApplyWorker`) while the loop reads on: a complete
  unit of work at once when that thread is free and no backlog waits; under backlog, up to
  `batch_max_events` events or `batch_max_ms` milliseconds.
- `flow_control`: memory stays bounded; partitions that ran ahead wait while units back up.
- `progress`: how far each partition was read, which the three above consult.

New change topics and schema versions are looked up periodically and at once when a record
needs them (`discovery.Rediscovery`; the look itself is `_rediscover`, here). Between two
batches the loop runs what other threads asked of the writer's connection (`writer_jobs`: a
replay from the console) and its `between_batches` callback (a late status file).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from config import Settings
from event_contract.codec import Codec
from event_contract.envelope import PublishedHead
from event_contract.registry import SchemaStore
from plumbing import gc_tuning
from plumbing.errors import Transient
from plumbing.kafka_errors import BrokerUnreachable
from plumbing.topics import ping
from plumbing.waiting import WaitNotice, wait_for
from projections.assembler import UnitOfWorkAssembler
from projections.assignment import PartitionAssignment
from projections.batcher import Batcher, RunSummary
from projections.decoder import RecordDecoder
from projections.discovery import Rediscovery
from projections.dispatcher import RecordDispatcher
from projections.errorlog import get_error
from projections.errors import UnknownErrorEntry
from projections.events import TxMarker
from projections.flow_control import FlowControl
from projections.mirror import MirrorSpec
from projections.pipeline import ApplyWorker
from projections.poison import PoisonLedger
from projections.progress import ReadProgress
from projections.replay import replay
from projections.stalls import StallResolver
from projections.store import read_positions, read_watermark
from projections.topology import Topology, discover, schema_ids
from projections.writer import ProjectionWriter
from projections.writer_jobs import WriterBusy, WriterJobs

logger = logging.getLogger(__name__)

_POLL_S = 0.05
_BUSY_POLL_S = 0.005
_MAX_MESSAGES = 1000
"""Messages taken per poll; a poll that returns this many leaves more waiting (a backlog)."""
_REDISCOVER_S = 10.0
_PING_S = 2.0
_WAITING_LOOK_S = 1.0
"""Seconds between looks while no change topic exists yet, or the last look failed."""


class ProjectionConsumer:
    """The long-running read loop of one projection.

    Args:
        settings: the whole configuration.
        writer: the projection writer (its database already open).
        store: the schema store (`event_contract.schema_stores.store_from_settings`).
        on_commit: called after each committed batch (status files, say).
        between_batches: called by the loop between batches, the writer's connection free.
    """

    def __init__(
        self,
        settings: Settings,
        writer: ProjectionWriter,
        store: SchemaStore,
        on_commit: Callable[[ProjectionConsumer], None] | None = None,
        between_batches: Callable[[ProjectionConsumer], None] | None = None,
    ) -> None:
        self._settings = settings
        self._p = p = settings.projections
        self._writer = writer
        self._store = store
        self._codec = Codec(store.by_id)
        self.topology = Topology(settings.kafka.topic("transaction"), {}, {})
        applied = read_watermark(writer.con).uow_lsn
        self.assembler = UnitOfWorkAssembler(
            self.topology.tx_topic, applied, writer.stage, p.stage_threshold
        )
        self.poison = PoisonLedger()
        self._progress = ReadProgress()
        self._worker = ApplyWorker()
        self.jobs = WriterJobs()
        self._between = between_batches
        committed = None if on_commit is None else (lambda: on_commit(self))
        self._batcher = Batcher(p, writer, self.assembler, self._worker, committed)
        self.summary: RunSummary = self._batcher.summary
        decoder = RecordDecoder(self._codec, self.topology)
        self._dispatcher = RecordDispatcher(
            decoder, self.assembler, self.poison, self._progress, self._batcher, lookout=self
        )
        self._stalls = StallResolver(p.stall_grace_ms, self.assembler, self.poison, self._progress)
        self._flow = FlowControl(p.max_held_events, self.assembler, self._progress)
        self._partitions = PartitionAssignment(settings.kafka)
        self._discovery = Rediscovery(_REDISCOVER_S)
        self.head: tuple[int, int] | None = None
        self._published = PublishedHead()
        """The newest (LSN, commit ms) seen in an END marker: how far the source published."""
        self._ensured: list[MirrorSpec] | None = None
        self._topics_notice = WaitNotice(logger)
        self._kafka_notice = WaitNotice(logger)

    def run(self, stop: threading.Event, until_idle: bool = False) -> RunSummary:
        """Consume and apply until `stop` is set (or, with `until_idle`, all is applied).

        The batch in progress is applied before returning. A long-running loop (not
        `until_idle`) started before the broker answers waits for it, saying so once; one
        started before capture has created the topics waits for them in the loop.
        """
        started = time.monotonic()
        self._discovery = Rediscovery(None if until_idle else _REDISCOVER_S)
        with self._partitions:
            try:
                if until_idle:
                    self._rediscover()
                else:
                    where = self._settings.kafka.bootstrap_servers
                    what = f"the Kafka cluster at {where} (kafka.bootstrap_servers)"
                    wait_for(self._first_look, what, stop, logger)
                if not stop.is_set():
                    self._writer.deliver_dead_letters()
                    gc_tuning.for_event_loop()
                    self._loop(stop, until_idle)
                self._batcher.apply(wait=True)
            finally:
                self.jobs.close()
                self._worker.wait()
        self.summary.seconds = time.monotonic() - started
        self.summary.lsn = read_watermark(self._writer.con).lsn
        return self.summary

    def schema_seen(self, schema_id: int) -> None:
        """A record carries `schema_id` (the dispatcher's `Lookout`): look now if it is new."""
        if self._discovery.schema_seen(schema_id, time.monotonic()):
            self._rediscover()

    def marker_read(self, marker: TxMarker) -> None:
        """A marker was read (the dispatcher's `Lookout`): ask for a look when it counts
        events of a table whose topic is not read; an END tells how far the source published."""
        for table in marker.counts or ():
            if not self._discovery.reads(table):
                self._discovery.table_named(table, time.monotonic())
        if marker.status != "END":
            return
        self._published.end(
            marker.uow_id, marker.commit_lsn, marker.commit_ms, marker.part, marker.parts
        )
        head = self._published.head
        if head is not None and (self.head is None or head[0] > self.head[0]):
            self.head = head
            self._writer.signal.published(*head)

    def _loop(self, stop: threading.Event, until_idle: bool) -> None:
        idle_since: float | None = None
        while not stop.is_set():
            polled = self._poll()
            now = time.monotonic()
            self._worker.check()
            if self._discovery.due(now):
                self._rediscover_or_wait(now)
            assigned = self._partitions.assigned
            self._batcher.add_errors(
                self._stalls.resolve(now, self.topology, assigned, self._discovery)
            )
            self._batcher.collect(now, backlog=polled >= _MAX_MESSAGES)
            self._flow_control()
            self._between_batches()
            if until_idle:
                idle_since = self._idle_since(idle_since, now)
                if idle_since is not None and now - idle_since >= self._p.idle_ms / 1000:
                    return

    def replay_entry(self, entry_id: int, timeout_s: float = 30.0) -> dict[str, Any]:
        """Replay one error-table entry between two batches (the console's admin action).

        Returns:
            `{"entry_id", "outcome", "reason"}`: outcome as `replay.ReplayOutcome` has it, or
            "unknown" (no such entry) or "busy" (the loop did not take it within `timeout_s`).
        """

        def work() -> dict[str, Any]:
            entry = get_error(self._writer.con, entry_id)
            [done] = replay(self._writer, self._dispatcher.decoder, [entry])
            return {"entry_id": entry_id, "outcome": done.outcome, "reason": done.reason}

        try:
            answer: dict[str, Any] = self.jobs.submit(work, timeout_s)
        except UnknownErrorEntry as exc:
            return {"entry_id": entry_id, "outcome": "unknown", "reason": str(exc)}
        except WriterBusy as exc:
            return {"entry_id": entry_id, "outcome": "busy", "reason": str(exc)}
        logger.info("error entry %d replayed from the console: %s", entry_id, answer["outcome"])
        return answer

    def _between_batches(self) -> None:
        """Run the jobs other threads queued and the callback, while no batch is applied."""
        if self._worker.busy or not (self.jobs.pending or self._between):
            return
        self._worker.wait()
        self.jobs.run_pending()
        if self._between is not None:
            self._between(self)

    def _first_look(self) -> None:
        """Rediscover, after a quick check that a broker answers (a long-running loop
        started before the broker waits for it without 30 s client timeouts)."""
        kafka = self._settings.kafka
        if not ping(kafka, timeout=_PING_S):
            raise BrokerUnreachable(kafka.bootstrap_servers, _PING_S)
        self._rediscover()

    def _rediscover_or_wait(self, now: float) -> None:
        """Look again; while the cluster does not answer, say so once and look again soon."""
        try:
            self._rediscover()
        except Exception as exc:
            if not isinstance(exc, Transient):
                raise
            where = self._settings.kafka.bootstrap_servers
            self._kafka_notice.waiting_for(f"the Kafka cluster at {where}", str(exc))
            self._discovery.retry_in(now, _WAITING_LOOK_S)
            return
        self._kafka_notice.done()

    def _rediscover(self) -> None:
        self._worker.wait()  # the apply thread owns the connection while it applies
        load = getattr(self._store, "load", None)
        if callable(load) and self._partitions.assigned:
            load()
        prefix = self._settings.kafka.topic_prefix
        self.topology = discover(self._store, prefix, self._p.reference_topics)
        self._dispatcher.decoder = RecordDecoder(self._codec, self.topology)
        specs = self.topology.specs()
        if specs != self._ensured:  # mirrors and views change only with the specs
            for name in self._writer.ensure(specs):
                logger.info("view %s built", name)
            self._ensured = specs
        topics = self.topology.topics()
        self._partitions.assign_new(topics, read_positions(self._writer.con))
        tables = [spec.source_name for spec in self.topology.change.values()]
        self._discovery.known(tables, schema_ids(self._store, topics))
        now = time.monotonic()
        self._discovery.done(now)
        if self.topology.change:
            self._topics_notice.done()
            return
        self._topics_notice.waiting_for(
            f"the change topics of prefix {prefix} (capture registers them in "
            f"{prefix}._schemas when it starts)"
        )
        self._discovery.retry_in(now, _WAITING_LOOK_S)

    def _poll(self) -> int:
        """Dispatch the messages waiting (up to `_MAX_MESSAGES`), waiting for one if none does.

        librdkafka's consume(n, timeout) returns only once it holds n messages or the timeout
        has passed, so the wait is for one message alone: the loop wakes at the first record
        and then takes, without waiting, whatever else has arrived.
        """
        consume = self._partitions.consume
        messages = consume(_MAX_MESSAGES, 0.0)
        # Do not wait for more records while complete units of work wait to be applied.
        timeout = _POLL_S
        if self._worker.busy:
            timeout = _BUSY_POLL_S
        elif self.assembler.head_complete:
            timeout = 0.0
        if not messages and timeout > 0:
            messages = consume(1, timeout)
            if messages:
                messages += consume(_MAX_MESSAGES - 1, 0.0)
        self._dispatcher.dispatch_all(messages)
        return len(messages)

    def _flow_control(self) -> None:
        held = self.assembler.held_events
        self._writer.metrics.held.set(held)
        wanted = self._flow.paused(held, self.topology, self._partitions.assigned)
        if self._partitions.pause_only(wanted):
            self._writer.metrics.paused.set(len(wanted))

    def _idle_since(self, since: float | None, now: float) -> float | None:
        """When the loop became idle: every partition at its end, nothing left to apply."""
        caught_up = self._progress.at_end(self._partitions.assigned)
        busy = self._batcher.pending or self.assembler.head_complete or self._worker.busy
        busy = busy or self.assembler.stall() is not None
        if not caught_up or busy:
            return None
        return now if since is None else since
