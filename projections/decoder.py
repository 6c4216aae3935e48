"""Kafka records → change events, transaction markers and reference records.

`RawRecord` is a consumed record as plain values (what the error table keeps); `RecordDecoder`
decodes it with the contract's codec and the topology: a change topic's record becomes a
`DecodedChange` (its tombstone: None), the transaction topic's a `TxMarker`, a reference
topic's a `DecodedChange` of table `REFERENCE.<NAME>` whose version is its offset (a reference
record has no LSN) and whose null value deletes the key. Anything else raises `DecodeFailure`
naming the topic, partition, offset and reason.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from event_contract.errors import EventContractError
from projections.errorlog import ErrorRecord, Headers
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


class MessageLike(Protocol):
    """The parts of a `confluent_kafka.Message` a record needs."""

    def topic(self) -> str | None: ...
    def partition(self) -> int | None: ...
    def offset(self) -> int | None: ...
    def key(self) -> bytes | None: ...
    def value(self) -> bytes | None: ...
    def headers(self) -> Any: ...
    def timestamp(self) -> tuple[int, int]: ...


class Decoding(Protocol):
    """What decoding needs of the contract's codec."""

    def decode(self, data: bytes, skip: frozenset[str] = ...) -> Any:
        """The record in a wire-format message, without the top-level fields in `skip`."""
        ...


@dataclass(frozen=True, slots=True)
class RawRecord:
    """A consumed record as plain values.

    Attributes:
        topic: its topic.
        partition: its partition.
        offset: its offset.
        key: its key bytes.
        value: its value bytes (None: a tombstone).
        headers: its headers.
        timestamp_ms: its Kafka timestamp, ms since the epoch.
    """

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Headers = ()
    timestamp_ms: int = 0

    @classmethod
    def of(cls, message: MessageLike) -> RawRecord:
        """The record of a consumed message."""
        return cls(
            topic=sys.intern(message.topic() or ""),
            partition=int(message.partition() or 0),
            offset=int(message.offset() or 0),
            key=message.key(),
            value=message.value(),
            headers=_headers(message.headers()),
            timestamp_ms=int(message.timestamp()[1]),
        )

    def error(self, kind: str, reason: str, topology: Topology | None = None) -> ErrorRecord:
        """The error-table record of this record."""
        table = None
        if topology is not None:
            spec = topology.change.get(self.topic) or topology.reference.get(self.topic)
            table = None if spec is None else spec.source_name
        return ErrorRecord(
            kind=kind,
            reason=reason,
            topic=self.topic,
            partition=self.partition,
            offset=self.offset,
            raw_key=self.key,
            raw_value=self.value,
            headers=self.headers,
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

    def decode(self, record: RawRecord) -> DecodedChange | TxMarker | None:
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

    def decode_key(self, record: RawRecord) -> Mapping[str, Any] | None:
        """The record's key decoded, or None when it has none or it does not decode."""
        if record.key is None:
            return None
        try:
            key = self._codec.decode(record.key)
        except EventContractError:
            return None
        return key if isinstance(key, Mapping) else None

    def key_text(self, record: RawRecord) -> str | None:
        """The record's key decoded, as JSON text, or None when it does not decode."""
        key = self.decode_key(record)
        return None if key is None else json.dumps(dict(key), default=str)

    def _change(self, record: RawRecord) -> DecodedChange | None:
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

    def _reference(self, record: RawRecord) -> DecodedChange:
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

    def _key(self, record: RawRecord) -> Mapping[str, Any]:
        if record.key is None:
            raise ContractError(record.topic, record.partition, record.offset, "record has no key")
        key = self._codec.decode(record.key)
        if not isinstance(key, Mapping):
            raise ContractError(record.topic, record.partition, record.offset, "key is no record")
        return key

    def _value(self, record: RawRecord, skip: frozenset[str] = frozenset()) -> Mapping[str, Any]:
        if record.value is None:
            raise ContractError(record.topic, record.partition, record.offset, "value is null")
        value = self._codec.decode(record.value, skip)
        if not isinstance(value, Mapping):
            raise ContractError(record.topic, record.partition, record.offset, "value no record")
        return value


def _headers(raw: Any) -> Headers:
    if raw is None:
        return ()
    items = raw.items() if isinstance(raw, Mapping) else (raw or ())
    return tuple((str(k), v.encode() if isinstance(v, str) else v) for k, v in items)
