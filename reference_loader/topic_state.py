"""Rebuild a job's state from its compacted topic (read_committed), for recovery.

Used when the ledger cannot vouch for the state: first load in this data dir, or a run that
crashed with its Kafka outcome unknown. Reading with read_committed after the job's producer
ran `init_transactions` sees exactly the committed loads: a crashed run's open transaction was
aborted by then, a committed one is visible whole. The run ids in the `offload.run_id` header
tell which crashed runs committed.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition

from plumbing.kafka_errors import KafkaUnavailable
from reference_loader.delta import State, value_hash
from reference_loader.publisher import RUN_HEADER

if TYPE_CHECKING:
    from config import KafkaSettings

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class TopicState:
    """What the topic holds: the state, and which of the runs asked about it carries."""

    state: State = field(default_factory=dict)
    runs_seen: set[str] = field(default_factory=set)


def read_topic_state(
    kafka: KafkaSettings, topic: str, runs: Collection[str] = (), timeout_s: float = 60.0
) -> TopicState:
    """Read every committed record of `topic` into a state (latest per key; tombstones
    remove keys), noting which of `runs` wrote some of them.

    Raises:
        KafkaUnavailable: the broker did not answer, or the topic did not become readable to
            its end within `timeout_s` (a transaction of another writer stayed open).
    """
    consumer = Consumer(
        {
            **kafka.client_config(),
            "group.id": f"offload-reference-state-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
            "enable.partition.eof": True,
        }
    )
    try:
        return _drain(consumer, topic, set(runs), timeout_s)
    finally:
        consumer.close()


def _ends(consumer: Consumer, topic: str, timeout_s: float) -> dict[int, int]:
    try:
        metadata = consumer.list_topics(topic, timeout=timeout_s).topics.get(topic)
        if metadata is None or metadata.error is not None:
            return {}
        return {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout_s)[1]
            for p in metadata.partitions
        }
    except KafkaException as exc:
        raise KafkaUnavailable(f"topic {topic}", str(exc.args[0])) from exc


def _drain(consumer: Consumer, topic: str, runs: set[str], timeout_s: float) -> TopicState:
    out = TopicState()
    ends = _ends(consumer, topic, timeout_s)
    pending = {p for p, high in ends.items() if high > 0}
    if not pending:
        return out
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in pending])
    deadline = time.monotonic() + timeout_s
    while pending:
        if time.monotonic() > deadline:
            raise KafkaUnavailable(
                f"topic {topic}",
                f"partitions {sorted(pending)} not readable to their end after {timeout_s:g} s "
                "(an open transaction of another writer?)",
            )
        message = consumer.poll(0.2)
        if message is None:
            continue
        error = message.error()
        partition, offset = int(message.partition() or 0), int(message.offset() or 0)
        if error is not None:
            if error.code() != KafkaError._PARTITION_EOF:
                raise KafkaUnavailable(f"topic {topic}", str(error))
            if offset >= ends[partition]:
                pending.discard(partition)
            continue
        _apply(out, message.key(), message.value(), message.headers(), runs)
        if offset + 1 >= ends[partition]:
            pending.discard(partition)
    logger.info("rebuilt the state of %s from the topic: %d keys", topic, len(out.state))
    return out


def _apply(
    out: TopicState,
    key: bytes | None,
    value: bytes | None,
    headers: Any,
    runs: set[str],
) -> None:
    if key is None:
        return
    if value is None:
        out.state.pop(key, None)
    else:
        out.state[key] = value_hash(value)
    if runs and headers:
        for name, raw in headers:
            if name == RUN_HEADER and isinstance(raw, bytes) and raw.decode() in runs:
                out.runs_seen.add(raw.decode())
