"""Change events of a large unit of work encoded a column at a time: capture's bulk path.

The per-event path (`ChangeBuilder` converting each CD row into a `RowChange` of dicts, then
`EventWriter.encode` per event) costs about 30 µs of Python per event. A batch job's unit of
work holds thousands of rows of a few tables, so for such a unit (`capture.bulk_min_rows`)
capture keeps the CD rows as the driver returned them (`capture_rows.BulkUnit`) and this
module turns each table's rows into events with Arrow casts and numpy byte matrices
(`event_contract.avro_bulk`): the same bytes as `EventWriter.encode` of the same changes,
numbered the same way (the property tests compare every message).

Layout: a table's CD rows of the unit are stacked twice, rows [0, n) the after-image columns
and rows [n, 2n) the before-image columns (when the CD table has them). Each column is
converted and encoded once over those rows; an event's before image, after image and key are
row indexes into the stack (-1: no image).

What the per-event path does, done on columns: a `D` + `I` pair on one key (tables whose
updates come that way) is merged back into the update it was; an update that changed the
primary key becomes a delete and a create; CHAR values lose their trailing blanks; DECIMAL
text is read at the column's scale; DATE, TIME and TIMESTAMP text in the stored formats.

`Unsupported` is raised, before anything is written, for whatever this path cannot give the
exact bytes of: a value not in the stored format, a DECIMAL with more fraction digits than
its scale, a type it does not know, a driver returning other Python types, a NULL in a NOT
NULL column. The caller writes that unit event by event instead. The message names the
column and the kind of problem, never a value (it is logged).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from cdc_ingest.event_writer import framing
from event_contract.avro_bulk import (
    Encoded,
    constant,
    encode_decimal128,
    encode_doubles,
    encode_strings,
    encode_varints,
    join,
    string_matrix,
)
from event_contract.catalog import Column, Db2Type, Table
from event_contract.codec import header
from event_contract.envelope import SourceInfo, TxInfo

Ints = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]

_I, _U, _D = ord("I"), ord("U"), ord("D")
_INTEGERS = (Db2Type.SMALLINT, Db2Type.INTEGER, Db2Type.BIGINT)
_TEXT = (Db2Type.DECIMAL, Db2Type.CHAR, Db2Type.VARCHAR, Db2Type.DATE, Db2Type.TIME)
_TIMESTAMP_WIDTH = len("YYYY-MM-DD HH:MM:SS.ffffff")
_DATE_WIDTH = len("YYYY-MM-DD")
_TIME_WIDTH = len("HH:MM:SS")


class Unsupported(Exception):
    """The bulk path cannot give the exact bytes of this unit: write it event by event."""


@dataclass(frozen=True, slots=True)
class _Values:
    """One column's values over the stacked rows, converted, and their Avro encoding (without
    the union branch)."""

    null: Bools
    parts: list[Encoded]
    compare: list[npt.NDArray[Any]]
    """Arrays (one row per stacked row) that are equal where the values are equal."""


@dataclass(frozen=True, slots=True)
class TableRows:
    """One table's CD rows of a unit of work, as the driver returned them.

    Attributes:
        table: the catalog the rows were read with (the codec's).
        rows: the raw CD rows: LSN, INTENTSEQ, OPERATION, the after image, the before image
            (when `has_before`).
        seqs: each row's INTENTSEQ as an int.
        positions: each row's place in the unit's merged order (all tables).
        has_before: whether the CD table carries before images.
        pairs: whether its updates come as `D` + `I` pairs.
    """

    table: Table
    rows: Sequence[Sequence[Any]]
    seqs: Sequence[int]
    positions: Sequence[int]
    has_before: bool
    pairs: bool


@dataclass(frozen=True, slots=True)
class TableEvents:
    """One table's events of a unit of work, in order, and their column values."""

    rows: TableRows
    columns: list[_Values]
    before: Ints
    after: Ints
    op: npt.NDArray[np.uint8]
    seq: Ints
    position: Ints
    part: Ints
    """0, or 1 for the create of a key-changing update (its delete is 0)."""
    key: list[_Values]
    """The primary-key columns' values, in key order."""

    def __len__(self) -> int:
        return len(self.op)


# --- raw values → columns -----------------------------------------------------------------


def _array(values: list[Any], kind: pa.DataType, column: Column) -> pa.Array:
    """The values as Arrow of type `kind`, only if each already is one (Arrow infers the type:
    with `kind` given it would truncate a float in an integer column, or take bytes as text)."""
    try:
        arr = pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError) as exc:
        raise Unsupported(f"column {column.name}: values of mixed types") from exc
    if arr.type == kind:
        return arr
    if pa.types.is_null(arr.type):  # every value NULL
        return pa.nulls(len(arr), kind)
    if kind == pa.float64() and pa.types.is_int64(arr.type):  # SQLite keeps 2.0 as 2
        return _cast(arr, kind, column)
    raise Unsupported(f"column {column.name}: values read as {arr.type}, not {kind}")


def _nulls(arr: pa.Array) -> Bools:
    if arr.null_count == 0:
        return np.zeros(len(arr), np.bool_)
    return np.asarray(arr.is_null().to_numpy(zero_copy_only=False), np.bool_)


def _ints(arr: pa.Array) -> Ints:
    return np.asarray(arr.fill_null(0).to_numpy(zero_copy_only=False), np.int64)


def _text(values: list[Any], column: Column) -> pa.Array:
    try:
        return _array(values, pa.string(), column)
    except Unsupported:
        if column.type is not Db2Type.DECIMAL:
            raise
    # A DECIMAL may be stored as an INTEGER (or REAL) too; read as its text, as str() does.
    return _array([None if v is None else str(v) for v in values], pa.string(), column)


def _same_width(arr: pa.Array, width: int, column: Column) -> None:
    if len(arr) == arr.null_count:
        return
    low, high = pc.min_max(pc.binary_length(arr)).values()
    if low.as_py() != width or high.as_py() != width:
        raise Unsupported(f"column {column.name}: a value is not in the stored format")


def _cast(arr: pa.Array, kind: pa.DataType, column: Column) -> pa.Array:
    try:
        return pc.cast(arr, kind)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        # Arrow's message quotes the value: not for the log, and one reason per column.
        raise Unsupported(f"column {column.name}: a value Arrow does not read as {kind}") from exc


def _strings(arr: pa.Array) -> tuple[Ints, npt.NDArray[np.uint8]]:
    """(offsets, UTF-8 bytes) of a string array, nulls as empty strings."""
    arr = arr.fill_null("") if arr.null_count else arr
    buffers = arr.buffers()
    offsets = np.frombuffer(buffers[1], np.int32)[arr.offset : arr.offset + len(arr) + 1]
    data = np.zeros(0, np.uint8) if buffers[2] is None else np.frombuffer(buffers[2], np.uint8)
    return offsets.astype(np.int64), data


def _time_millis(arr: pa.Array, column: Column) -> Ints:
    _same_width(arr, _TIME_WIDTH, column)
    offsets, data = _strings(arr.fill_null("00:00:00"))
    if len(offsets) < 2:
        return np.zeros(0, np.int64)
    digits = data[offsets[0] : offsets[-1]].reshape(-1, _TIME_WIDTH)
    if not ((digits[:, 2] == ord(":")) & (digits[:, 5] == ord(":"))).all():
        raise Unsupported(f"column {column.name}: a TIME is not HH:MM:SS")
    v = digits.astype(np.int64) - ord("0")
    numbers = v[:, [0, 1, 3, 4, 6, 7]]
    if ((numbers < 0) | (numbers > 9)).any():
        raise Unsupported(f"column {column.name}: a TIME is not HH:MM:SS")
    hours, minutes, seconds = v[:, 0] * 10 + v[:, 1], v[:, 3] * 10 + v[:, 4], v[:, 6] * 10 + v[:, 7]
    if (hours > 23).any() or (minutes > 59).any() or (seconds > 59).any():
        raise Unsupported(f"column {column.name}: a TIME is out of range")
    return np.asarray((hours * 3600 + minutes * 60 + seconds) * 1000, np.int64)


def column_values(column: Column, values: list[Any]) -> _Values:
    """One column's raw values (stacked rows) converted and encoded, as `Dialect.row_reader`
    and `EventWriter` would for each value."""
    kind = column.type
    if kind in _INTEGERS:
        arr = _array(values, pa.int64(), column)
        ints = _ints(arr)
        return _Values(_nulls(arr), [encode_varints(ints)], [ints])
    if kind is Db2Type.DOUBLE:
        arr = _array(values, pa.float64(), column)
        floats = np.asarray(arr.fill_null(0.0).to_numpy(zero_copy_only=False), np.float64)
        return _Values(_nulls(arr), [encode_doubles(floats)], [floats])
    if kind is Db2Type.TIMESTAMP:
        arr = _text(values, column)
        _same_width(arr, _TIMESTAMP_WIDTH, column)
        micros = _ints(_cast(_cast(arr, pa.timestamp("us"), column), pa.int64(), column))
        return _Values(_nulls(arr), [encode_varints(micros)], [micros])
    if kind not in _TEXT:
        raise Unsupported(f"column {column.name}: type {column.type_sql}")
    arr = _text(values, column)
    null = _nulls(arr)
    if kind is Db2Type.DATE:
        _same_width(arr, _DATE_WIDTH, column)
        days = _ints(_cast(_cast(arr, pa.date32(), column), pa.int32(), column))
        return _Values(null, [encode_varints(days)], [days])
    if kind is Db2Type.TIME:
        millis = _time_millis(arr, column)
        return _Values(null, [encode_varints(millis)], [millis])
    if kind is Db2Type.DECIMAL:
        dec = _cast(arr, pa.decimal128(column.length or 5, column.scale or 0), column)
        start = dec.offset * 16
        raw = np.frombuffer(dec.buffers()[1], np.uint8)[start : start + len(dec) * 16]
        raw = raw.reshape(len(dec), 16)
        if dec.null_count:
            raw = np.where(null[:, None], 0, raw).astype(np.uint8)
        words = np.ascontiguousarray(raw).view("<u8").reshape(len(dec), 2)
        return _Values(null, encode_decimal128(raw), [words[:, 0], words[:, 1]])
    if kind is Db2Type.CHAR:
        arr = pc.utf8_rtrim(arr, characters=" ")
    strings = string_matrix(*_strings(arr))
    significant = np.where(strings.keep, strings.data, 0)  # bytes past a string's end differ
    return _Values(null, encode_strings(strings), [strings.lengths, significant])


def _key_equal(key: Sequence[_Values], a: Ints, b: Ints) -> Bools:
    """Whether the keys at stacked rows `a` and `b` are equal."""
    equal = np.ones(len(a), np.bool_)
    for values in key:
        null_a, null_b = values.null[a], values.null[b]
        same = np.ones(len(a), np.bool_)
        for arr in values.compare:
            pair = arr[a] == arr[b]
            same &= pair.all(axis=1) if pair.ndim == 2 else pair
        equal &= np.where(null_a | null_b, null_a & null_b, same)
    return equal


# --- rows → events ------------------------------------------------------------------------


def table_events(rows: TableRows) -> TableEvents:
    """The events of one table's CD rows of a unit of work, with each `D` + `I` pair on one
    key (a paired table's update) merged back and each key-changing update split in two."""
    table, raw = rows.table, rows.rows
    n, width = len(raw), len(table.columns)
    if n == 0:
        raise Unsupported("no rows")
    transposed = list(zip(*raw, strict=True))
    ops_text = transposed[2]
    try:
        ops = np.frombuffer("".join(ops_text).encode("ascii"), np.uint8)
    except (TypeError, UnicodeEncodeError) as exc:
        raise Unsupported("IBMSNAP_OPERATION is not ASCII text") from exc
    if len(ops) != n or not np.isin(ops, (_I, _U, _D)).all():
        raise Unsupported("IBMSNAP_OPERATION is not one of I, U, D")
    columns = []
    for i, column in enumerate(table.columns):
        after = list(transposed[3 + i])
        before = list(transposed[3 + width + i]) if rows.has_before else after
        columns.append(column_values(column, after + before))
    offset = n if rows.has_before else 0
    index = np.arange(n)
    keep = np.ones(n, np.bool_)
    op = ops.copy()
    after_row = np.where(ops == _D, -1, index)
    before_row = np.where(ops == _I, -1, index + offset) if rows.has_before else None
    if before_row is None:
        before_row = np.where(ops == _D, index, -1)  # a delete's values are its after image
    names = [c.name for c in table.columns]
    key = [columns[names.index(k)] for k in table.primary_key]
    positions = np.asarray(rows.positions, np.int64)
    if rows.pairs and n > 1:
        # A D right before an I of this table in the unit's order, both on one key.
        candidates = np.nonzero((ops[:-1] == _D) & (ops[1:] == _I))[0]
        candidates = candidates[positions[candidates + 1] == positions[candidates] + 1]
        same = _key_equal(key, before_row[candidates], candidates + 1)
        candidates = candidates[same]
        op[candidates] = _U
        after_row[candidates] = candidates + 1
        keep[candidates + 1] = False
    kept = np.nonzero(keep)[0]
    op, before_row, after_row = op[kept], before_row[kept], after_row[kept]
    seq = np.asarray(rows.seqs, np.int64)[kept]
    position = positions[kept]
    images = np.concatenate([before_row, after_row])
    images = images[images >= 0]
    for column, values in zip(table.columns, columns, strict=True):
        required = not column.nullable or column.name in table.primary_key
        if required and values.null[images].any():
            raise Unsupported(f"column {column.name}: NULL in a NOT NULL column")
    updates = np.nonzero((op == _U) & (before_row >= 0) & (after_row >= 0))[0]
    split = updates[~_key_equal(key, before_row[updates], after_row[updates])]
    codes = np.full(len(op), ord("u"), np.uint8)
    codes[op == _I] = ord("c")
    codes[op == _D] = ord("d")
    part = np.zeros(len(op), np.int64)
    if len(split):
        repeats = np.ones(len(op), np.int64)
        repeats[split] = 2
        at = np.repeat(np.arange(len(op)), repeats)
        second = np.zeros(len(at), np.bool_)
        second[1:] = at[1:] == at[:-1]
        is_split = np.zeros(len(op), np.bool_)
        is_split[split] = True
        was_split = is_split[at]
        first_half, second_half = was_split & ~second, was_split & second
        before_row = np.where(second_half, -1, before_row[at])
        after_row = np.where(first_half, -1, after_row[at])
        codes = np.where(first_half, ord("d"), np.where(second_half, ord("c"), codes[at]))
        codes = codes.astype(np.uint8)
        seq, position, part = seq[at], position[at], second.astype(np.int64)
    return TableEvents(rows, columns, before_row, after_row, codes, seq, position, part, key)


def unit_orders(
    events: Sequence[TableEvents], published: dict[str, int]
) -> list[tuple[Ints, Ints]]:
    """(total_order, data_collection_order) of each table's events: the unit's events in
    (merged position, part) order across tables, numbered on from the events `published`
    before (per table) in earlier pieces of the unit."""
    positions = np.concatenate([e.position for e in events])
    parts = np.concatenate([e.part for e in events])
    order = np.lexsort((parts, positions))
    rank = np.empty(len(order), np.int64)
    rank[order] = np.arange(1, len(order) + 1)
    rank += sum(published.values())
    out, at = [], 0
    for e in events:
        m = len(e)
        name = e.rows.table.qualified_name
        numbers = np.arange(1, m + 1, dtype=np.int64) + published.get(name, 0)
        out.append((rank[at : at + m], numbers))
        at += m
    return out


# --- events → bytes -----------------------------------------------------------------------


def _branch(present: Bools) -> Encoded:
    """The union branch byte of each row: 2 (the value) where present, else 0 (null)."""
    count = len(present)
    data = np.where(present, 2, 0).astype(np.uint8).reshape(count, 1)
    return Encoded(data, np.ones((count, 1), np.bool_), np.ones(count, np.int64))


def _rows_of(part: Encoded, take: Ints | slice, kept: Bools | None) -> Encoded:
    data, keep, lengths = part.data[take], part.keep[take], part.lengths[take]
    if kept is None:
        return Encoded(data, keep, lengths)
    return Encoded(data, keep & kept[:, None], np.where(kept, lengths, 0))


def _take(index: Ints) -> Ints | slice:
    """A slice when `index` is one run of rows (no copy), else the index (-1 read as 0)."""
    if len(index) and index[0] >= 0 and (np.diff(index) == 1).all():
        return slice(int(index[0]), int(index[0]) + len(index))
    return np.maximum(index, 0)


def _image(table: Table, columns: Sequence[_Values], index: Ints, union: bool) -> list[Encoded]:
    """The `Value` record of each event's image at stacked row `index` (-1: none, the union's
    null branch); `union` False for the key (always present, no null branches)."""
    present = index >= 0
    take = _take(index)
    kept = None if present.all() else present
    parts: list[Encoded] = []
    if union:
        parts.append(_branch(present))
    for column, values in zip(table.columns, columns, strict=True):
        if column.nullable and union:
            null = values.null[take]
            value_kept = ~null if kept is None else ~null & kept
            parts.append(_rows_of(_branch(~null), slice(None), kept))
            parts += [_rows_of(p, take, value_kept) for p in values.parts]
        else:
            parts += [_rows_of(p, take, kept) for p in values.parts]
    return parts


def encode_events(
    events: TableEvents,
    *,
    ids: tuple[int, int],
    tx: TxInfo,
    source: SourceInfo,
    order: tuple[Ints, Ints],
    ts_ms: int,
) -> tuple[list[bytes], list[bytes]]:
    """(keys, values) of one table's events, the bytes `EventWriter.encode` gives.

    Args:
        events: the table's events of the unit.
        ids: the registered (key, value) schema ids.
        tx: the unit of work (not a snapshot).
        source: the publishing process.
        order: each event's (total_order, data_collection_order).
        ts_ms: the publish time, ms since the epoch UTC.
    """
    if tx.snapshot != "false":
        raise Unsupported("snapshot chunks are written event by event")
    table = events.rows.table
    m = len(events)
    key_table = Table(table.schema, table.name, table.key_columns, table.primary_key)
    key_row = np.where(events.after >= 0, events.after, events.before)
    keys = [constant(header(ids[0]), m)]
    keys += _image(key_table, events.key, key_row, union=False)
    prefix, tx_id, publish, _ = framing(tx, source, table.schema, table.name, ts_ms)
    ops = np.empty((m, 2), np.uint8)
    ops[:, 0] = 2  # the op string's length, 1, as a varint
    ops[:, 1] = events.op
    values = [constant(header(ids[1]), m)]
    values += _image(table, events.columns, events.before, union=True)
    values += _image(table, events.columns, events.after, union=True)
    values += [
        constant(prefix, m),
        encode_varints(events.seq),
        constant(tx_id, m),
        Encoded(ops, np.ones((m, 2), np.bool_), np.full(m, 2, np.int64)),
        constant(publish + b"\x02" + tx_id, m),  # ts_ms, the transaction block's branch
        encode_varints(order[0]),
        encode_varints(order[1]),
    ]
    return join(keys, m), join(values, m)
