"""The projection loop's Kafka consumer: the partitions it reads, from where, and which wait.

One `confluent_kafka.Consumer` with `isolation.level=read_committed` and no commits is
`assign()`ed every partition of the change topics, the transaction topic and the reference
topics, each seeked to the position stored in `_offload.positions` (the beginning when none):
group offsets are never used. Partitions of topics found later are added the same way
(`assign_new`); flow control pauses and resumes partitions (`pause_only`). A partition whose
local queue filled up is fetched again after `FETCH_QUEUE_BACKOFF_MS`, not librdkafka's second.

A thin client: no network call before it is entered, broker errors of the metadata request
become `KafkaUnavailable`, and the consumer is closed on leaving the `with` block.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Mapping
from types import TracebackType

from confluent_kafka import OFFSET_BEGINNING, Consumer, Message, TopicPartition

from config import KafkaSettings
from plumbing.kafka_errors import KafkaUnavailable
from projections.assembler import Partition

logger = logging.getLogger(__name__)

FETCH_QUEUE_BACKOFF_MS = 10
"""How long librdkafka waits to fetch again for a partition whose local queue was full: below
the loop's idle poll wait (50 ms), so a drained queue is refilled before the loop waits long."""


class PartitionAssignment:
    """The loop's consumer, with the partitions assigned to it and those paused.

    Args:
        kafka: the cluster and the topic prefix.
    """

    def __init__(self, kafka: KafkaSettings) -> None:
        self._kafka = kafka
        self._consumer: Consumer | None = None
        self.assigned: set[Partition] = set()
        """Every partition the consumer reads."""
        self.paused: set[Partition] = set()
        """The partitions paused by flow control."""

    def __enter__(self) -> PartitionAssignment:
        self._consumer = Consumer(self._config())
        self.assigned = set()
        self.paused = set()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None

    def consume(self, count: int, timeout_s: float) -> list[Message]:
        """Up to `count` messages (records, ends of partitions, errors), waiting `timeout_s`."""
        return self._client().consume(count, timeout_s)

    def assign_new(self, topics: Iterable[str], stored: Mapping[Partition, int]) -> int:
        """Assign the partitions of `topics` not assigned yet, each at its stored position.

        Topics that do not exist (yet) are skipped.

        Returns:
            the number of partitions added.

        Raises:
            KafkaUnavailable: the cluster did not answer the metadata request.
        """
        consumer = self._client()
        try:
            metadata = consumer.list_topics(timeout=30)
        except Exception as exc:
            raise KafkaUnavailable("listing topics", str(exc)) from exc
        new = []
        for topic in topics:
            meta = metadata.topics.get(topic)
            if meta is None or meta.error is not None:
                continue
            for partition in meta.partitions:
                part = (topic, partition)
                if part not in self.assigned:
                    offset = stored.get(part, OFFSET_BEGINNING)
                    new.append(TopicPartition(topic, partition, offset))
                    self.assigned.add(part)
        if new:
            consumer.incremental_assign(new)
            logger.info("reading %d more partitions", len(new))
        return len(new)

    def pause_only(self, wanted: set[Partition]) -> bool:
        """Pause the partitions in `wanted` and resume the others paused before.

        Returns:
            whether the set of paused partitions changed.
        """
        if wanted == self.paused:
            return False
        consumer = self._client()
        pause = [TopicPartition(t, p) for t, p in wanted - self.paused]
        resume = [TopicPartition(t, p) for t, p in self.paused - wanted]
        if pause:
            consumer.pause(pause)
        if resume:
            consumer.resume(resume)
        self.paused = wanted
        return True

    def _client(self) -> Consumer:
        if self._consumer is None:
            raise RuntimeError("the partition assignment is used outside its `with` block")
        return self._consumer

    def _config(self) -> dict[str, object]:
        return {
            **self._kafka.client_config(),
            # Required by librdkafka even with assign(); nothing is ever committed to it.
            "group.id": f"{self._kafka.topic_prefix}.projection.{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "isolation.level": "read_committed",
            "enable.partition.eof": True,
            "auto.offset.reset": "earliest",
            "queued.max.messages.kbytes": 16384,
            "fetch.max.bytes": 16 * 1024 * 1024,
            # When a partition's local queue is full (the loop applies slower than the broker
            # sends), librdkafka postpones that partition's next fetch by this much: 1,000 ms
            # by default, a second with nothing to read once the loop has drained the queue.
            # It left the writer idle most of the time under backlog (README "Performance").
            "fetch.queue.backoff.ms": FETCH_QUEUE_BACKOFF_MS,
        }
