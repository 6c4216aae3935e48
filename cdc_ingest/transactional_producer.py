"""The transactional producer of capture: a thin wrapper around librdkafka's `Producer`.

One transactional.id per topic prefix and capture group (`<prefix>.cdc.<group>`).
`open()` creates the client and calls `init_transactions()`, which fences any previous
instance with the same id and aborts its open transaction; nothing touches the network
before it. librdkafka reports a fatal error's cause only to the error callback (a later
`produce()` just says "fatal error"), so the wrapper remembers it for `cause()`.
"""

from __future__ import annotations

import logging
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Producer

from cdc_ingest.unit_writer import Emit
from config import Settings

logger = logging.getLogger(__name__)


def transactional_id(settings: Settings, group: str) -> str:
    """The producer's transactional.id: one per topic prefix and capture group."""
    return f"{settings.kafka.topic_prefix}.cdc.{group}"


def producer_config(settings: Settings, group: str) -> dict[str, Any]:
    """librdkafka settings of the transactional producer of `group` (sized for throughput)."""
    return {
        **settings.kafka.client_config(),
        "transactional.id": transactional_id(settings, group),
        "enable.idempotence": True,
        "acks": "all",
        "partitioner": "murmur2_random",
        "linger.ms": 20,
        "batch.size": 1_000_000,
        "batch.num.messages": 10_000,
        "queue.buffering.max.messages": 1_000_000,
        "queue.buffering.max.kbytes": 1_048_576,
        "transaction.timeout.ms": settings.capture.transaction_timeout_s * 1000,
        "log_level": 3,
    }


class TransactionalProducer:
    """The capture's transactional producer; `open()` it before use, `close()` when done.

    Args:
        settings: the whole configuration (Kafka client settings, topic prefix).
        group: the capture group (names the transactional.id).

    Attributes:
        client: the librdkafka producer while open, else None.
    """

    def __init__(self, settings: Settings, group: str) -> None:
        self.settings = settings
        self.group = group
        self.tid = transactional_id(settings, group)
        self.client: Any = None
        self._fatal: KafkaError | None = None

    @property
    def is_open(self) -> bool:
        """Whether a client exists (opened and neither dropped nor closed)."""
        return self.client is not None

    def open(self) -> None:
        """Create the client and call `init_transactions()`: fences a previous instance FIRST."""
        self._fatal = None
        client = Producer(
            {**producer_config(self.settings, self.group), "error_cb": self._client_error}
        )
        self.client = client
        client.init_transactions(30)

    def begin(self) -> None:
        """Begin a transaction."""
        self.client.begin_transaction()

    def emitter(self) -> Emit:
        """A function that produces one message, waiting while the local queue is full."""
        produce, poll = self.client.produce, self.client.poll

        def emit(topic: str, key: bytes, value: bytes | None) -> None:
            while True:
                try:
                    produce(topic, value, key)
                    return
                except BufferError:
                    poll(0.05)

        return emit

    def produce(self, topic: str, key: bytes, value: bytes, partition: int) -> None:
        """Produce one message to a given partition."""
        self.client.produce(topic, value, key, partition=partition)

    def commit(self) -> None:
        """Commit the open transaction (waits up to `capture.transaction_timeout_s`)."""
        self.client.commit_transaction(self.settings.capture.transaction_timeout_s)

    def abort(self) -> None:
        """Abort the open transaction (waits up to 30 s)."""
        self.client.abort_transaction(30)

    def cause(self, error: KafkaError) -> KafkaError:
        """The error that names the cause: for librdkafka's generic fatal error, the fatal
        error the error callback saw (serving the callback first if it has not run yet)."""
        if error.code() != KafkaError._FATAL:
            return error
        if self._fatal is None and self.client is not None:
            try:
                self.client.poll(0)  # serve error_cb, which names the cause
            except KafkaException as exc:  # or poll raises the fatal error itself
                self._fatal = exc.args[0]
        return self._fatal if self._fatal is not None else error

    def drop(self) -> None:
        """Forget the client without waiting: purge what it still holds."""
        if self.client is not None:
            try:
                self.client.purge(in_queue=True, in_flight=True, blocking=False)
            except KafkaException:
                logger.debug("purging the old producer failed", exc_info=True)
            self.client = None

    def close(self) -> None:
        """Flush (up to 10 s) and forget the client."""
        if self.client is not None:
            self.client.flush(10)
            self.client = None

    def _client_error(self, error: KafkaError) -> None:
        """librdkafka's error callback: remember a fatal error (it names the cause)."""
        if error.fatal():
            self._fatal = error
        logger.debug("Kafka client error: %s", error.str())
