"""A reader of reference topics that knows nothing of the loader's code: a plain
read_committed consumer, the schemas from `<prefix>._schemas` as JSON, fastavro."""

from __future__ import annotations

import io
import json
import struct
import time
import uuid
from dataclasses import dataclass
from typing import Any

import fastavro
import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

from config import Settings


@dataclass(frozen=True)
class Message:
    """One committed record, decoded."""

    partition: int
    offset: int
    key: dict[str, Any]
    value: dict[str, Any] | None


def _raw(settings: Settings, topic: str, settle_s: float) -> list[tuple[int, int, Any, Any]]:
    """Every record read_committed can see of `topic`, all partitions.

    read_committed stops at the last stable offset: records of an open transaction are not
    returned. The read ends when every partition has been at its end for `settle_s`.
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
        meta = consumer.list_topics(topic, timeout=10).topics.get(topic)
        if meta is None or meta.error is not None:
            return []
        parts = list(meta.partitions)
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in parts])
        out: list[tuple[int, int, Any, Any]] = []
        at_end: dict[int, float] = {}
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            msg = consumer.poll(0.1)
            now = time.monotonic()
            if msg is not None:
                error, partition = msg.error(), int(msg.partition() or 0)
                if error is None:
                    at_end.pop(partition, None)
                    out.append((partition, int(msg.offset() or 0), msg.key(), msg.value()))
                elif error.code() == KafkaError._PARTITION_EOF:
                    at_end.setdefault(partition, now)
            if len(at_end) == len(parts) and all(now - t >= settle_s for t in at_end.values()):
                return out
        raise AssertionError(f"topic {topic} was not read to its end in 60 s")
    finally:
        consumer.close()


def _schemas(settings: Settings) -> dict[int, Any]:
    out = {}
    for _, _, key, value in _raw(settings, f"{settings.kafka.topic_prefix}._schemas", 0.3):
        if key and value and json.loads(key).get("keytype") == "SCHEMA":
            record = json.loads(value)
            out[record["id"]] = fastavro.parse_schema(json.loads(record["schema"]))
    return out


def _decode(schemas: dict[int, Any], data: bytes) -> dict[str, Any]:
    magic, schema_id = struct.unpack(">bI", data[:5])
    assert magic == 0
    return fastavro.schemaless_reader(io.BytesIO(data[5:]), schemas[schema_id], None)  # type: ignore[return-value]


class TopicReader:
    """Reads a reference topic back: `reader.messages(settings, "products")`."""

    def messages(self, settings: Settings, name: str, settle_s: float = 0.5) -> list[Message]:
        """Every committed record of `<prefix>.reference.<name>`, in partition/offset order."""
        raw = _raw(settings, settings.kafka.topic("reference", name), settle_s)
        schemas = _schemas(settings) if raw else {}
        out = [
            Message(p, o, _decode(schemas, k), _decode(schemas, v) if v is not None else None)
            for p, o, k, v in sorted(raw, key=lambda r: (r[0], r[1]))
        ]
        return out

    def table(self, settings: Settings, name: str, key: str) -> dict[Any, dict[str, Any]]:
        """The compacted view: latest value per key, tombstoned keys removed."""
        out: dict[Any, dict[str, Any]] = {}
        for m in self.messages(settings, name):
            if m.value is None:
                out.pop(m.key[key], None)
            else:
                out[m.key[key]] = m.value
        return out


@pytest.fixture
def topic_reader() -> TopicReader:
    """A plain reader of reference topics (independent of reference_loader)."""
    return TopicReader()
