"""`plumbing.topic_reader` against the real broker: every committed record up to the end the
topic has when reading starts, judged by position (markers and aborted records leave gaps),
never waiting for a transaction still open unless asked to read past it, and a clear, bounded
error without a broker."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable

import pytest
from confluent_kafka import Producer

from config import KafkaSettings, Settings
from plumbing.kafka_errors import KafkaUnavailable
from plumbing.topic_reader import EndNotReached, Record, Span, TopicReader, read_to_end
from plumbing.topics import ensure_topic

pytestmark = pytest.mark.kafka


def _topic(kafka: KafkaSettings, name: str, partitions: int = 1, compact: bool = False) -> str:
    topic = kafka.topic(name)
    config = {"cleanup.policy": "compact" if compact else "delete"}
    ensure_topic(kafka, topic, partitions, config)
    return topic


def _produce(
    kafka: KafkaSettings, topic: str, records: list[tuple[int, bytes, bytes | None]]
) -> None:
    producer = Producer({**kafka.client_config(), "enable.idempotence": True})
    for partition, key, value in records:
        producer.produce(topic, value, key, partition=partition, headers=[("h", b"x")])
    assert producer.flush(30) == 0


def test_an_empty_topic_reads_nothing_at_once(kafka_settings: Settings) -> None:
    kafka = kafka_settings.kafka
    topic = _topic(kafka, "empty", partitions=2)
    started = time.monotonic()
    with TopicReader(kafka) as reader:
        ends = reader.ends([topic])
        assert ends == {(topic, 0): Span(0, 0), (topic, 1): Span(0, 0)}
        assert list(reader.read(ends)) == []
    assert time.monotonic() - started < 5


def test_a_missing_topic_has_no_partitions(kafka_settings: Settings) -> None:
    kafka = kafka_settings.kafka
    with TopicReader(kafka) as reader:
        assert reader.ends([kafka.topic("missing")]) == {}
    assert list(read_to_end(kafka, [kafka.topic("missing")])) == []


def test_every_partition_is_read_to_its_end_in_offset_order(kafka_settings: Settings) -> None:
    kafka = kafka_settings.kafka
    topic = _topic(kafka, "several", partitions=3)
    _produce(kafka, topic, [(i % 3, f"k{i}".encode(), f"v{i}".encode()) for i in range(30)])
    records = list(read_to_end(kafka, [topic]))
    assert len(records) == 30
    for partition in range(3):
        mine = [r for r in records if r.partition == partition]
        assert [r.offset for r in mine] == list(range(10))
        assert [r.key for r in mine] == [f"k{i}".encode() for i in range(partition, 30, 3)]
    first = records[0]
    assert (first.topic, first.headers) == (topic, (("h", b"x"),))
    assert first.timestamp_ms > 0


def test_a_compacted_topic_folds_to_the_newest_value_per_key(kafka_settings: Settings) -> None:
    kafka = kafka_settings.kafka
    topic = _topic(kafka, "compacted", compact=True)
    _produce(
        kafka,
        topic,
        [(0, b"a", b"1"), (0, b"b", b"1"), (0, b"a", b"2"), (0, b"c", b"1"), (0, b"b", None)],
    )
    state: dict[bytes, bytes] = {}
    for record in read_to_end(kafka, [topic]):
        assert record.key is not None
        if record.value is None:
            state.pop(record.key, None)
        else:
            state[record.key] = record.value
    assert state == {b"a": b"2", b"c": b"1"}


def test_aborted_records_and_markers_are_passed_and_the_end_is_still_reached(
    kafka_settings: Settings, transactional: Producer
) -> None:
    kafka = kafka_settings.kafka
    topic = _topic(kafka, "aborted", compact=True)
    transactional.begin_transaction()
    transactional.produce(topic, b"kept", b"k1", partition=0)
    transactional.commit_transaction(30)
    transactional.begin_transaction()
    transactional.produce(topic, b"aborted", b"k2", partition=0)
    transactional.produce(topic, b"aborted", b"k3", partition=0)
    transactional.flush(30)
    transactional.abort_transaction(30)
    with TopicReader(kafka) as reader:
        # abort_transaction returns once the coordinator has decided; the partition's abort
        # marker is written after that (seconds later on a loaded broker), and until it is,
        # the end a read_committed reader may reach stops before the aborted records.
        deadline = time.monotonic() + 60
        while (ends := reader.ends([topic]))[(topic, 0)].high < 5:
            assert time.monotonic() < deadline, f"the abort marker never landed: {ends}"
            time.sleep(0.1)
        assert ends[(topic, 0)].high == 5  # k1, its commit marker, k2, k3, the abort marker
        started = time.monotonic()
        records = list(reader.read(ends, timeout_s=20))
    assert [(r.key, r.value, r.offset) for r in records] == [(b"k1", b"kept", 0)]
    assert time.monotonic() - started < 10


def test_a_transaction_still_open_is_not_waited_for(
    kafka_settings: Settings, transactional: Producer
) -> None:
    kafka = kafka_settings.kafka
    topic = _topic(kafka, "open", compact=True)
    _produce(kafka, topic, [(0, b"k1", b"committed")])
    transactional.begin_transaction()
    transactional.produce(topic, b"open", b"k2", partition=0)
    transactional.flush(30)
    try:
        started = time.monotonic()
        records = list(read_to_end(kafka, [topic], timeout_s=20))
        assert [(r.key, r.value) for r in records] == [(b"k1", b"committed")]
        assert time.monotonic() - started < 10
    finally:
        transactional.abort_transaction(30)


def test_past_open_waits_for_the_open_transaction_and_reads_what_was_committed_behind_it(
    kafka_settings: Settings, transactional: Producer
) -> None:
    kafka = kafka_settings.kafka
    topic = _topic(kafka, "past-open", compact=True)
    _produce(kafka, topic, [(0, b"k1", b"before")])
    transactional.begin_transaction()
    transactional.produce(topic, b"open", b"k2", partition=0)
    assert transactional.flush(30) == 0
    _produce(kafka, topic, [(0, b"k3", b"behind")])  # committed, but past the stable offset
    aborted = threading.Event()

    def abort_soon() -> None:
        time.sleep(1.0)
        transactional.abort_transaction(30)
        aborted.set()

    with TopicReader(kafka) as reader:
        assert reader.ends([topic])[(topic, 0)].high == 1  # the last stable offset
        ends = reader.ends([topic], past_open=True)
        assert ends[(topic, 0)].high == 3
        aborter = threading.Thread(target=abort_soon)
        aborter.start()
        try:
            records = list(reader.read(ends, timeout_s=60))
        finally:
            aborter.join()
    assert aborted.is_set()
    assert [(r.key, r.value) for r in records] == [(b"k1", b"before"), (b"k3", b"behind")]


def test_tail_reads_only_the_last_offsets(kafka_settings: Settings) -> None:
    kafka = kafka_settings.kafka
    topic = _topic(kafka, "tail")
    _produce(kafka, topic, [(0, f"k{i}".encode(), b"v") for i in range(10)])
    with TopicReader(kafka) as reader:
        records = list(reader.read(reader.ends([topic]), tail=3))
    assert [r.offset for r in records] == [7, 8, 9]


def test_the_end_not_reached_in_time_names_the_topic_and_partitions(
    kafka_settings: Settings,
) -> None:
    kafka = kafka_settings.kafka
    topic = _topic(kafka, "slow", partitions=2)
    _produce(kafka, topic, [(0, b"k", b"v"), (1, b"k", b"v")])
    with TopicReader(kafka) as reader:
        ends = reader.ends([topic])
        read: list[Record] = []
        with pytest.raises(EndNotReached) as caught:
            read.extend(reader.read(ends, timeout_s=0))
    assert read == []
    assert caught.value.pending == {(topic, 0): 1, (topic, 1): 1}
    assert str(caught.value) == (
        f"Kafka topic {topic}: partitions [0, 1] not readable to their end after 0 s "
        "(an open transaction of another writer?)"
    )
    assert isinstance(caught.value, KafkaUnavailable)


def test_an_unreachable_broker_is_a_clear_error_in_bounded_time(
    settings_factory: Callable[..., Settings],
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    kafka = settings_factory({"kafka.bootstrap_servers": f"127.0.0.1:{port}"}).kafka
    topic = kafka.topic("nowhere")
    started = time.monotonic()
    TopicReader(kafka).close()  # no network before it is asked for something
    assert time.monotonic() - started < 1
    with pytest.raises(KafkaUnavailable) as caught:
        list(read_to_end(kafka, [topic], timeout_s=2))
    assert time.monotonic() - started < 10
    assert caught.value.where == f"topic {topic}"
    assert str(caught.value).startswith(f"Kafka topic {topic}: ")
