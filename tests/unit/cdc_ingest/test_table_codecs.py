"""Table encoders across Kafka transactions: kept after an abort that registered nothing (an
idle step), forgotten after an abort that registered a version (it was never committed)."""

from __future__ import annotations

from typing import Any

from cdc_ingest.table_codecs import Refusal, TableCodec, TableCodecs
from event_contract.avro_types import envelope_schema, key_schema
from event_contract.catalog import Column, Db2Type, Table
from event_contract.registry import (
    Schema,
    SchemaBook,
    SubjectVersion,
    storage_key,
    storage_value,
)

ORDERS = Table(
    "SHIPPING",
    "ORDERS",
    (Column("ORDER_ID", Db2Type.BIGINT, nullable=False), Column("STATUS", Db2Type.VARCHAR, 20)),
    ("ORDER_ID",),
)


class MemorySchemaStore:
    """A `SchemaStore` in memory with the topic store's pending rule: a version registered in
    a transaction is forgotten when that transaction aborts."""

    def __init__(self) -> None:
        self._committed: list[SubjectVersion] = []
        self._pending: list[SubjectVersion] = []
        self._book = SchemaBook()

    def register(self, subject: str, schema: Schema, *, accept_incompatible: bool = False) -> int:
        entry = self._book.plan(subject, schema, accept_incompatible)
        if self._book.version(subject, entry.version) is entry:
            return entry.id
        self._book.apply(storage_key(subject, entry.version), storage_value(entry))
        self._pending.append(entry)
        return entry.id

    def commit_pending(self) -> None:
        self._committed += self._pending
        self._pending = []

    def discard_pending(self) -> None:
        self._pending = []
        self._book = SchemaBook()
        for entry in self._committed:
            self._book.apply(storage_key(entry.subject, entry.version), storage_value(entry))

    def by_id(self, schema_id: int) -> Schema | None:
        return self._book.by_id(schema_id)

    def latest(self, subject: str) -> SubjectVersion | None:
        return self._book.latest(subject)

    def subjects(self) -> list[str]:
        return self._book.subjects()

    def versions(self, subject: str) -> list[int]:
        return self._book.versions(subject)

    def version(self, subject: str, version: int) -> SubjectVersion | None:
        return self._book.version(subject, version)


def _resolved(codecs: TableCodecs) -> TableCodec:
    codec = codecs.resolve(ORDERS)
    assert isinstance(codec, TableCodec)
    return codec


def test_an_abort_that_registered_nothing_keeps_the_encoders(settings_factory: Any) -> None:
    store = MemorySchemaStore()
    codecs = TableCodecs(store, settings_factory().kafka)
    codecs.begin()
    committed = _resolved(codecs)
    store.commit_pending()
    for _ in range(3):  # idle steps: begin, resolve, abort
        codecs.begin()
        assert _resolved(codecs) is committed
        store.discard_pending()
        codecs.forget_uncommitted()
    assert codecs.get(ORDERS.qualified_name) is committed
    assert len(store.subjects()) == 2  # key and value, registered once


def test_an_abort_that_registered_a_version_forgets_its_encoders(settings_factory: Any) -> None:
    store = MemorySchemaStore()
    codecs = TableCodecs(store, settings_factory().kafka)
    codecs.begin()
    _resolved(codecs)
    store.discard_pending()
    codecs.forget_uncommitted()
    assert codecs.get(ORDERS.qualified_name) is None
    assert store.subjects() == []
    codecs.begin()
    _resolved(codecs)  # registered again in the next transaction
    assert len(store.subjects()) == 2


# TIME moved from long time-micros to Debezium's int time-millis (README, "Design decisions").

SHIFTS = Table(
    "SHIPPING",
    "SHIFTS",
    (Column("SHIFT_ID", Db2Type.INTEGER, nullable=False), Column("STARTS", Db2Type.TIME)),
    ("SHIFT_ID",),
)


def micros_schema(schema: Any) -> Any:
    """`schema` as Offload wrote it before the change: every time-millis a long time-micros."""
    if isinstance(schema, dict):
        if schema.get("logicalType") == "time-millis":
            return {"type": "long", "logicalType": "time-micros"}
        return {k: micros_schema(v) for k, v in schema.items()}
    if isinstance(schema, list):
        return [micros_schema(v) for v in schema]
    return schema


def test_a_topic_written_with_time_micros_refuses_time_millis_until_accepted(
    settings_factory: Any,
) -> None:
    store = MemorySchemaStore()
    kafka = settings_factory().kafka
    topic = kafka.topic("SHIPPING", "SHIFTS")
    prefix = kafka.topic_prefix
    store.register(f"{topic}-key", key_schema(SHIFTS, prefix))
    store.register(f"{topic}-value", micros_schema(envelope_schema(SHIFTS, prefix)))
    codecs = TableCodecs(store, kafka)
    refusal = codecs.resolve(SHIFTS)
    assert isinstance(refusal, Refusal)
    assert refusal.message == (
        f"capture of table SHIPPING.SHIFTS stopped: column STARTS changed from "
        f"TIME (long time-micros) to TIME (int time-millis), which is not BACKWARD compatible "
        f"with version 1 of subject {topic}-value: Offload now writes Db2 TIME as Debezium "
        f"does (int time-millis, was long time-micros); Offload's readers read both, a "
        f"consumer reading the older records with the new schema does not; once the consumers "
        f"of {topic}-value read time-millis, run "
        f"`offload cdc resume SHIPPING.SHIFTS --accept-incompatible`"
    )
    assert store.latest(f"{topic}-value").version == 1  # type: ignore[union-attr]
    accepted = codecs.resolve(SHIFTS, accept_schema_id=refusal.schema_id)
    assert isinstance(accepted, TableCodec)
    assert accepted.value_schema_id == refusal.schema_id
    assert store.latest(f"{topic}-value").version == 2  # type: ignore[union-attr]


def test_another_type_change_still_says_revert_or_accept(settings_factory: Any) -> None:
    store = MemorySchemaStore()
    kafka = settings_factory().kafka
    topic = kafka.topic("SHIPPING", "ORDERS")
    codecs = TableCodecs(store, kafka)
    _resolved(codecs)
    narrowed = Table(
        "SHIPPING",
        "ORDERS",
        (Column("ORDER_ID", Db2Type.BIGINT, nullable=False), Column("STATUS", Db2Type.INTEGER)),
        ("ORDER_ID",),
    )
    refusal = codecs.resolve(narrowed)
    assert isinstance(refusal, Refusal)
    assert refusal.message == (
        f"capture of table SHIPPING.ORDERS stopped: column STATUS changed from VARCHAR(20) to "
        f"INTEGER, which is not BACKWARD compatible with version 1 of subject {topic}-value; "
        f"revert the change or run `offload cdc resume SHIPPING.ORDERS --accept-incompatible`"
    )
