"""A reader that knows nothing of this project's code: confluent_kafka Consumer with
read_committed, fastavro, schemas from `<prefix>._schemas`, and sqlite3 on the capture tables.
"""

from __future__ import annotations

import io
import json
import sqlite3
import struct
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fastavro
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition


@dataclass
class Message:
    topic: str
    partition: int
    offset: int
    key: Any
    value: Any


def _consumer(bootstrap: str, isolation: str) -> Consumer:
    return Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"plain-{uuid.uuid4().hex}",
            "isolation.level": isolation,
            "enable.partition.eof": True,
            "enable.auto.commit": False,
        }
    )


def end_offset(bootstrap: str, topic: str, isolation: str = "read_committed") -> int:
    """The end of partition 0 of `topic` as a reader at `isolation` sees it now (for
    read_committed, the last stable offset: before the oldest transaction still open)."""
    consumer = _consumer(bootstrap, isolation)
    try:
        return int(consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)[1])
    finally:
        consumer.close()


def read_topic(
    bootstrap: str,
    topic: str,
    timeout_s: float = 60.0,
    *,
    isolation: str = "read_committed",
    start: int = OFFSET_BEGINNING,
) -> list[tuple[int, int, bytes | None, bytes | None]]:
    """(partition, offset, key, value) of every record of `topic` from offset `start`, to its
    end now: the committed ones, or with isolation="read_uncommitted" those of transactions
    still open too. The end is judged by position (markers take offsets, never delivered)."""
    consumer = _consumer(bootstrap, isolation)
    try:
        meta = consumer.list_topics(topic, timeout=10).topics[topic]
        parts = sorted(meta.partitions)
        highs = {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in parts
        }
        consumer.assign([TopicPartition(topic, p, start) for p in parts])
        done = {p for p in parts if highs[p] <= max(start, 0)}  # OFFSET_BEGINNING is < 0
        out = []
        deadline = time.monotonic() + timeout_s
        while len(done) < len(parts):
            assert time.monotonic() < deadline, f"did not reach the end of {topic}"
            msg = consumer.poll(0.2)
            if msg is None:
                continue
            err = msg.error()
            partition, offset = int(msg.partition() or 0), int(msg.offset() or 0)
            if err is None:
                out.append((partition, offset, msg.key(), msg.value()))
                offset += 1
            elif err.code() != KafkaError._PARTITION_EOF:
                raise AssertionError(str(err))
            if offset >= highs[partition]:
                done.add(partition)
        return out
    finally:
        consumer.close()


class Schemas:
    """Schemas by id from `<prefix>._schemas` (Confluent storage records)."""

    def __init__(self, bootstrap: str, prefix: str) -> None:
        self.by_id: dict[int, Any] = {}
        self.versions: dict[str, list[int]] = {}
        for _, _, key, value in read_topic(bootstrap, f"{prefix}._schemas"):
            if value is None:
                continue
            record = json.loads(value)
            self.by_id[record["id"]] = fastavro.parse_schema(json.loads(record["schema"]))
            self.versions.setdefault(record["subject"], []).append(record["version"])

    def decode(self, data: bytes | None) -> Any:
        if data is None:
            return None
        magic, schema_id = struct.unpack(">bI", data[:5])
        assert magic == 0
        body = io.BytesIO(data[5:])
        record = fastavro.schemaless_reader(body, self.by_id[schema_id], None)
        assert body.tell() == len(data) - 5
        return record


def read_events(
    bootstrap: str, prefix: str, tables: list[str]
) -> tuple[dict[str, list[Message]], list[Any]]:
    """Decoded change events per table topic and the decoded transaction markers."""
    # Schemas last: a transaction's commit markers reach each partition a moment after the
    # commit returns, so a schema read first may miss a registration whose events come next.
    raw = {table: read_topic(bootstrap, f"{prefix}.{table.lower()}") for table in tables}
    raw_markers = read_topic(bootstrap, f"{prefix}.transaction")
    schemas = Schemas(bootstrap, prefix)
    events = {}
    for table in tables:
        topic = f"{prefix}.{table.lower()}"
        events[table] = [
            Message(topic, p, o, schemas.decode(k), schemas.decode(v)) for p, o, k, v in raw[table]
        ]
    markers = [schemas.decode(v) for _, _, _, v in raw_markers]
    return events, markers


def capture_rows(path: Path, schema: str = "SHIPPING") -> dict[str, list[tuple[int, int, str]]]:
    """(LSN, INTENTSEQ, operation) of every capture row, per SCHEMA.TABLE."""
    conn = sqlite3.connect(path)
    try:
        regs = conn.execute(
            "SELECT SOURCE_OWNER, SOURCE_TABLE, CD_TABLE FROM IBMSNAP_REGISTER"
        ).fetchall()
        rows = {}
        for owner, table, cd in regs:
            rows[f"{owner}.{table}"] = [
                (int(a), int(b), str(c))
                for a, b, c in conn.execute(
                    f'SELECT IBMSNAP_COMMITSEQ, IBMSNAP_INTENTSEQ, IBMSNAP_OPERATION FROM "{cd}"'
                )
            ]
        return rows
    finally:
        conn.close()


_OPS = {"c": "I", "u": "U", "d": "D"}


def compare(
    events: dict[str, list[Message]],
    markers: list[Any],
    rows: dict[str, list[tuple[int, int, str]]],
) -> dict[str, Any]:
    """Missing and extra change events against the capture rows, order and END-count problems."""
    published: Counter[tuple[str, int, int, str]] = Counter()
    per_uow: Counter[tuple[str, str]] = Counter()
    order_errors = []
    tombstone_errors = 0
    for table, messages in events.items():
        last: dict[Any, tuple[int, int]] = {}
        for i, m in enumerate(messages):
            if m.value is None:
                continue
            src = m.value["source"]
            if m.value["op"] == "r":
                continue
            published[(table, src["commit_lsn"], src["change_lsn"], _OPS[m.value["op"]])] += 1
            per_uow[(m.value["transaction"]["id"], table)] += 1
            key = (m.partition, json.dumps(m.key, sort_keys=True, default=str))
            version = (src["commit_lsn"], src["change_lsn"])
            if key in last and last[key] >= version:
                order_errors.append((table, m.key, last[key], version))
            last[key] = version
            if m.value["op"] == "d":
                nxt = [x for x in messages[i + 1 :] if x.partition == m.partition]
                if not nxt or nxt[0].value is not None or nxt[0].key != m.key:
                    tombstone_errors += 1
    expected = Counter((t, lsn, seq, op) for t, rs in rows.items() for lsn, seq, op in rs)
    ends = [mk for mk in markers if mk["status"] == "END" and not mk["id"].startswith("snapshot:")]
    end_errors = []
    for mk in ends:
        for dc in mk["data_collections"]:
            got = per_uow[(mk["id"], dc["data_collection"])]
            if got != dc["event_count"]:
                end_errors.append((mk["id"], dc, got))
    return {
        "missing": expected - published,
        "extra": published - expected,
        "duplicates": {k: v for k, v in published.items() if v > 1},
        "order_errors": order_errors,
        "end_errors": end_errors,
        "tombstone_errors": tombstone_errors,
        "events": sum(published.values()),
        "ends": len(ends),
    }


import sys  # noqa: E402
import types  # noqa: E402

import pytest  # noqa: E402


@pytest.fixture
def plain() -> types.ModuleType:
    """This module: the plain reader's functions (read_events, capture_rows, compare)."""
    return sys.modules[__name__]


def settings_env(settings: Any, prefix: str = "OFFLOAD") -> dict[str, str]:
    """Every non-secret, non-null setting as OFFLOAD__ variables (as tests/conftest.py does)."""
    from pydantic import BaseModel, SecretStr
    from pydantic_core import to_jsonable_python

    env: dict[str, str] = {}
    for name, field in type(settings).model_fields.items():
        value = getattr(settings, name)
        key = f"{prefix}__{(field.alias or name).upper()}"
        if isinstance(value, BaseModel):
            env.update(settings_env(value, key))
        elif value is not None and not isinstance(value, SecretStr):
            plain_value = to_jsonable_python(value)
            env[key] = plain_value if isinstance(plain_value, str) else json.dumps(plain_value)
    return env
