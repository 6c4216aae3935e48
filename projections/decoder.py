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
from collections.abc import Mapping
from typing import Any, Protocol

from event_contract.errors import EventContractError
from plumbing.topic_reader import Record
from projections.errorlog import ErrorRecord
from projections.errors import ContractError, DecodeFailure
from projections.events import (
    DecodedChange,
    TxMarker,
    decoded_change_from_envelope,
    marker_from_value,
)
from projections.topology import Topology

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
