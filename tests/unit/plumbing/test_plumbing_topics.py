"""Which refusals of a topic creation a retry can outlast (the cluster starting or stopping)."""

from __future__ import annotations

from confluent_kafka import KafkaError

from plumbing.topics import refused_for_now


def test_a_fenced_or_busy_cluster_is_a_refusal_for_now() -> None:
    fenced = KafkaError(
        KafkaError.INVALID_REPLICATION_FACTOR,
        "Unable to replicate the partition 1 time(s): All brokers are currently fenced, "
        "or have all their log directories cordoned.",
    )
    assert refused_for_now(fenced)
    assert refused_for_now(KafkaError(KafkaError.NOT_CONTROLLER, "not the controller"))
    assert refused_for_now(KafkaError(KafkaError.BROKER_NOT_AVAILABLE, "broker not available"))


def test_a_topic_the_cluster_cannot_hold_is_a_lasting_refusal() -> None:
    too_many = KafkaError(
        KafkaError.INVALID_REPLICATION_FACTOR,
        "Replication factor: 3 larger than available brokers: 1.",
    )
    assert not refused_for_now(too_many)
    assert not refused_for_now(KafkaError(KafkaError.INVALID_CONFIG, "bad cleanup.policy"))
