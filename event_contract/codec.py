"""The Confluent wire format: magic byte 0, a 4-byte big-endian schema id, Avro binary.

Part of the event contract. Keys, change-event values, transaction markers and reference
records are all encoded this way, so any Confluent-compatible reader decodes them. Schemas are
parsed once per schema id; encoding runs through a writer compiled from the schema
(`avro_writer`, the same bytes as fastavro, several times faster), decoding through a reader
compiled likewise (`avro_reader`, the same values as fastavro), fastavro itself for a schema the
compilers do not handle.

Values round-trip exactly: decimal ↔ `Decimal`, date ↔ `date`, time-millis (Db2 TIME) and
time-micros ↔ `time`, local-timestamp-micros ↔ naive `datetime`, with microseconds. A record
is always decoded with the schema it was written with, so a topic holding both TIME encodings
(records from before and after the change to time-millis) decodes every record right.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Callable, Mapping
from typing import Any

import fastavro

from event_contract.avro_bulk import BulkWriter, bulk_writer
from event_contract.avro_reader import RecordReader, compile_reader
from event_contract.avro_writer import compile_writer
from event_contract.errors import CodecError

MAGIC = 0
HEADER_SIZE = 5
_HEADER = struct.Struct(">bI")
# What fastavro raises on data that does not fit the schema (or bytes that do not parse).
_AVRO_ERRORS = (
    ValueError,
    TypeError,
    KeyError,
    AttributeError,
    IndexError,
    OverflowError,
    EOFError,
    UnicodeDecodeError,
    StopIteration,
    AssertionError,
)

SchemaLookup = Callable[[int], Mapping[str, Any] | None]
"""Returns the schema with an id, or None when no schema has it (e.g. `SchemaStore.by_id`)."""


def header(schema_id: int) -> bytes:
    """The 5-byte wire-format header of `schema_id`."""
    if not 0 <= schema_id <= 0xFFFFFFFF:
        raise CodecError(f"schema id {schema_id} does not fit in 4 bytes", schema_id)
    return _HEADER.pack(MAGIC, schema_id)


def schema_id_of(data: bytes) -> int:
    """The schema id in a message's header.

    Raises:
        CodecError: the message is shorter than the header or does not start with magic byte 0.
    """
    if len(data) < HEADER_SIZE:
        raise CodecError(
            f"message of {len(data)} bytes is shorter than the 5-byte Confluent header"
        )
    magic, schema_id = _HEADER.unpack_from(data)
    if magic != MAGIC:
        raise CodecError(
            f"message starts with magic byte {magic & 0xFF}, not 0: "
            "not in the Confluent wire format"
        )
    return int(schema_id)


class Encoder:
    """Encodes records of one schema, already parsed, with its header ready.

    Build one per schema id (`Codec.encoder` caches them) and call `encode` per record.
    """

    __slots__ = ("_header", "_parsed", "_write", "schema", "schema_id")

    def __init__(self, schema_id: int, schema: Mapping[str, Any]) -> None:
        self.schema_id = schema_id
        self.schema = schema
        self._header = header(schema_id)
        names: dict[str, Any] = {}
        self._parsed = _parse(schema, schema_id, names)
        self._write = compile_writer(self._parsed, names, self._header) or self._fastavro_write

    def encode(self, record: Mapping[str, Any]) -> bytes:
        """The record in the wire format.

        Raises:
            CodecError: the record does not fit the schema (names the schema id and the cause).
        """
        try:
            return self._write(record)
        except _AVRO_ERRORS as exc:
            raise CodecError(
                f"cannot encode a record with schema id {self.schema_id}: "
                f"{type(exc).__name__}: {exc}",
                self.schema_id,
            ) from exc

    def bulk_writer(self) -> BulkWriter | None:
        """A writer of whole columns giving the same bytes as `encode` of each record, or
        None when `avro_bulk` does not support the schema."""
        return bulk_writer(self._parsed, self._header)

    def _fastavro_write(self, record: Mapping[str, Any]) -> bytes:
        out = io.BytesIO()
        out.write(self._header)
        fastavro.schemaless_writer(out, self._parsed, record)
        return out.getvalue()


class Codec:
    """Encodes and decodes the wire format, with parsed schemas cached by id.

    Args:
        lookup: finds the writer schema of an id when decoding (e.g. `store.by_id`).
    """

    def __init__(self, lookup: SchemaLookup) -> None:
        self._lookup = lookup
        self._encoders: dict[int, Encoder] = {}
        self._readers: dict[int, Any] = {}
        self._compiled: dict[tuple[int, frozenset[str]], RecordReader] = {}

    def encoder(self, schema_id: int, schema: Mapping[str, Any]) -> Encoder:
        """The (cached) encoder of `schema`, registered under `schema_id`."""
        found = self._encoders.get(schema_id)
        if found is None:
            found = self._encoders[schema_id] = Encoder(schema_id, schema)
        return found

    def encode(self, schema_id: int, schema: Mapping[str, Any], record: Mapping[str, Any]) -> bytes:
        """Encode one record; prefer keeping `encoder(...)` for many records of one schema."""
        return self.encoder(schema_id, schema).encode(record)

    def decode(self, data: bytes, skip: frozenset[str] = frozenset()) -> Any:
        """The record in a wire-format message, decoded with its writer schema.

        Args:
            data: the message.
            skip: top-level fields to step over and leave out of the record (an envelope's
                "before", say).
        """
        return self.decode_with_id(data, skip)[1]

    def decode_with_id(self, data: bytes, skip: frozenset[str] = frozenset()) -> tuple[int, Any]:
        """The schema id and the record of a wire-format message (see `decode`).

        Raises:
            CodecError: a short message, a bad magic byte, an unknown schema id, or a payload
                that is not valid Avro of that schema (or has bytes left over).
        """
        schema_id = schema_id_of(data)
        read = self._reader(schema_id, skip)
        try:
            record, end = read(data, HEADER_SIZE)
            if end > len(data):
                raise EOFError(end)
        except _AVRO_ERRORS as exc:
            raise CodecError(
                f"cannot decode the {len(data) - HEADER_SIZE}-byte payload with schema id "
                f"{schema_id}: {_cause(exc)}",
                schema_id,
            ) from exc
        left = len(data) - end
        if left:
            raise CodecError(
                f"payload with schema id {schema_id} has {left} bytes left after the record: "
                "written with another schema",
                schema_id,
            )
        return schema_id, record

    def writer_schema(self, schema_id: int) -> Mapping[str, Any]:
        """The schema registered under `schema_id`, as registered.

        Raises:
            CodecError: no schema has the id.
        """
        encoder = self._encoders.get(schema_id)
        schema = encoder.schema if encoder is not None else self._lookup(schema_id)
        if schema is None:
            raise CodecError(f"unknown schema id {schema_id}: no schema has it", schema_id)
        return schema

    def _reader(self, schema_id: int, skip: frozenset[str]) -> RecordReader:
        found = self._compiled.get((schema_id, skip))
        if found is None:
            names: dict[str, Any] = {}
            parsed = self._reader_schema(schema_id, names)
            found = compile_reader(parsed, names, skip) or _fastavro_reader(parsed, skip)
            self._compiled[(schema_id, skip)] = found
        return found

    def _reader_schema(self, schema_id: int, names: dict[str, Any] | None = None) -> Any:
        parsed = self._readers.get(schema_id)
        if parsed is None or names is not None:
            schema = self.writer_schema(schema_id)
            parsed = self._readers[schema_id] = _parse(schema, schema_id, names)
        return parsed


def _fastavro_reader(parsed: Any, skip: frozenset[str]) -> RecordReader:
    def read(data: bytes, position: int) -> tuple[Any, int]:
        body = io.BytesIO(data)
        body.seek(position)
        record = fastavro.schemaless_reader(body, parsed, None)
        if skip and isinstance(record, dict):
            record = {k: v for k, v in record.items() if k not in skip}
        return record, body.tell()

    return read


def _cause(exc: BaseException) -> str:
    if isinstance(exc, (EOFError, IndexError)):
        return "it ends before the record does"
    return f"{type(exc).__name__}: {exc}"


def _parse(schema: Mapping[str, Any], schema_id: int, names: dict[str, Any] | None = None) -> Any:
    try:
        return fastavro.parse_schema(dict(schema), names)
    except (fastavro.schema.SchemaParseException, *_AVRO_ERRORS) as exc:
        raise CodecError(
            f"schema id {schema_id} is not a valid Avro schema: {exc}", schema_id
        ) from exc
