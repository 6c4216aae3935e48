"""The local broker's config files and command line, computed with no Java around."""

from __future__ import annotations

from pathlib import Path

import pytest

from config import LocalKafkaSettings
from offload.broker_config import (
    BrokerLayout,
    java_command,
    java_major_version,
    log4j2_properties,
    new_cluster_id,
    render_properties,
    server_properties,
)


@pytest.fixture
def layout(tmp_path: Path) -> BrokerLayout:
    return BrokerLayout(tmp_path / "kafka")


def test_server_properties_single_node_kraft_with_transactions(layout: BrokerLayout) -> None:
    local = LocalKafkaSettings(host="127.0.0.1", port=29092, controller_port=29093)

    props = server_properties(local, layout)

    assert props["process.roles"] == "broker,controller"
    assert props["node.id"] == "1"
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:29092,CONTROLLER://127.0.0.1:29093"
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:29092"
    assert props["controller.quorum.bootstrap.servers"] == "127.0.0.1:29093"
    # --standalone formatting refuses a static voter list.
    assert "controller.quorum.voters" not in props
    assert props["log.dirs"] == str(layout.root / "data")
    assert props["auto.create.topics.enable"] == "false"
    for key in (
        "offsets.topic.replication.factor",
        "transaction.state.log.replication.factor",
        "transaction.state.log.min.isr",
        "min.insync.replicas",
    ):
        assert props[key] == "1", key
    assert props["group.initial.rebalance.delay.ms"] == "0"
    assert int(props["transaction.max.timeout.ms"]) >= 900_000


def test_render_properties_keeps_order_and_escapes_backslashes() -> None:
    text = render_properties({"b": "1", "a": r"C:\kafka"}, "made by a test")

    assert text == "# made by a test\nb=1\na=C:\\\\kafka\n"


def test_log4j2_writes_to_the_broker_logs_dir(layout: BrokerLayout) -> None:
    props = log4j2_properties(layout)

    assert props["appender.file.fileName"] == str(layout.root / "logs" / "server.log")
    assert props["rootLogger.appenderRef.file.ref"] == props["appender.file.name"]


def test_java_command_sets_heap_logging_and_classpath(layout: BrokerLayout) -> None:
    command = java_command("/usr/bin/java", "a.jar:b.jar", 768, layout, ["kafka.Kafka", "x"])

    assert command[0] == "/usr/bin/java"
    assert "-Xms768m" in command
    assert "-Xmx768m" in command
    assert f"-Dlog4j2.configurationFile={layout.root / 'log4j2.properties'}" in command
    assert command[-4:] == ["-cp", "a.jar:b.jar", "kafka.Kafka", "x"]


@pytest.mark.parametrize(
    ("output", "major"),
    [
        ('openjdk version "17.0.15" 2025-04-15\nOpenJDK Runtime Environment', 17),
        ('openjdk version "21" 2023-09-19', 21),
        ('java version "1.8.0_392"', 8),
        ("something else entirely", None),
    ],
)
def test_java_major_version(output: str, major: int | None) -> None:
    assert java_major_version(output) == major


def test_cluster_ids_are_kafka_uuids() -> None:
    ids = {new_cluster_id() for _ in range(200)}

    assert len(ids) == 200
    for cluster_id in ids:
        assert len(cluster_id) == 22
        assert not cluster_id.startswith("-")
