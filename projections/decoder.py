"""Kafka records → change events, transaction markers and reference records.

`RecordDecoder` decodes a consumed record (`plumbing.topic_reader.Record`) with the contract's
codec and the topology: a change topic's record becomes a `DecodedChange` (its tombstone:
None), the transaction topic's a `TxMarker`, a reference topic's a `DecodedChange` of table
`REFERENCE.<NAME>` whose version is its offset (a reference record has no LSN) and whose null
value deletes the key. Anything else raises `DecodeFailure` naming the topic, partition,
offset and reason. `error_record` is what the error table keeps of a record that failed.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import pyarrow as pa

from event_contract.avro_arrow import ArrowDecoder
from event_contract.codec import HEADER_SIZE
from event_contract.errors import EventContractError
from plumbing.topic_reader import Record
from projections.errorlog import ErrorRecord
from projections.errors import ContractError, DecodeFailure
from projections.events import (
    DecodedChange,
    TxMarker,
    decoded_change_from_envelope,
    decoded_changes_from_envelopes,
    marker_from_value,
)
from projections.topology import Topology

BULK_MIN = 8
"""Change records of one topic and schema in a poll from which they are decoded together
(`RecordDecoder.decode_many`); fewer are decoded one by one."""
logger = logging.getLogger(__name__)

REFERENCE_UOW = "reference"
"""The unit-of-work id given to reference records (they belong to none)."""
_NOT_NEEDED = frozenset(
    {
        "before",
        "ts_ms",
        "source.version",
        "source.connector",
        "source.name",
        "source.snapshot",
        "source.db",
        "transaction.total_order",
        "transaction.data_collection_order",
    }
)
"""Envelope fields the read side never looks at: stepped over, not decoded."""


class Decoding(Protocol):
    """What decoding needs of the contract's codec."""

    def decode(self, data: bytes, skip: frozenset[str] = ...) -> Any:
        """The record in a wire-format message, without the top-level fields in `skip`."""
        ...

    def writer_schema(self, schema_id: int) -> Mapping[str, Any]:
        """The schema registered under `schema_id`."""
        ...


def error_record(
    record: Record, kind: str, reason: str, topology: Topology | None = None
) -> ErrorRecord:
    """The error-table record of a consumed record that could not be decoded or applied."""
    table = None
    if topology is not None:
        spec = topology.change.get(record.topic) or topology.reference.get(record.topic)
        table = None if spec is None else spec.source_name
    return ErrorRecord(
        kind=kind,
        reason=reason,
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        raw_key=record.key,
        raw_value=record.value,
        headers=record.headers,
        source_table=table,
    )


class RecordDecoder:
    """Decodes the records of one topology.

    Args:
        codec: the contract's codec over the schema store.
        topology: the topics read.
    """

    def __init__(self, codec: Decoding, topology: Topology) -> None:
        self._codec = codec
        self.topology = topology
        self._arrow: dict[int, ArrowDecoder] = {}

    def decode(self, record: Record) -> DecodedChange | TxMarker | None:
        """The event or marker of `record`; None for a change topic's tombstone.

        Raises:
            DecodeFailure: bad bytes, an unknown schema id, or a contract violation.
        """
        try:
            if record.topic == self.topology.tx_topic:
                return marker_from_value(record.topic, record.offset, self._value(record))
            if record.topic in self.topology.reference:
                return self._reference(record)
            return self._change(record)
        except ContractError as exc:
            raise DecodeFailure(record.topic, record.partition, record.offset, exc.reason) from exc
        except EventContractError as exc:
            raise DecodeFailure(record.topic, record.partition, record.offset, str(exc)) from exc

    def decode_many(self, records: Sequence[Record]) -> dict[int, DecodedChange]:
        """The change events among `records` decoded together, a topic and schema at a time.

        The envelopes of at least `BULK_MIN` records of one change topic and schema id are
        decoded into Arrow at once (`event_contract.avro_arrow`: a few µs a record instead
        of 20-30), their after images kept there (`events.ArrowRow`), and their keys too
        when they share a key schema. Returns index in `records` → event, for the records
        decoded so; `decode` takes every other record (markers, reference records,
        tombstones, small groups, and any record the bulk decode or the contract's checks did
        not take), and names the reason when one fails, as before.
        """
        groups: dict[tuple[str, bytes], list[int]] = {}
        change = self.topology.change
        for i, record in enumerate(records):
            value = record.value
            if value is not None and len(value) > HEADER_SIZE and record.topic in change:
                groups.setdefault((record.topic, value[:HEADER_SIZE]), []).append(i)
        out: dict[int, DecodedChange] = {}
        for (topic, header), members in groups.items():
            if len(members) >= BULK_MIN:
                chosen = [records[i] for i in members]
                schema_id = int.from_bytes(header[1:], "big")
                try:
                    events = self._bulk(topic, schema_id, chosen)
                except pa.ArrowException as exc:  # a shape Arrow cannot take: one by one
                    logger.warning(
                        "schema id %d: decoding one record at a time: %s", schema_id, exc
                    )
                    continue
                out.update((i, e) for i, e in zip(members, events, strict=True) if e is not None)
        return out

    def _bulk(
        self, topic: str, schema_id: int, records: Sequence[Record]
    ) -> Sequence[DecodedChange | None]:
        decoder = self._arrow_decoder(schema_id)
        values = [r.value for r in records if r.value is not None]
        envelopes = None if decoder is None else decoder.decode(values)
        if not isinstance(envelopes, pa.StructArray):
            return [None] * len(records)
        spec = self.topology.change[topic]
        keys = self._keys(records, len(spec.primary_key))
        return decoded_changes_from_envelopes(records, keys, envelopes, spec.source_name)

    def _keys(self, records: Sequence[Record], width: int) -> list[tuple[Any, ...] | None]:
        """Each record's key values (None where it does not decode to `width` fields): all at
        once when they share a key schema and that decodes, else one by one."""
        raw = [r.key for r in records]
        heads = {k[:HEADER_SIZE] for k in raw if k is not None}
        if len(heads) == 1 and None not in raw:
            schema_id = int.from_bytes(next(iter(heads))[1:], "big")
            decoder = self._arrow_decoder(schema_id)
            keys = None if decoder is None else decoder.decode(raw)  # type: ignore[arg-type]
            if isinstance(keys, pa.StructArray) and keys.type.num_fields == width:
                return list(zip(*(column.to_pylist() for column in keys.flatten()), strict=True))
        out: list[tuple[Any, ...] | None] = []
        for record in records:
            try:
                key = tuple(self._key(record).values())
            except (ContractError, EventContractError):
                out.append(None)
                continue
            out.append(key if len(key) == width else None)
        return out

    def _arrow_decoder(self, schema_id: int) -> ArrowDecoder | None:
        """The bulk decoder of a schema id; None while the id is unknown."""
        found = self._arrow.get(schema_id)
        if found is None:
            try:
                schema = self._codec.writer_schema(schema_id)
            except EventContractError:
                return None  # not known yet: `decode` says so, record by record
            found = self._arrow[schema_id] = ArrowDecoder(schema)
        return found

    def decode_key(self, record: Record) -> Mapping[str, Any] | None:
        """The record's key decoded, or None when it has none or it does not decode."""
        if record.key is None:
            return None
        try:
            key = self._codec.decode(record.key)
        except EventContractError:
            return None
        return key if isinstance(key, Mapping) else None

    def key_text(self, record: Record) -> str | None:
        """The record's key decoded, as JSON text, or None when it does not decode."""
        key = self.decode_key(record)
        return None if key is None else json.dumps(dict(key), default=str)

    def _change(self, record: Record) -> DecodedChange | None:
        spec = self.topology.change.get(record.topic)
        if spec is None:
            raise ContractError(record.topic, record.partition, record.offset, "unknown topic")
        if record.value is None:
            return None
        key = self._key(record)
        event = decoded_change_from_envelope(
            record.topic,
            record.partition,
            record.offset,
            key,
            self._value(record, _NOT_NEEDED),
            raw=(record.key, record.value),
        )
        if event.table != spec.source_name:
            reason = f"event of table {event.table} in the topic of {spec.source_name}"
            raise ContractError(record.topic, record.partition, record.offset, reason)
        if len(event.key) != len(spec.primary_key):
            reason = f"key {key} does not match primary key {', '.join(spec.primary_key)}"
            raise ContractError(record.topic, record.partition, record.offset, reason)
        return event

    def _reference(self, record: Record) -> DecodedChange:
        spec = self.topology.reference[record.topic]
        key = self._key(record)
        row = None if record.value is None else self._value(record)
        if len(key) != len(spec.primary_key):
            reason = f"key {key} does not match key fields {', '.join(spec.primary_key)}"
            raise ContractError(record.topic, record.partition, record.offset, reason)
        return DecodedChange(
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            table=spec.source_name,
            op="d" if row is None else "u",
            key=tuple(key.values()),
            row=row,
            commit_lsn=record.offset,
            change_lsn=0,
            uow_id=REFERENCE_UOW,
            commit_ms=record.timestamp_ms,
            raw_key=record.key,
            raw_value=record.value,
        )

    def _key(self, record: Record) -> Mapping[str, Any]:
        if record.key is None:
            raise ContractError(record.topic, record.partition, record.offset, "record has no key")
        key = self._codec.decode(record.key)
        if not isinstance(key, Mapping):
            raise ContractError(record.topic, record.partition, record.offset, "key is no record")
        return key

    def _value(self, record: Record, skip: frozenset[str] = frozenset()) -> Mapping[str, Any]:
        if record.value is None:
            raise ContractError(record.topic, record.partition, record.offset, "value is null")
        value = self._codec.decode(record.value, skip)
        if not isinstance(value, Mapping):
            raise ContractError(record.topic, record.partition, record.offset, "value no record")
        return value
