"""`plumbing.topics.wait_until_settled` against the real broker: it waits while a transaction
is open on a partition, and once the commit's markers are written a read_committed reader's
end is the partition's end."""

from __future__ import annotations

import pytest
from confluent_kafka import Producer

from config import Settings
from plumbing.topic_reader import TopicReader
from plumbing.topics import ensure_topic, wait_until_settled

pytestmark = pytest.mark.kafka


def test_an_open_transaction_is_waited_for_and_a_committed_one_settles(
    kafka_settings: Settings, transactional: Producer
) -> None:
    kafka = kafka_settings.kafka
    topic = kafka.topic("settle")
    ensure_topic(kafka, topic, 2, {"cleanup.policy": "delete"})
    transactional.begin_transaction()
    for partition in (0, 1):
        transactional.produce(topic, b"v", b"k", partition=partition)
    assert transactional.flush(30) == 0

    assert wait_until_settled(kafka, [topic, kafka.topic("no-such-topic")], timeout=1.0) is False

    transactional.commit_transaction(30)
    assert wait_until_settled(kafka, [topic], timeout=30.0) is True
    with TopicReader(kafka) as reader:
        ends = reader.ends([topic])
        # one record and one COMMIT marker in each partition, all of it readable
        assert {where: span.high for where, span in ends.items()} == {(topic, 0): 2, (topic, 1): 2}
        assert len(list(reader.read(ends))) == 2


def test_topics_that_do_not_exist_are_settled(kafka_settings: Settings) -> None:
    assert wait_until_settled(kafka_settings.kafka, [kafka_settings.kafka.topic("none")]) is True
