"""The dead-letter topic `<prefix>.dlq`: a copy of every record of the error table.

Each record keeps its original key and value bytes and headers, and gains headers naming
where it came from and why it failed, so a tool that reads only Kafka can act on it:
`offload.source.topic`, `offload.source.partition`, `offload.source.offset`,
`offload.source.key` (the decoded key as JSON, when the key decoded), `offload.error.reason`,
`offload.error.kind`, `offload.error.id`. Delivery follows the DuckDB commit: entries are
produced, flushed, then marked `dlq_sent`; entries left unmarked by a crash are produced again
on the next start (at least once).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import duckdb
from confluent_kafka import KafkaException, Producer

from config import KafkaSettings
from plumbing.kafka_errors import KafkaUnavailable
from projections.errorlog import ErrorEntry, mark_delivered, undelivered

logger = logging.getLogger(__name__)

DLQ_SUFFIX = "dlq"


def dlq_headers(entry: ErrorEntry) -> list[tuple[str, str | bytes | None]]:
    """The record's own headers, then those naming its source and the failure."""
    r = entry.record
    extra = {
        "offload.source.topic": r.topic,
        "offload.source.partition": None if r.partition is None else str(r.partition),
        "offload.source.offset": None if r.offset is None else str(r.offset),
        "offload.source.key": r.key_text,
        "offload.error.reason": r.reason,
        "offload.error.kind": r.kind,
        "offload.error.id": str(entry.id),
    }
    own: list[tuple[str, str | bytes | None]] = list(r.headers)
    return own + [(name, None if v is None else v.encode()) for name, v in extra.items()]


class DeadLetters:
    """Produces error-table entries to `<prefix>.dlq` after they were committed.

    Args:
        kafka: the cluster and the topic prefix.
        timeout_s: how long a flush may wait for the broker.
    """

    def __init__(self, kafka: KafkaSettings, timeout_s: float = 30.0) -> None:
        self.topic = kafka.topic(DLQ_SUFFIX)
        self._kafka = kafka
        self._timeout_s = timeout_s
        self._producer: Producer | None = None

    def deliver(self, con: duckdb.DuckDBPyConnection) -> int:
        """Produce every entry not yet delivered, wait for the broker, mark them delivered.

        Raises:
            KafkaUnavailable: the broker did not acknowledge them in time.
        """
        entries = undelivered(con)
        if not entries:
            return 0
        self._send(entries)
        mark_delivered(con, [e.id for e in entries])
        logger.info("produced %d records to %s", len(entries), self.topic)
        return len(entries)

    def _send(self, entries: Sequence[ErrorEntry]) -> None:
        producer = self._ensure()
        failures: list[str] = []

        def done(err: object, _msg: object) -> None:
            if err is not None:
                failures.append(str(err))

        try:
            for entry in entries:
                r = entry.record
                producer.produce(
                    self.topic,
                    key=r.raw_key,
                    value=r.raw_value,
                    headers=dlq_headers(entry),
                    on_delivery=done,
                )
            left = producer.flush(self._timeout_s)
        except (KafkaException, BufferError) as exc:
            raise KafkaUnavailable(f"producing to {self.topic}", str(exc)) from exc
        if left or failures:
            reason = failures[0] if failures else f"{left} records not acknowledged"
            raise KafkaUnavailable(f"producing to {self.topic}", reason)

    def _ensure(self) -> Producer:
        if self._producer is None:
            from plumbing.topics import ensure_topic

            ensure_topic(self._kafka, self.topic, 1, {"cleanup.policy": "delete"})
            conf = {**self._kafka.client_config(), "enable.idempotence": True, "acks": "all"}
            self._producer = Producer(conf)
        return self._producer

    def close(self) -> None:
        """Flush what is left."""
        if self._producer is not None:
            self._producer.flush(self._timeout_s)
            self._producer = None
