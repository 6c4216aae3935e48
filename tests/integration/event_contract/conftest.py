"""What the schema store contract suites share: the schemas they register, and a writer that
commits registrations to the `<prefix>._schemas` topic of the real test broker.

Fixtures:
    schemas: function; the `ContractSchemas` every suite registers.
    topic_writer: function; a `TopicWriter` on the test's own `_schemas` topic.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from confluent_kafka import Producer

from config import KafkaSettings, Settings
from event_contract.registry import Schema
from event_contract.schema_stores import TopicSchemaStore

_NAMESPACE = "offload.contract.orders"
NOTE = {"name": "NOTE", "type": ["null", "string"], "default": None, "db2Type": "VARCHAR(40)"}
PORT = {"name": "PORT", "type": ["null", "string"], "default": None, "db2Type": "CHAR(5)"}


def _value(*extra: dict[str, Any], scale: int = 2) -> Schema:
    amount = {"type": "bytes", "logicalType": "decimal", "precision": 9, "scale": scale}
    return {
        "type": "record",
        "name": "Value",
        "namespace": _NAMESPACE,
        "fields": [
            {"name": "ORDER_ID", "type": "long", "db2Type": "BIGINT"},
            {
                "name": "AMOUNT",
                "type": ["null", amount],
                "default": None,
                "db2Type": f"DECIMAL(9,{scale})",
            },
            *extra,
        ],
    }


def _one_field(name: str, kind: str) -> Schema:
    field = {"name": "QUANTITY", "type": kind}
    return {"type": "record", "name": name, "namespace": _NAMESPACE, "fields": [field]}


@dataclass(frozen=True)
class ContractSchemas:
    """The schemas the suites register.

    Attributes:
        v1: a value schema: ORDER_ID BIGINT NOT NULL, AMOUNT DECIMAL(9,2).
        v2: v1 plus NOTE VARCHAR(40) with a default: BACKWARD compatible with v1.
        v3: v2 plus PORT CHAR(5) with a default: BACKWARD compatible with v2.
        incompatible: v2 with AMOUNT DECIMAL(9,3): not BACKWARD compatible with v2.
        key: a key schema (ORDER_ID only).
        narrow: QUANTITY int; `wide` (QUANTITY long) reads its data, not the reverse.
        wide: QUANTITY long.
        never_registered: a schema no suite registers (its id is unknown to every store).
    """

    v1: Schema
    v2: Schema
    v3: Schema
    incompatible: Schema
    key: Schema
    narrow: Schema
    wide: Schema
    never_registered: Schema


@pytest.fixture
def schemas() -> ContractSchemas:
    """Fresh copies of the suites' schemas (a store may not change what it was given)."""
    order_id = {"name": "ORDER_ID", "type": "long", "db2Type": "BIGINT"}
    key: Schema = {"type": "record", "name": "Key", "namespace": _NAMESPACE, "fields": [order_id]}
    return ContractSchemas(
        v1=_value(),
        v2=_value(NOTE),
        v3=_value(NOTE, PORT),
        incompatible=_value(NOTE, scale=3),
        key=key,
        narrow=_one_field("Quantity", "int"),
        wide=_one_field("Quantity", "long"),
        never_registered=_one_field("NeverRegistered", "string"),
    )


class TopicWriter:
    """Registers schemas in the `_schemas` topic and commits each one before returning.

    It registers as capture does when it has no transaction: through a `TopicSchemaStore`
    with a plain producer, then `flush` and `commit_pending`.
    """

    def __init__(self, kafka: KafkaSettings) -> None:
        self.producer = Producer(kafka.client_config())
        self.store = TopicSchemaStore(kafka, self.producer)
        self.store.ensure_topic()

    def register(self, subject: str, schema: Schema) -> int:
        """Register `schema` under `subject` and wait until the broker has it."""
        schema_id = self.store.register(subject, schema)
        assert self.producer.flush(30) == 0, f"a registration of {subject} was not delivered"
        self.store.commit_pending()
        return schema_id


@pytest.fixture
def topic_writer(kafka_settings: Settings) -> Iterator[TopicWriter]:
    """A `TopicWriter` on this test's own `<prefix>._schemas` topic."""
    writer = TopicWriter(kafka_settings.kafka)
    yield writer
    writer.producer.flush(30)
