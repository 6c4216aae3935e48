"""One run of a reference job: read the whole extract, validate, diff against the last load,
publish new and changed records plus a tombstone per vanished key, all in one transaction.

    report = run_job(settings, job)                 # or with RunOptions(cancel=..., ...)

Crash safety, whatever the moment of a crash (kill -9 included):
- before the Kafka commit: the transaction stays open until the job's next producer runs
  `init_transactions`, which aborts it; read_committed consumers never see any of it;
- between the Kafka commit and the ledger update: the run's row is still `running`, so the
  next run does not trust the saved state; it rebuilds it from the topic (read_committed, after
  fencing) and sees, from the `offload.run_id` headers, that the crashed run committed;
- the state and the run's end are written in one SQLite transaction.
A second loader of the same job (same transactional.id) fences the first.
"""

from __future__ import annotations

import fcntl
import hashlib
import heapq
import logging
import threading
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from event_contract.codec import Codec, Encoder
from event_contract.reference_schemas import reference_key_schema, reference_value_schema
from event_contract.registry import SchemaStore, schema_id
from event_contract.schema_stores import TopicSchemaStore, store_from_settings
from plumbing.crash import CrashHook, no_crash
from reference_loader.batches import EncodedBatch, encoded_batches
from reference_loader.dataset import Recfm
from reference_loader.delta import Change, Counts, Delta, State
from reference_loader.errors import JobBusy, LoadCancelled
from reference_loader.extract import CopybookFormat, ExtractFormat, output_fields
from reference_loader.jobs import Job, avro_fields, extract_format, key_fields, resolve_source
from reference_loader.ledger import Ledger, RunEnd
from reference_loader.publisher import RunPublisher
from reference_loader.records import Reject
from reference_loader.rejects import RejectLog
from reference_loader.topic_state import read_topic_state

if TYPE_CHECKING:
    from config import Settings

logger = logging.getLogger(__name__)

CRASH_POINTS = ("reference.mid_produce", "reference.after_produce", "reference.after_commit")
"""The points `RunOptions.crash` is called with (crash tests kill the process there)."""
_CHECK_EVERY = 1000
_PROGRESS_EVERY = 50_000


class Progress(Protocol):
    """Receives a run's progress (a rich bar on a terminal, log lines otherwise)."""

    def start(self, job: str, source: Path, total: int | None) -> None:
        """The run reads `source`, of `total` records when known."""
        ...

    def advance(self, read: int) -> None:
        """`read` records were read so far."""
        ...


@dataclass(frozen=True, slots=True)
class RunOptions:
    """How to run: a stop signal, a progress sink, and a crash point for tests.

    Attributes:
        cancel: when set, the run aborts its transaction and stops (before the commit).
        progress: progress sink, or None.
        crash: called at each of `CRASH_POINTS` (`plumbing.crash`; tests only).
    """

    cancel: threading.Event | None = None
    progress: Progress | None = None
    crash: CrashHook = no_crash


@dataclass(slots=True)
class RunReport:
    """How a run ended."""

    job: str
    run_id: str
    status: str
    counts: Counts = field(default_factory=Counts)
    source: str | None = None
    source_sha256: str | None = None
    kafka_outcome: str = "none"
    reject_file: str | None = None


def reference_dir(settings: Settings) -> Path:
    """Where the ledger, the job locks and the reject files live."""
    return settings.data_dir / "reference"


def run_job(settings: Settings, job: Job, options: RunOptions | None = None) -> RunReport:
    """Run `job` once, now; see the module docstring.

    Raises:
        JobBusy: another process runs the job.
        RejectLimitExceeded: too many bad records; nothing was published.
        LoadCancelled: `options.cancel` was set before the commit; nothing was published.
        LoadFenced, KafkaUnavailable: Kafka trouble; nothing was published.
        LayoutError, JobConfigError, SourceMissing: the job cannot read its extract.
    """
    base = reference_dir(settings)
    lock = base / "locks" / f"{job.name}.lock"
    with _job_lock(lock, job.name), Ledger(base / "ledger.sqlite") as ledger:
        crashed = ledger.unfinished(job.name)
        previous = ledger.trusted_state(job.name, job.topic)
        run = _Run(settings, job, ledger, options or RunOptions())
        ledger.begin_run(run.report.run_id, job.name, job.topic)
        try:
            return run.execute(crashed, previous)
        except BaseException as exc:
            run.fail(exc)
            raise


@contextmanager
def _job_lock(path: Path, job: str) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise JobBusy(job, str(path)) from exc
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file, hex."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _expected_records(fmt: ExtractFormat, source: Path) -> int | None:
    if isinstance(fmt, CopybookFormat) and fmt.recfm is Recfm.FB:
        return source.stat().st_size // fmt.layout.record_length
    return None


def _crossed(before: int, after: int, every: int) -> bool:
    """Whether counting from `before` to `after` passed a multiple of `every`."""
    return after // every > before // every


class _Run:
    """The steps of one run; `report` is filled in as it goes."""

    def __init__(self, settings: Settings, job: Job, ledger: Ledger, options: RunOptions) -> None:
        self.settings = settings
        self.job = job
        self.ledger = ledger
        self.options = options
        run_id = uuid.uuid4().hex
        self.report = RunReport(job.name, run_id, "running")
        self.publisher = RunPublisher(settings, job.transactional_id, run_id)
        self.store: SchemaStore | None = None
        self.rejects: RejectLog | None = None

    def execute(self, crashed: list[str], previous: State | None) -> RunReport:
        job, report = self.job, self.report
        fmt = extract_format(job)
        fields = output_fields(fmt)
        keys = key_fields(job, fields)
        source = resolve_source(job)
        report.source, report.source_sha256 = str(source), file_sha256(source)
        self.ledger.set_source(report.run_id, report.source, report.source_sha256)
        self.rejects = RejectLog(
            reference_dir(self.settings) / "rejects" / f"{job.name}-{report.run_id}.jsonl",
            job.name,
            str(source),
            job.spec.max_rejects,
        )
        from plumbing.topics import ensure_topic

        partitions = self.settings.kafka.partitions
        ensure_topic(self.settings.kafka, job.topic, partitions, {"cleanup.policy": "compact"})
        with self.publisher:
            producer = self.publisher.start()
            self.store = store_from_settings(self.settings, producer)
            if isinstance(self.store, TopicSchemaStore):
                self.store.ensure_topic()
            if previous is None:
                previous = self._recover(crashed)
            key_enc, value_enc = self._encoders(keys, fields)
            if self.options.progress is not None:
                self.options.progress.start(job.name, source, _expected_records(fmt, source))
            names = [k.name for k in keys]
            batches = encoded_batches(source, fmt, names, (key_enc, value_enc))
            delta = self._publish(batches, Delta(previous), names)
            return self._finish(delta)

    def _recover(self, crashed: list[str]) -> State:
        topic_state = read_topic_state(self.settings.kafka, self.job.topic, crashed)
        resolved = {r: "committed" if r in topic_state.runs_seen else "aborted" for r in crashed}
        for run_id, outcome in resolved.items():
            logger.warning(
                "reference job %s: run %s had crashed; its transaction %s",
                self.job.name,
                run_id,
                outcome,
            )
        self.ledger.recover(
            self.job.name, self.job.topic, topic_state.state.items(), resolved, self.report.run_id
        )
        return topic_state.state

    @property
    def _schemas(self) -> SchemaStore:
        assert self.store is not None, "execute() opens the schema store first"
        return self.store

    def _encoders(self, keys: list[Any], fields: tuple[Any, ...]) -> tuple[Encoder, Encoder]:
        prefix = self.settings.kafka.topic_prefix
        key_schema = reference_key_schema(prefix, self.job.name, avro_fields(keys))
        value_schema = reference_value_schema(prefix, self.job.name, avro_fields(fields))
        if isinstance(self.store, TopicSchemaStore):
            # Registrations go through the run's transaction: they commit with its records.
            self.publisher.begin()
        key_id = self._schemas.register(f"{self.job.topic}-key", key_schema)
        value_id = self._schemas.register(f"{self.job.topic}-value", value_schema)
        if isinstance(self.store, TopicSchemaStore):
            assert (key_id, value_id) == (schema_id(key_schema), schema_id(value_schema))
        codec = Codec(self._schemas.by_id)
        return codec.encoder(key_id, key_schema), codec.encoder(value_id, value_schema)

    def _publish(self, batches: Iterator[EncodedBatch], delta: Delta, keys: list[str]) -> Delta:
        for batch in batches:
            self._publish_batch(batch, delta, keys)
        counts, topic, produce = self.report.counts, self.job.topic, self.publisher.produce
        for key in delta.deleted():
            counts.deleted += 1
            produce(topic, key, None)
        return delta

    def _publish_batch(self, batch: EncodedBatch, delta: Delta, keys: list[str]) -> None:
        """Diff and produce one batch, `_CHECK_EVERY` records at a time; its rejects (and
        duplicate keys) go to the reject log in record order."""
        numbers, counts = batch.numbers, self.report.counts
        changes, firsts = delta.offer_batch(numbers, batch.keys, batch.hashes)
        duplicates = [self._duplicate(batch, i, first, keys) for i, first in firsts.items()]
        rejects = list(heapq.merge(batch.rejects, duplicates, key=lambda r: r.number))
        for reject in rejects:
            self._reject(reject)
        published = Change.NEW, Change.CHANGED
        for start in range(0, len(numbers), _CHECK_EVERY):
            chunk = changes[start : start + _CHECK_EVERY]
            before = counts.new + counts.changed
            counts.new += chunk.count(Change.NEW)
            counts.changed += chunk.count(Change.CHANGED)
            counts.unchanged += chunk.count(Change.UNCHANGED)
            end = start + _CHECK_EVERY
            records: Iterable[tuple[bytes, bytes]]
            records = zip(batch.keys[start:end], batch.values[start:end], strict=True)
            if counts.new + counts.changed - before < len(chunk):
                records = (r for r, c in zip(records, chunk, strict=True) if c in published)
            self.publisher.produce_all(self.job.topic, records)
            if before < _CHECK_EVERY <= counts.new + counts.changed:
                self._checkpoint("reference.mid_produce")
            self._read(len(chunk))
        self._read(len(batch.rejects))

    def _duplicate(self, batch: EncodedBatch, index: int, first: int, keys: list[str]) -> Reject:
        record = batch.record(index)
        shown = ", ".join(f"{k}={record.values[k]!r}" for k in keys)
        reason = f"duplicate key {shown} (first in record {first})"
        return Reject(record.number, record.location, keys[0], reason)

    def _reject(self, reject: Reject) -> None:
        assert self.rejects is not None
        self.report.counts.rejected += 1
        self.rejects.add(reject)

    def _read(self, count: int) -> None:
        """`count` more records were read: every `_CHECK_EVERY` records, stop if cancelled
        and serve delivery reports; report progress every ten times that."""
        counts, options = self.report.counts, self.options
        before, counts.read = counts.read, counts.read + count
        if counts.read // _CHECK_EVERY == before // _CHECK_EVERY:
            return
        if options.cancel is not None and options.cancel.is_set():
            raise LoadCancelled(self.job.name)
        self.publisher.poll()
        if options.progress is not None and _crossed(before, counts.read, _CHECK_EVERY * 10):
            options.progress.advance(counts.read)
        if _crossed(before, counts.read, _PROGRESS_EVERY):
            logger.debug("reference job %s: %d records read", self.job.name, counts.read)

    def _finish(self, delta: Delta) -> RunReport:
        report, counts = self.report, self.report.counts
        if self.rejects is not None:
            self.rejects.close()
            report.reject_file = self.rejects.file
        if self.options.progress is not None:
            self.options.progress.advance(counts.read)
        self._checkpoint("reference.after_produce")
        if self.options.cancel is not None and self.options.cancel.is_set():
            raise LoadCancelled(self.job.name)
        if counts.published == 0:
            self.publisher.abort()  # nothing was produced: no marker is written
            self._schemas.discard_pending()
            report.status = "unchanged"
            self.ledger.finish_run(report.run_id, self._end())
        else:
            self.publisher.commit()
            self._schemas.commit_pending()
            report.kafka_outcome = "committed"
            self._checkpoint("reference.after_commit")
            report.status = "loaded"
            self.ledger.finish_committed(
                report.run_id, self.job.name, self.job.topic, self._end(), delta.entries()
            )
        logger.info(
            "reference job %s: %s (read %d, new %d, changed %d, deleted %d, unchanged %d, "
            "rejected %d) from %s",
            self.job.name, report.status, counts.read, counts.new, counts.changed,
            counts.deleted, counts.unchanged, counts.rejected, report.source,
        )  # fmt: skip
        return report

    def _end(self, error: str | None = None) -> RunEnd:
        r = self.report
        return RunEnd(r.status, r.counts, r.kafka_outcome, r.reject_file, error)

    def fail(self, exc: BaseException) -> None:
        """Record a run that raised: nothing of it is visible (its transaction aborted)."""
        report = self.report
        if report.kafka_outcome == "committed":
            return  # only the ledger write failed: the next run recovers from the topic
        self.publisher.abort()
        if self.store is not None:
            self.store.discard_pending()
        if self.rejects is not None:
            self.rejects.close()
            report.reject_file = self.rejects.file
        report.status = "cancelled" if isinstance(exc, LoadCancelled) else "failed"
        report.kafka_outcome = "aborted" if self.publisher.producer is not None else "none"
        self.ledger.finish_run(report.run_id, self._end(str(exc) or type(exc).__name__))

    def _checkpoint(self, name: str) -> None:
        self.options.crash(name)
