"""Per-table key and value encoders, and the schema versions behind them.

`TableCodecs.resolve(table)` gives the encoders of a table's current catalog, registering a
new schema version when the catalog changed (in the caller's Kafka transaction: the schema
store produces through the transactional producer). A catalog whose value (or key) schema is
not BACKWARD compatible with the subject's latest version gives a `Refusal` naming table,
column and both types instead, unless the operator accepted exactly that schema. Encoders are
compiled once and kept across transactions; only those that registered a new version in a
transaction that aborted are forgotten (`forget_uncommitted`): that version was not committed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cdc_ingest.event_writer import EventWriter
from config import KafkaSettings
from event_contract.avro_types import (
    envelope_schema,
    key_schema,
    transaction_key_schema,
    transaction_value_schema,
)
from event_contract.catalog import Table
from event_contract.codec import Codec, Encoder
from event_contract.compatibility import TIME_ENCODING_NOTE
from event_contract.envelope import TableLayout
from event_contract.errors import SchemaIncompatibleError
from event_contract.registry import SchemaStore, SubjectVersion, schema_id

logger = logging.getLogger(__name__)

Encode = Callable[[Mapping[str, Any]], bytes]
TRANSACTION_TOPIC = "transaction"


@dataclass(frozen=True, slots=True)
class TableCodec:
    """What publishing one table's events needs: its layout, topic, encoders and version."""

    table: Table
    layout: TableLayout
    topic: str
    encode_key: Encode
    encode_value: Encode
    value_schema_id: int
    events: EventWriter
    key_schema_id: int


@dataclass(frozen=True, slots=True)
class Refusal:
    """A table whose new catalog gives a schema that is not BACKWARD compatible.

    Attributes:
        table: SCHEMA.TABLE.
        schema_id: the id of the refused value (or key) schema; accepting means accepting it.
        message: names the table, the column and both types, and what to do.
    """

    table: str
    schema_id: int
    message: str


class TableCodecs:
    """Encoders of every captured table and of the transaction markers.

    Args:
        store: where schemas are registered (its producer must be the transactional one).
        kafka: the topic prefix and names.
    """

    def __init__(self, store: SchemaStore, kafka: KafkaSettings) -> None:
        self.store = store
        self.kafka = kafka
        self._codec = Codec(store.by_id)
        self._tables: dict[str, TableCodec] = {}
        self.marker_topic = kafka.topic(TRANSACTION_TOPIC)
        self._markers: tuple[Encode, Encode] | None = None
        self._new_in_transaction: set[str] = set()
        self._markers_new_in_transaction = False
        self._added_version = False

    def begin(self) -> None:
        """A Kafka transaction begins: versions registered from now on belong to it."""
        self._new_in_transaction.clear()
        self._markers_new_in_transaction = False

    def forget_uncommitted(self) -> None:
        """The transaction aborted: forget the encoders that registered a new version in it
        (that version was not committed; it is registered again on the next use). The others
        are kept: compiling them again would cost milliseconds per table on every idle step."""
        for name in self._new_in_transaction:
            self._tables.pop(name, None)
        if self._markers_new_in_transaction:
            self._markers = None
        self.begin()

    def markers(self) -> tuple[Encode, Encode]:
        """(encode key, encode value) of transaction markers, registering their schemas."""
        if self._markers is None:
            self._added_version = False
            prefix = self.kafka.topic_prefix
            key = self._encoder(f"{self.marker_topic}-key", transaction_key_schema(prefix))
            value = self._encoder(f"{self.marker_topic}-value", transaction_value_schema(prefix))
            self._markers = (key, value)
            self._markers_new_in_transaction = self._added_version
        return self._markers

    def versions(self) -> dict[str, int | None]:
        """The latest value schema version of every resolved table, by SCHEMA.TABLE."""
        return {name: self.version(codec.table) for name, codec in self._tables.items()}

    def topics(self) -> set[str]:
        """The topics written so far: the marker topic and every resolved table's topic."""
        return {self.marker_topic, *(codec.topic for codec in self._tables.values())}

    def get(self, table: str) -> TableCodec | None:
        """The codec resolved last for `table`, or None."""
        return self._tables.get(table)

    def resolve(self, table: Table, accept_schema_id: int | None = None) -> TableCodec | Refusal:
        """The codec of `table`'s catalog, registering new schema versions when it changed."""
        name = table.qualified_name
        known = self._tables.get(name)
        if known is not None and known.table == table:
            return known
        prefix = self.kafka.topic_prefix
        topic = self.kafka.topic(table.schema, table.name)
        schemas = {"key": key_schema(table, prefix), "value": envelope_schema(table, prefix)}
        encoders: dict[str, Encoder] = {}
        self._added_version = False
        for part, schema in schemas.items():
            subject = f"{topic}-{part}"
            accept = accept_schema_id == schema_id(schema)
            try:
                encoders[part] = self._registered(subject, schema, accept)
            except SchemaIncompatibleError as exc:
                return Refusal(name, schema_id(schema), _refusal_message(name, part, exc))
        key, value = encoders["key"], encoders["value"]
        layout = TableLayout(table)
        codec = TableCodec(
            table,
            layout,
            topic,
            key.encode,
            value.encode,
            value.schema_id,
            EventWriter(layout, (key.schema_id, key.schema), (value.schema_id, value.schema)),
            key.schema_id,
        )
        self._tables[name] = codec
        if self._added_version:
            self._new_in_transaction.add(name)
        return codec

    def version(self, table: Table) -> int | None:
        """The latest value schema version of `table`'s topic, or None."""
        topic = self.kafka.topic(table.schema, table.name)
        latest = self.store.latest(f"{topic}-value")
        return None if latest is None else latest.version

    def _encoder(self, subject: str, schema: dict[str, Any]) -> Encode:
        return self._registered(subject, schema).encode

    def _registered(self, subject: str, schema: dict[str, Any], accept: bool = False) -> Encoder:
        before = _version_of(self.store.latest(subject))
        registered = self.store.register(subject, schema, accept_incompatible=accept)
        if _version_of(self.store.latest(subject)) != before:
            self._added_version = True
        return self._codec.encoder(registered, schema)


def _version_of(latest: SubjectVersion | None) -> tuple[int, int] | None:
    return None if latest is None else (latest.version, latest.id)


def _refusal_message(table: str, part: str, exc: SchemaIncompatibleError) -> str:
    what = f"column {exc.field}" if exc.field else f"the {part} schema"
    change = (
        f"{what} changed from {exc.old_type} to {exc.new_type}"
        if exc.field and exc.old_type != "(absent)"
        else exc.reason
    )
    stopped = (
        f"capture of table {table} stopped: {change}, which is not BACKWARD compatible with "
        f"version {exc.version} of subject {exc.subject}"
    )
    if TIME_ENCODING_NOTE in exc.reason:
        return (
            f"{stopped}: {TIME_ENCODING_NOTE}; once the consumers of {exc.subject} read "
            f"time-millis, run `offload cdc resume {table} --accept-incompatible`"
        )
    return f"{stopped}; revert the change or run `offload cdc resume {table} --accept-incompatible`"
