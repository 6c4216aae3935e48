"""The `<prefix>._schemas` topic against the real broker, read back by a reader that knows
nothing of this project's code: a plain consumer, json and fastavro."""

from __future__ import annotations

import io
import json
import struct
import subprocess
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import fastavro
import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition

from config import Settings
from event_contract.avro_types import envelope_schema, key_schema
from event_contract.catalog import Column, Db2Type, Table
from event_contract.changes import Op, RowChange
from event_contract.codec import Codec
from event_contract.envelope import SourceInfo, TableLayout, TxInfo, change_envelope, key_record
from event_contract.errors import SchemaIncompatibleError
from event_contract.schema_stores import TopicSchemaStore
from plumbing.topics import ensure_topic

pytestmark = pytest.mark.kafka

ORDERS = Table(
    "SHIPPING",
    "ORDERS",
    (
        Column("ORDER_ID", Db2Type.BIGINT, nullable=False),
        Column("AMOUNT", Db2Type.DECIMAL, 31, 2),
        Column("CODE", Db2Type.CHAR, 8),
        Column("UPDATED_AT", Db2Type.TIMESTAMP),
    ),
    ("ORDER_ID",),
)


def _read_all(settings: Settings, topic: str) -> list[tuple[bytes | None, bytes | None]]:
    """Every committed record of (single-partition) `topic`, as a stock client reads them.

    Reads until the end of the partition reaches the high watermark seen at the start, since
    a transaction's commit markers are written just after `commit_transaction` returns.
    """
    consumer = Consumer(
        {
            **settings.kafka.client_config(),
            "group.id": f"plain-{uuid.uuid4().hex}",
            "isolation.level": "read_committed",
            "enable.partition.eof": True,
            "enable.auto.commit": False,
        }
    )
    try:
        partition = TopicPartition(topic, 0, OFFSET_BEGINNING)
        _, high = consumer.get_watermark_offsets(partition, timeout=10)
        consumer.assign([partition])
        records: list[tuple[bytes | None, bytes | None]] = []
        for _ in range(300):
            message = consumer.poll(0.2)
            if message is None:
                continue
            error = message.error()
            if error is None:
                records.append((message.key(), message.value()))
            elif error.code() != KafkaError._PARTITION_EOF:
                raise AssertionError(str(error))
            elif (message.offset() or 0) >= high:
                return records
        raise AssertionError(f"did not reach the end of {topic}")
    finally:
        consumer.close()


def _transactional_producer(settings: Settings) -> Producer:
    producer = Producer(
        {**settings.kafka.client_config(), "transactional.id": f"test-{uuid.uuid4().hex}"}
    )
    producer.init_transactions(30)
    return producer


def _plain_decode(schemas: dict[int, str], data: bytes) -> Any:
    magic, schema_id = struct.unpack(">bI", data[:5])
    assert magic == 0
    parsed = fastavro.parse_schema(json.loads(schemas[schema_id]))
    return fastavro.schemaless_reader(io.BytesIO(data[5:]), parsed, None)


def test_schemas_written_in_a_transaction_decode_with_a_plain_reader(
    kafka_settings: Settings,
) -> None:
    prefix = kafka_settings.kafka.topic_prefix
    topic = kafka_settings.kafka.topic("shipping", "orders")
    ensure_topic(kafka_settings.kafka, topic, 1, {"cleanup.policy": "delete"})
    store = TopicSchemaStore(kafka_settings.kafka)
    store.ensure_topic()
    producer = _transactional_producer(kafka_settings)
    store.producer = producer
    codec = Codec(store.by_id)

    row = {
        "ORDER_ID": 9,
        "AMOUNT": Decimal("-" + "9" * 29 + ".99"),
        "CODE": "AB      ",
        "UPDATED_AT": datetime(2024, 2, 29, 23, 59, 59, 999_999),
    }
    layout = TableLayout(ORDERS)
    change = RowChange("SHIPPING.ORDERS", Op.INSERT, 5, 1, None, row)
    envelope = change_envelope(
        change, layout, TxInfo("uow-5", 5, 1), SourceInfo(prefix, "SOR"), order=(1, 1), ts_ms=2
    )

    producer.begin_transaction()
    key_id = store.register(f"{topic}-key", key_schema(ORDERS, prefix))
    value_id = store.register(f"{topic}-value", envelope_schema(ORDERS, prefix))
    key_bytes = codec.encoder(key_id, key_schema(ORDERS, prefix)).encode(key_record(layout, row))
    value_bytes = codec.encoder(value_id, envelope_schema(ORDERS, prefix)).encode(envelope)
    producer.produce(topic, key=key_bytes, value=value_bytes)
    producer.commit_transaction(30)
    store.commit_pending()

    # A new version whose transaction aborts is never seen, and is produced again next time.
    wider = replace(ORDERS, columns=(*ORDERS.columns, Column("NOTE", Db2Type.VARCHAR, 20)))
    producer.begin_transaction()
    aborted_id = store.register(f"{topic}-value", envelope_schema(wider, prefix))
    producer.abort_transaction(30)
    store.discard_pending()
    latest = store.latest(f"{topic}-value")
    assert latest is not None and (latest.version, latest.id) == (1, value_id)

    stored = _read_all(kafka_settings, kafka_settings.kafka.topic("_schemas"))
    keys = [json.loads(k or b"null") for k, _ in stored]
    values = [json.loads(v or b"null") for _, v in stored]
    assert keys == [
        {"keytype": "SCHEMA", "subject": f"{topic}-key", "version": 1, "magic": 1},
        {"keytype": "SCHEMA", "subject": f"{topic}-value", "version": 1, "magic": 1},
    ]
    schemas = {v["id"]: v["schema"] for v in values}
    assert set(schemas) == {key_id, value_id} and aborted_id not in schemas

    ((raw_key, raw_value),) = _read_all(kafka_settings, topic)
    assert raw_key is not None and raw_value is not None
    assert _plain_decode(schemas, raw_key) == {"ORDER_ID": 9}
    decoded = _plain_decode(schemas, raw_value)
    assert decoded == envelope
    assert decoded["after"]["CODE"] == "AB"

    producer.begin_transaction()
    assert store.register(f"{topic}-value", envelope_schema(wider, prefix)) == aborted_id
    producer.commit_transaction(30)
    store.commit_pending()
    fresh = TopicSchemaStore(kafka_settings.kafka)
    assert fresh.versions(f"{topic}-value") == [1, 2]
    assert fresh.subjects() == [f"{topic}-key", f"{topic}-value"]
    assert Codec(fresh.by_id).decode(value_bytes) == envelope


def test_an_incompatible_version_is_refused_and_nothing_is_written(
    kafka_settings: Settings,
) -> None:
    prefix = kafka_settings.kafka.topic_prefix
    subject = f"{kafka_settings.kafka.topic('shipping', 'orders')}-value"
    store = TopicSchemaStore(kafka_settings.kafka)
    store.ensure_topic()
    producer = Producer(kafka_settings.kafka.client_config())
    store.producer = producer
    store.register(subject, envelope_schema(ORDERS, prefix))
    producer.flush(30)
    store.commit_pending()

    changed = replace(
        ORDERS,
        columns=(ORDERS.columns[0], Column("AMOUNT", Db2Type.DECIMAL, 9, 2), *ORDERS.columns[2:]),
    )
    fresh = TopicSchemaStore(kafka_settings.kafka, producer)
    with pytest.raises(SchemaIncompatibleError) as caught:
        fresh.register(subject, envelope_schema(changed, prefix))
    assert str(caught.value) == (
        f"new schema for subject {subject} is not BACKWARD compatible with version 1: "
        "field AMOUNT changed type from DECIMAL(31,2) to DECIMAL(9,2)"
    )
    producer.flush(30)
    assert len(_read_all(kafka_settings, kafka_settings.kafka.topic("_schemas"))) == 1


def test_schemas_list_and_export_commands(
    kafka_settings: Settings,
    run_offload: Callable[..., subprocess.CompletedProcess[str]],
    tmp_path: Path,
) -> None:
    prefix = kafka_settings.kafka.topic_prefix
    subject = f"{kafka_settings.kafka.topic('shipping', 'orders')}-value"
    store = TopicSchemaStore(kafka_settings.kafka)
    store.ensure_topic()
    producer = Producer(kafka_settings.kafka.client_config())
    store.producer = producer
    schema_id = store.register(subject, envelope_schema(ORDERS, prefix))
    producer.flush(30)

    listed = run_offload(kafka_settings, "schemas", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == [
        {"subject": subject, "versions": [1], "latest_version": 1, "latest_id": schema_id}
    ]
    exported = run_offload(kafka_settings, "schemas", "export", str(tmp_path / "out"))
    assert exported.returncode == 0, exported.stderr
    written = json.loads((tmp_path / "out" / subject / "v1.avsc").read_text())
    assert written == envelope_schema(ORDERS, prefix)
