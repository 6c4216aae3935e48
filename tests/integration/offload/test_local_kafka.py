"""The real local Kafka: transactions, topics, and the `offload kafka` commands."""

from __future__ import annotations

import socket
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer

from config import Settings
from offload.broker import down, running_pid, up
from offload.broker_config import BrokerLayout
from plumbing.kafka_errors import TopicMismatch
from plumbing.topics import describe_topic, ensure_topic, ping

pytestmark = pytest.mark.kafka

RunOffload = Callable[..., subprocess.CompletedProcess[str]]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _read_all(settings: Settings, topic: str, isolation: str, last: bytes) -> list[bytes]:
    """Values of `topic` from the start, as a consumer with `isolation` sees them, up to `last`."""
    consumer = Consumer(
        {
            **settings.kafka.client_config(),
            "group.id": f"{topic}-{isolation}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "isolation.level": isolation,
        }
    )
    seen: list[bytes] = []
    try:
        consumer.subscribe([topic])
        for _ in range(300):
            message = consumer.poll(0.1)
            if message is None:
                continue
            assert message.error() is None, message.error()
            value = message.value()
            assert value is not None
            seen.append(value)
            if value == last:
                break
    finally:
        consumer.close()
    return seen


def test_read_committed_sees_committed_and_not_aborted(kafka_settings: Settings) -> None:
    topic = kafka_settings.kafka.topic("tx", "probe")
    ensure_topic(kafka_settings.kafka, topic, 1, {"cleanup.policy": "delete"})
    producer = Producer(
        {
            **kafka_settings.kafka.client_config(),
            "transactional.id": f"{kafka_settings.kafka.topic_prefix}-tx",
            "enable.idempotence": True,
        }
    )
    producer.init_transactions(30)
    for value, commit in ((b"committed", True), (b"aborted", False), (b"after", True)):
        producer.begin_transaction()
        producer.produce(topic, key=b"k", value=value)
        producer.flush(30)
        if commit:
            producer.commit_transaction(30)
        else:
            producer.abort_transaction(30)

    assert _read_all(kafka_settings, topic, "read_committed", b"after") == [b"committed", b"after"]
    # The aborted record did reach the log: only the isolation level hides it.
    assert _read_all(kafka_settings, topic, "read_uncommitted", b"after") == [
        b"committed",
        b"aborted",
        b"after",
    ]


def test_ensure_topic_creates_with_partitions_and_cleanup_policy(kafka_settings: Settings) -> None:
    kafka = kafka_settings.kafka
    topic = kafka.topic("reference", "ports")

    created = ensure_topic(kafka, topic, 3, {"cleanup.policy": "compact"})
    again = ensure_topic(kafka, topic, 3, {"cleanup.policy": "compact"})

    assert created.partitions == 3
    assert created.config["cleanup.policy"] == "compact"
    assert again == created
    assert describe_topic(kafka, topic) == created
    assert describe_topic(kafka, kafka.topic("never", "created")) is None


def test_ensure_topic_refuses_an_existing_topic_that_does_not_fit(
    kafka_settings: Settings,
) -> None:
    kafka = kafka_settings.kafka
    topic = kafka.topic("shipping", "orders")
    ensure_topic(kafka, topic, 2, {"cleanup.policy": "delete", "retention.ms": "-1"})

    with pytest.raises(TopicMismatch) as fewer:
        ensure_topic(kafka, topic, 4, {"cleanup.policy": "delete"})
    with pytest.raises(TopicMismatch) as policy:
        ensure_topic(kafka, topic, 2, {"cleanup.policy": "compact"})

    assert str(fewer.value) == (
        f"topic {topic} exists with partitions=2 but at least 4 is required; "
        "delete it or use another kafka.topic_prefix"
    )
    assert str(policy.value) == (
        f"topic {topic} exists with cleanup.policy=delete but compact is required; "
        "delete it or use another kafka.topic_prefix"
    )


def test_status_exits_0_when_the_broker_answers_and_1_when_not(
    kafka_settings: Settings, settings_factory: Callable[..., Settings], run_offload: RunOffload
) -> None:
    dead_port = _free_port()
    dead = settings_factory({"kafka.bootstrap_servers": f"127.0.0.1:{dead_port}"})

    alive = run_offload(kafka_settings, "kafka", "status")
    gone = run_offload(dead, "kafka", "status", "--timeout", "1")

    assert alive.returncode == 0, alive.stdout + alive.stderr
    assert alive.stdout.startswith(f"Kafka answers at {kafka_settings.kafka.bootstrap_servers}")
    assert gone.returncode == 1
    assert gone.stdout == f"no Kafka answers at 127.0.0.1:{dead_port} within 1 s\n"


def test_up_is_idempotent(kafka_broker: Settings, run_offload: RunOffload) -> None:
    first = run_offload(kafka_broker, "kafka", "up")
    second = run_offload(kafka_broker, "kafka", "up")

    for done in (first, second):
        assert done.returncode == 0, done.stdout + done.stderr
        assert done.stdout.startswith(
            f"Kafka already answers on {kafka_broker.kafka.bootstrap_servers}"
        ), done.stdout


def test_up_then_down_on_a_fresh_data_dir(
    kafka_broker: Settings, settings_factory: Callable[..., Settings], tmp_path: Path
) -> None:
    port, controller = _free_port(), _free_port()
    settings = settings_factory(
        {
            "kafka.bootstrap_servers": f"127.0.0.1:{port}",
            "kafka.local.port": port,
            "kafka.local.controller_port": controller,
            "kafka.local.heap_mb": 256,
        }
    )
    layout = BrokerLayout(settings.kafka_dir)

    started = up(settings)
    try:
        assert started.started
        assert started.formatted
        assert started.pid == running_pid(layout)
        assert ping(settings.kafka)
        topic = settings.kafka.topic(uuid.uuid4().hex)
        assert ensure_topic(settings.kafka, topic, 2).partitions == 2
    finally:
        stopped = down(settings)

    assert stopped.stopped_pid == started.pid
    assert not ping(settings.kafka, timeout=1.0)
    assert not layout.pid_file.exists()
    # Only the broker of this data dir was stopped: the session's broker still answers.
    assert ping(kafka_broker.kafka)
