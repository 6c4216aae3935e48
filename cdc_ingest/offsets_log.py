"""The `<prefix>.cdc-offsets` topic: committed capture positions, decisions, snapshot requests.

A compacted topic with one partition, internal to cdc_ingest. The publisher writes its
`CapturePosition` in each of its Kafka transactions; `read_log` reads every committed record
back (`plumbing.topic_reader`: read_committed, to the end the topic has at the start) and
keeps the newest per key. The CLI writes operator records (`Decision`, snapshot requests) with
a plain idempotent producer.

Capture split by table group: every group commits its positions to this one partition. A
read_committed reader's end stops before the oldest transaction open on it, and a group's own
positions committed after another group's transaction began lie beyond it; a group killed
while writing leaves its transaction open until its successor starts or the broker's timeout.
So a publisher resuming reads `past_open`: to the partition's end, waiting until the
transactions open at the start are decided. Reading to the last stable offset there once
resumed a group from an older position, and it published the units after it again.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass, field

from confluent_kafka import Consumer, KafkaError, TopicPartition

from cdc_ingest.positions import (
    DECISION_KEY,
    POSITION_KEY,
    SNAPSHOT_KEY,
    CapturePosition,
    Decision,
    record_key,
)
from config import KafkaSettings
from plumbing.kafka_errors import KafkaUnavailable
from plumbing.topic_reader import EndNotReached, Record, TopicReader

logger = logging.getLogger(__name__)

OFFSETS_TOPIC = "cdc-offsets"
_POSITION_PREFIX = f"{POSITION_KEY}:".encode()


@dataclass
class OffsetsLog:
    """The newest committed record of each key of one capture group.

    Attributes:
        position: the committed position, or None before the first transaction.
        decisions: operator decisions by table.
        snapshot_requests: `cdc snapshot` requests by table: request time, ms since the epoch.
        history: (published_ms, events) of every position record still in the topic, oldest
            first (compaction drops old ones), for events/s in `cdc status`.
        next_offset: the offset after the last record read (where `OperatorFeed` goes on).
        other_groups: the newest position record of each other capture group, unparsed.
    """

    position: CapturePosition | None = None
    decisions: dict[str, Decision] = field(default_factory=dict)
    snapshot_requests: dict[str, int] = field(default_factory=dict)
    history: list[tuple[int, int]] = field(default_factory=list)
    next_offset: int = 0
    other_groups: dict[str, bytes] = field(default_factory=dict)

    def take(self, group: str, key: bytes | None, value: bytes | None) -> None:
        """Take in one record of the topic (of other groups, only their positions are kept).

        Raises:
            ValueError, KeyError, TypeError: the record's value is not readable.
        """
        if key is None or value is None:
            return
        if key == record_key(POSITION_KEY, group):
            self.position = CapturePosition.from_json(value)
            self.history.append((self.position.published_ms, self.position.events))
        elif key.startswith(_POSITION_PREFIX):
            self.other_groups[key[len(_POSITION_PREFIX) :].decode()] = value
        elif key.startswith(record_key(DECISION_KEY, group) + b":"):
            decision = Decision.from_json(value)
            self.decisions[decision.table] = decision
        elif key.startswith(record_key(SNAPSHOT_KEY, group) + b":"):
            request = json.loads(value)
            self.snapshot_requests[str(request["table"])] = int(request["requested_ms"])

    def positions(self) -> dict[str, CapturePosition]:
        """The newest committed position of each other capture group.

        Raises:
            ValueError, KeyError, TypeError: a record's value is not readable.
        """
        return {g: CapturePosition.from_json(v) for g, v in self.other_groups.items()}


def offsets_topic(kafka: KafkaSettings) -> str:
    """`<prefix>.cdc-offsets`."""
    return kafka.topic(OFFSETS_TOPIC)


def read_log(
    kafka: KafkaSettings,
    group: str,
    timeout_s: float = 30.0,
    *,
    missing_ok: bool = False,
    past_open_s: float | None = None,
) -> OffsetsLog:
    """Read every committed record of the topic for `group`.

    Args:
        kafka: the cluster and the topic prefix.
        group: the capture group whose records are wanted.
        timeout_s: how long each request, and reading to the end, may take, in seconds.
        missing_ok: a topic that does not exist yet (capture has never run against this
            prefix; `cdc run` creates it) reads as an empty log.
        past_open_s: read past the transactions open at the start, waiting up to this many
            seconds for them to be decided (a resuming publisher: see the module docstring);
            None stops before them (`cdc status`: what is committed now).

    Raises:
        KafkaUnavailable: the broker did not answer, the topic does not exist (unless
            `missing_ok`), or the end was not reached in time.
    """
    topic = offsets_topic(kafka)
    log = OffsetsLog()
    wait_s = timeout_s if past_open_s is None else past_open_s
    with TopicReader(kafka, f"offload-cdc-offsets-{uuid.uuid4().hex}") as reader:
        ends = reader.ends([topic], timeout_s, past_open=past_open_s is not None)
        if (topic, 0) not in ends:
            if missing_ok:
                return log
            raise KafkaUnavailable(f"topic {topic}", "the topic does not exist")
        log.next_offset = ends[(topic, 0)].high
        try:
            for record in reader.read(ends, wait_s):
                _take(log, group, topic, record)
        except EndNotReached as exc:
            reason = f"did not reach offset {log.next_offset} in {wait_s:g} s"
            if past_open_s is not None:
                reason += " (a transaction of another capture group stayed open)"
            raise KafkaUnavailable(f"topic {topic}", reason) from exc
    return log


def _take(log: OffsetsLog, group: str, topic: str, record: Record) -> None:
    try:
        log.take(group, record.key, record.value)
    except (ValueError, KeyError, TypeError) as exc:
        logger.warning("topic %s: skipping unreadable record %r: %s", topic, record.key, exc)


class OperatorFeed:
    """Follows the topic after `read_log` for the operator's records, without waiting.

    A running capture keeps one consumer (read_committed) positioned after what `read_log`
    read, and takes in decisions and snapshot requests as they arrive; its own position
    records are skipped. Close it when done.
    """

    def __init__(self, kafka: KafkaSettings, group: str, log: OffsetsLog) -> None:
        self.group = group
        self.log = log
        self.topic = offsets_topic(kafka)
        self._own = record_key(POSITION_KEY, group)
        self._consumer = _consumer(kafka)
        self._consumer.assign([TopicPartition(self.topic, 0, log.next_offset)])

    def poll(self) -> OffsetsLog:
        """Take in the records that arrived since the last poll; returns the updated log."""
        for message in self._consumer.consume(500, timeout=0):
            if message.error() is not None:
                logger.debug("topic %s: %s", self.topic, message.error())
                continue
            if message.key() == self._own:
                continue
            try:
                self.log.take(self.group, message.key(), message.value())
            except (ValueError, KeyError, TypeError) as exc:
                logger.warning("topic %s: skipping unreadable record: %s", self.topic, exc)
        return self.log

    def close(self) -> None:
        """Close the consumer."""
        self._consumer.close()


def write_record(kafka: KafkaSettings, key: bytes, value: bytes, timeout_s: float = 30.0) -> None:
    """Write one operator record (idempotent, acks=all) and wait for it.

    Raises:
        KafkaUnavailable: it was not acknowledged within `timeout_s`.
    """
    from confluent_kafka import Producer

    topic = offsets_topic(kafka)
    producer = Producer({**kafka.client_config(), "enable.idempotence": True})
    failures: list[str] = []

    def delivered(err: KafkaError | None, _msg: object) -> None:
        if err is not None:
            failures.append(str(err))

    producer.produce(topic, key=key, value=value, partition=0, on_delivery=delivered)
    left = producer.flush(timeout_s)
    if left or failures:
        raise KafkaUnavailable(
            f"topic {topic}", failures[0] if failures else "not acknowledged in time"
        )


def _consumer(kafka: KafkaSettings) -> Consumer:
    return Consumer(
        {
            **kafka.client_config(),
            "group.id": f"offload-cdc-offsets-{uuid.uuid4().hex}",
            "isolation.level": "read_committed",
            "enable.partition.eof": True,
            "enable.auto.commit": False,
        }
    )
