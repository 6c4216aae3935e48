"""The stock Confluent client decodes every topic of the real pipeline through our registry
endpoints: `SchemaRegistryClient` + `AvroDeserializer`, HTTP Basic with the API key."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import duckdb
import pytest
import uvicorn
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext

from config import ApiKey, Settings
from event_contract.schema_stores import TopicSchemaStore
from plumbing.topics import admin_client
from query_api import DuckDBLimits, DuckDBReadStore, create_app, lock_down
from query_api.auth import hash_key
from query_api.registry_schemas import RegistrySchemas

API_KEY = f"reader-{uuid.uuid4().hex}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def registry_url(kafka_settings: Settings) -> Iterator[str]:
    """The query API (registry endpoints over the `_schemas` topic) on a free port."""
    keys = {"tester": ApiKey(role="reader", sha256=hash_key(API_KEY))}
    api = kafka_settings.api.model_copy(update={"keys": keys})
    settings = kafka_settings.model_copy(update={"api": api})
    con = duckdb.connect(":memory:")
    lock_down(con, DuckDBLimits("256MB", 1))
    schemas = RegistrySchemas(TopicSchemaStore(settings.kafka))
    app = create_app(settings, DuckDBReadStore(con), schemas)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join()
    con.close()


def _topics(settings: Settings) -> list[str]:
    prefix = settings.kafka.topic_prefix
    names = admin_client(settings.kafka).list_topics(timeout=10).topics
    wanted = (f"{prefix}.shipping.", f"{prefix}.reference.", f"{prefix}.transaction")
    return sorted(n for n in names if n.startswith(wanted))


def _records(settings: Settings, topic: str) -> list[Any]:
    """Every committed record of `topic`, until each partition reports its end (the offsets of
    transaction markers are never delivered, so the end is the EOF event, not high - 1)."""
    consumer = Consumer(
        {
            **settings.kafka.client_config(),
            "group.id": f"test-{uuid.uuid4().hex}",
            "isolation.level": "read_committed",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
        }
    )
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        open_partitions = set(partitions)
        records = []
        while open_partitions:
            msg = consumer.poll(10.0)
            assert msg is not None, f"{topic}: no end reported for {open_partitions}"
            error = msg.error()
            if error is not None and error.code() == KafkaError._PARTITION_EOF:
                open_partitions.discard(msg.partition())
                continue
            assert error is None, error
            records.append(msg)
        return records
    finally:
        consumer.close()


@pytest.mark.kafka
def test_stock_client_decodes_every_topic_of_the_pipeline(
    kafka_settings: Settings,
    run_offload: Callable[..., Any],
    registry_url: str,
) -> None:
    for args in (
        ("sor", "init"),
        ("simulate", "--transactions", "200", "--seed", "7"),
        ("cdc", "run", "--until-idle"),
    ):
        done = run_offload(kafka_settings, *args)
        assert done.returncode == 0, (args, done.stderr)
    config = {"url": registry_url, "basic.auth.user.info": f"any:{API_KEY}"}
    with SchemaRegistryClient(config) as client:
        decoded = _decode_all(kafka_settings, AvroDeserializer(client))
    prefix = kafka_settings.kafka.topic_prefix
    assert decoded[f"{prefix}.shipping.orders"] > 0
    assert decoded[f"{prefix}.transaction"] >= 2 * 200
    assert set(decoded) == set(_topics(kafka_settings))


def _decode_all(settings: Settings, decode: AvroDeserializer) -> dict[str, int]:
    """Decode every key and value of every topic; the count of decoded values per topic."""
    topics = _topics(settings)
    prefix = settings.kafka.topic_prefix
    assert f"{prefix}.shipping.orders" in topics and f"{prefix}.transaction" in topics
    decoded: dict[str, int] = {}
    for topic in topics:
        for msg in _records(settings, topic):
            key = decode(msg.key(), SerializationContext(topic, MessageField.KEY))
            assert isinstance(key, dict) and key, (topic, msg.offset())
            if msg.value() is None:  # a delete's tombstone
                continue
            value = decode(msg.value(), SerializationContext(topic, MessageField.VALUE))
            assert isinstance(value, dict), (topic, msg.offset())
            if topic.endswith(".transaction"):
                assert value["status"] in ("BEGIN", "END")
            elif ".shipping." in topic:
                assert value["op"] in ("c", "u", "d", "r")
                assert value["source"]["connector"] == "offload-db2"
                image = value["after"] or value["before"]
                assert set(key) <= set(image), (topic, key, image)
            decoded[topic] = decoded.get(topic, 0) + 1
    return decoded
