"""The transactional producer of one reference job: a run is published whole or not at all.

The transactional.id is the job's (`<prefix>.reference.<name>`): `init_transactions` fences
any other live loader of the job and aborts a transaction a crashed loader left open. Records
use librdkafka's `murmur2_random` partitioner (Java-compatible), like every gateway topic,
and carry the run id in the header `offload.run_id`, so recovery can tell whether a crashed
run's transaction committed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import TYPE_CHECKING

from confluent_kafka import KafkaError, KafkaException, Producer

from plumbing.kafka_errors import KafkaUnavailable
from reference_loader.errors import LoadFenced

if TYPE_CHECKING:
    from config import Settings

logger = logging.getLogger(__name__)

RUN_HEADER = "offload.run_id"
_FENCED = {
    KafkaError._FENCED,
    KafkaError.PRODUCER_FENCED,
    KafkaError.INVALID_PRODUCER_EPOCH,
    KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
}


class RunPublisher:
    """Produces one run's records in one Kafka transaction.

    Args:
        settings: the cluster and the transaction timeout.
        transactional_id: the job's transactional.id.
        run_id: carried in every record's `offload.run_id` header.
        timeout_s: how long init, commit and abort may wait for the broker.
    """

    def __init__(
        self, settings: Settings, transactional_id: str, run_id: str, timeout_s: float = 60.0
    ) -> None:
        self.transactional_id = transactional_id
        self.timeout_s = timeout_s
        self._headers: list[tuple[str, str | bytes | None]] = [(RUN_HEADER, run_id.encode())]
        self._conf = {
            **settings.kafka.client_config(),
            "transactional.id": transactional_id,
            "transaction.timeout.ms": settings.reference.transaction_timeout_s * 1000,
            "partitioner": "murmur2_random",
            "linger.ms": 20,
            "batch.size": 1_000_000,
            "compression.type": "lz4",
            "queue.buffering.max.messages": 1_000_000,
            "queue.buffering.max.kbytes": 1_048_576,
            # No delivery callback reads them: `poll` serves only the failures (a failed
            # delivery fails `flush`/`commit_transaction` anyway).
            "delivery.report.only.error": True,
        }
        self.producer: Producer | None = None
        self.in_transaction = False

    def __enter__(self) -> RunPublisher:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.in_transaction:
            self.abort()

    def start(self) -> Producer:
        """Create the producer and fence older loaders of the job (aborting what they left
        open). Returns the producer, for the schema store's registrations."""
        self.producer = Producer(self._conf)
        self._call("init_transactions", self.producer.init_transactions, self.timeout_s)
        return self.producer

    def produce(self, topic: str, key: bytes, value: bytes | None) -> None:
        """Add a record (a tombstone when `value` is None) to the run's transaction, opening
        the transaction on the first record."""
        producer = self._producer()
        if not self.in_transaction:
            self.begin()
        while True:
            try:
                producer.produce(topic, value=value, key=key, headers=self._headers)
                return
            except BufferError:
                producer.poll(0.05)  # the local queue is full: let deliveries drain it
            except KafkaException as exc:
                raise self._translate(f"topic {topic}", exc) from exc

    def produce_all(self, topic: str, records: Iterable[tuple[bytes, bytes]]) -> None:
        """`produce` each (key, value) in turn: the same records, with less work each."""
        producer = self._producer()
        pending = iter(records)
        first = next(pending, None)
        if first is None:
            return
        self.produce(topic, *first)  # opens the transaction if needed
        send, headers = producer.produce, self._headers
        try:
            for key, value in pending:
                try:
                    send(topic, value, key, headers=headers)
                except BufferError:
                    self.produce(topic, key, value)  # waits for room, as `produce` does
        except KafkaException as exc:
            raise self._translate(f"topic {topic}", exc) from exc

    def begin(self) -> None:
        """Open the run's transaction (done by the first `produce`, or before registering
        schemas)."""
        if not self.in_transaction:
            self._call("begin_transaction", self._producer().begin_transaction)
            self.in_transaction = True

    def commit(self) -> None:
        """Commit the run's transaction: everything becomes visible at once.

        Raises:
            KafkaUnavailable: the commit failed; the transaction was aborted.
            LoadFenced: another loader of the job took over.
        """
        producer = self._producer()
        try:
            producer.flush(self.timeout_s)
            self._call("commit_transaction", producer.commit_transaction, self.timeout_s)
        except KafkaUnavailable:
            self.abort()
            raise
        self.in_transaction = False

    def abort(self) -> None:
        """Abort the run's transaction, if open; failures are logged (the broker aborts it
        at the latest when the transaction times out, or the next run fences it)."""
        if not self.in_transaction or self.producer is None:
            return
        self.in_transaction = False
        try:
            self.producer.abort_transaction(self.timeout_s)
        except KafkaException as exc:
            logger.warning("%s: abort failed: %s", self.transactional_id, exc.args[0])

    def poll(self) -> None:
        """Serve delivery callbacks (call now and then during long runs)."""
        self._producer().poll(0)

    def _producer(self) -> Producer:
        if self.producer is None:
            raise RuntimeError("RunPublisher.start() was not called")
        return self.producer

    def _call(self, what: str, method: Callable[..., object], *args: float) -> None:
        try:
            method(*args)
        except KafkaException as exc:
            raise self._translate(what, exc) from exc

    def _translate(self, what: str, exc: KafkaException) -> KafkaUnavailable | LoadFenced:
        error = exc.args[0]
        if isinstance(error, KafkaError) and error.code() in _FENCED:
            return LoadFenced(self.transactional_id, error.str())
        reason = error.str() if isinstance(error, KafkaError) else str(error)
        return KafkaUnavailable(f"transactional.id {self.transactional_id} ({what})", reason)
