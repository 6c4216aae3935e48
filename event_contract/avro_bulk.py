"""Avro binary encoding of whole columns at once (numpy), for records of flat schemas.

The per-record writer (`avro_writer`) costs about a microsecond a field in Python. A load of
a million reference records already has its values as columns (decoded with numpy, see
`reference_loader.columns`), so it encodes every field of a batch with a few array
operations and cuts the result into one `bytes` per record: the same bytes as `Encoder.encode`
of each record (property tests compare them).

    writer = bulk_writer(parsed_schema, header(schema_id))       # None: not supported
    values = writer.write({"name": StringColumn(...), "price": IntColumn(...)}, count)

An encoded column is a byte matrix, one row a record, and a mask of the bytes kept: a record's
encoding is its row's kept bytes, in order. Concatenating the matrices of every field side by
side and keeping the masked bytes (row-major) gives every record's encoding back to back.

Supported: records of non-null `string`, `int`, `long` and `bytes` with logical type decimal
whose unscaled values fit a signed 64-bit int (precision up to 18). `bulk_writer` returns None
for any other schema, and the caller encodes record by record.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

Bytes2D = npt.NDArray[np.uint8]
Mask2D = npt.NDArray[np.bool_]
Ints = npt.NDArray[np.int64]

MAX_BULK_PRECISION = 18
"""Decimals of at most this many digits have unscaled values that fit an int64."""
_VARINT_BYTES = 10


@dataclass(frozen=True, slots=True)
class IntColumn:
    """Values of an int or long field, or the unscaled values of a decimal field."""

    values: Ints


@dataclass(frozen=True, slots=True)
class StringColumn:
    """UTF-8 strings: `data[i][keep[i]]` are the `lengths[i]` bytes of record i's string."""

    data: Bytes2D
    keep: Mask2D
    lengths: Ints


Column = IntColumn | StringColumn


@dataclass(frozen=True, slots=True)
class Encoded:
    """The Avro binary of one field (or part of one) of every record: the kept bytes of each
    row, `lengths` of them."""

    data: Bytes2D
    keep: Mask2D
    lengths: Ints


_VARINT_LIMITS = np.array([1 << (7 * k) for k in range(1, _VARINT_BYTES)], dtype=np.uint64)


def encode_varints(values: Ints) -> Encoded:
    """Avro int/long (zig-zag varint) of every value: sizes by one search over the limits of
    each byte count, then the bytes a column at a time."""
    values = np.asarray(values, dtype=np.int64)
    zigzag = (values.view(np.uint64) << np.uint64(1)) ^ (values >> np.int64(63)).view(np.uint64)
    sizes = np.searchsorted(_VARINT_LIMITS, zigzag, side="right").astype(np.int64) + 1
    count = len(values)
    width = int(sizes.max(initial=1))
    if width == 1:  # every value below 64 in magnitude: one byte, no continuation bit
        return Encoded(zigzag.astype(np.uint8)[:, None], np.ones((count, 1), np.bool_), sizes)
    data = np.empty((count, width), np.uint8)
    for k in range(width):
        group = (zigzag >> np.uint64(7 * k)).astype(np.uint8) & np.uint8(0x7F)
        if k < width - 1:
            group |= (sizes > k + 1).view(np.uint8) << np.uint8(7)
        data[:, k] = group
    return Encoded(data, np.arange(width)[None, :] < sizes[:, None], sizes)


def encode_decimals(unscaled: Ints) -> list[Encoded]:
    """Avro decimal (bytes) of every unscaled value: its length, then the big-endian two's
    complement in `(bit_length(|v|) + 8) // 8` bytes, as fastavro and `avro_writer` write it."""
    unscaled = np.asarray(unscaled, dtype=np.int64)
    magnitude = np.abs(unscaled).astype(np.uint64)
    sizes = np.ones(len(unscaled), dtype=np.int64)
    for k in range(1, 8):
        above = magnitude >= np.uint64(1 << (8 * k - 1))
        if not above.any():
            break
        sizes += above
    width = int(sizes.max(initial=1))
    big_endian = unscaled.astype(">i8").view(np.uint8).reshape(len(unscaled), 8)[:, 8 - width :]
    keep = np.arange(width)[None, :] >= (width - sizes[:, None])
    return [encode_varints(sizes), Encoded(big_endian, keep, sizes)]


def encode_strings(column: StringColumn) -> list[Encoded]:
    """Avro string of every value: the UTF-8 byte count, then the bytes."""
    return [encode_varints(column.lengths), Encoded(column.data, column.keep, column.lengths)]


def constant(prefix: bytes, count: int) -> Encoded:
    """The same bytes (a wire-format header) at the start of `count` records."""
    row = np.frombuffer(prefix, dtype=np.uint8)
    data = np.broadcast_to(row, (count, len(row)))
    keep = np.ones((count, len(row)), dtype=np.bool_)
    return Encoded(data, keep, np.full(count, len(row), dtype=np.int64))


def join(parts: Sequence[Encoded], count: int) -> list[bytes]:
    """Each record's bytes: its kept bytes of every part, in order."""
    if count == 0:
        return []
    data = np.hstack([p.data for p in parts])
    keep = np.hstack([p.keep for p in parts])
    blob = data[keep].tobytes()
    lengths = np.zeros(count, np.int64)
    for part in parts:
        lengths += part.lengths
    ends = np.cumsum(lengths)
    starts = (ends - lengths).tolist()
    return [blob[a:b] for a, b in zip(starts, ends.tolist(), strict=True)]


def encode_doubles(values: npt.NDArray[np.float64]) -> Encoded:
    """Avro double of every value: 8 bytes, little-endian IEEE 754."""
    count = len(values)
    data = np.ascontiguousarray(values, dtype="<f8").view(np.uint8).reshape(count, 8)
    return Encoded(data, np.ones((count, 8), np.bool_), np.full(count, 8, np.int64))


def encode_decimal128(raw: Bytes2D) -> list[Encoded]:
    """Avro decimal (bytes) of Arrow decimal128 values (`(n, 16)` little-endian two's
    complement unscaled values): the length, then the big-endian two's complement in
    `(bit_length(|v|) + 8) // 8` bytes, as `encode_decimals` for wider values."""
    count = len(raw)
    words = np.ascontiguousarray(raw).view("<u8").reshape(count, 2)
    low, high = words[:, 0], words[:, 1]
    negative = (high >> np.uint64(63)).astype(np.bool_)
    neg_low = ~low + np.uint64(1)
    neg_high = ~high + (neg_low == 0).astype(np.uint64)
    abs_low, abs_high = np.where(negative, neg_low, low), np.where(negative, neg_high, high)
    sizes = np.ones(count, np.int64)
    for k in range(1, 16):
        bit = 8 * k - 1  # |v| needs k + 1 bytes once it reaches 2**bit
        if bit >= 64:
            above = abs_high >= np.uint64(1 << (bit - 64))
        else:
            above = (abs_high > 0) | (abs_low >= np.uint64(1 << bit))
        if not above.any():
            break
        sizes += above
    width = int(sizes.max(initial=1))
    big_endian = np.ascontiguousarray(raw[:, ::-1][:, 16 - width :])
    keep = np.arange(width)[None, :] >= (width - sizes[:, None])
    return [encode_varints(sizes), Encoded(big_endian, keep, sizes)]


def string_matrix(offsets: Ints, data: Bytes2D | npt.NDArray[np.uint8]) -> StringColumn:
    """Strings given as Arrow gives them (`offsets`, n + 1 of them, into the UTF-8 `data`) as
    a `StringColumn`, one row per string, as wide as the longest."""
    starts = offsets[:-1]
    lengths = (offsets[1:] - starts).astype(np.int64)
    count = len(starts)
    width = int(lengths.max(initial=0))
    if width == 0 or len(data) == 0:
        return StringColumn(np.zeros((count, 0), np.uint8), np.zeros((count, 0), np.bool_), lengths)
    cols = np.arange(width)
    index = np.minimum(starts[:, None] + cols[None, :], len(data) - 1)
    return StringColumn(data[index], cols[None, :] < lengths[:, None], lengths)


@dataclass(frozen=True, slots=True)
class _Field:
    name: str
    kind: str  # "long", "decimal" or "string"


class BulkWriter:
    """Writes records of one flat schema from columns; see the module docstring."""

    def __init__(self, fields: Sequence[_Field], prefix: bytes) -> None:
        self._fields = tuple(fields)
        self._prefix = prefix

    @property
    def field_names(self) -> tuple[str, ...]:
        """The schema's fields, in order."""
        return tuple(f.name for f in self._fields)

    def write(self, columns: Mapping[str, Column], count: int) -> list[bytes]:
        """The prefix and the Avro binary of each of `count` records.

        Raises:
            KeyError: a field has no column.
            TypeError: a column does not suit its field's type.
        """
        parts = [constant(self._prefix, count)]
        for field in self._fields:
            column = columns[field.name]
            if field.kind == "string":
                if not isinstance(column, StringColumn):
                    raise TypeError(f"field {field.name} is a string: it needs a StringColumn")
                parts += encode_strings(column)
            elif not isinstance(column, IntColumn):
                raise TypeError(f"field {field.name} is a number: it needs an IntColumn")
            elif field.kind == "decimal":
                parts += encode_decimals(column.values)
            else:
                parts.append(encode_varints(column.values))
        return join(parts, count)


def bulk_writer(schema: Any, prefix: bytes = b"") -> BulkWriter | None:
    """A `BulkWriter` of `schema` (parsed by fastavro, names resolved), or None when the
    schema is not a record of the supported field types."""
    if not isinstance(schema, Mapping) or schema.get("type") != "record":
        return None
    fields = []
    for field in schema["fields"]:
        kind = _kind(field["type"])
        if kind is None:
            return None
        fields.append(_Field(field["name"], kind))
    return BulkWriter(fields, prefix)


def _kind(avro: Any) -> str | None:
    if avro in ("int", "long", "string"):
        return "string" if avro == "string" else "long"
    if not isinstance(avro, Mapping):
        return None
    logical, base = avro.get("logicalType"), avro.get("type")
    if logical is None and base in ("int", "long", "string"):
        return _kind(base)
    if logical == "decimal" and base == "bytes" and int(avro["precision"]) <= MAX_BULK_PRECISION:
        return "decimal"
    return None
