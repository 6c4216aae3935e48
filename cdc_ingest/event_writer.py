"""Change events of one table encoded straight from row changes: the capture hot path.

`EventWriter.encode` gives exactly the bytes of encoding `envelope.key_record(...)` and
`envelope.change_envelope(...)` with the table's registered key and value schemas (the unit
tests compare them for every type and operation), without building the envelope's dicts: the
`Value` images and the key are written by writers compiled from the schemas
(`avro_writer`), and the rest of the envelope from byte pieces that stay the same for a whole
unit of work (the `source` block up to `commit_lsn`, the transaction id, the publish time).

As in `envelope.row_record`, a row with a column the table does not have is refused
(`RowShapeError`) and CHAR values are written without trailing blanks.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import fastavro

from event_contract.avro_types import CONNECTOR
from event_contract.avro_writer import RecordWriter, compile_writer, write_long, write_string
from event_contract.changes import Op, RowChange
from event_contract.codec import header
from event_contract.envelope import SourceInfo, TableLayout, TxInfo, row_record
from event_contract.errors import CodecError

_ENVELOPE_FIELDS = ["before", "after", "source", "op", "ts_ms", "transaction"]
_SOURCE_FIELDS = [
    "version", "connector", "name", "ts_ms", "snapshot", "db", "schema", "table",
    "commit_lsn", "change_lsn", "txId",
]  # fmt: skip
_NULL, _SECOND = b"\x00", b"\x02"  # union branch 0 (null) and 1, as Avro longs
_OPS = {Op.INSERT: write_string("c"), Op.UPDATE: write_string("u"), Op.DELETE: write_string("d")}
_SNAPSHOT_OP = write_string("r")


class EventWriter:
    """Encodes the key and the envelope of one table's change events.

    Args:
        layout: the table's layout.
        key: (schema id, schema) of the registered key schema.
        value: (schema id, schema) of the registered envelope schema.

    Raises:
        CodecError: the envelope schema is not laid out as `avro_types.envelope_schema`
            writes it, or a schema has a type the compiled writer does not handle.
    """

    __slots__ = ("_frame", "_frame_of", "_key", "_row", "_value_header", "layout", "width")

    def __init__(
        self,
        layout: TableLayout,
        key: tuple[int, Mapping[str, Any]],
        value: tuple[int, Mapping[str, Any]],
    ) -> None:
        self.layout = layout
        self.width = len(layout.columns)
        value_id, value_schema = value
        fields = value_schema["fields"]
        source_fields = [f["name"] for f in fields[2]["type"]["fields"]]
        if [f["name"] for f in fields] != _ENVELOPE_FIELDS or source_fields != _SOURCE_FIELDS:
            raise CodecError(f"schema id {value_id} is not a change-event envelope", value_id)
        names: dict[str, Any] = {}
        parsed: Any = fastavro.parse_schema(dict(value_schema), named_schemas=names)
        row_schema = parsed["fields"][0]["type"][1]
        chars = layout.char_columns
        self._row = _compiled(row_schema, names, b"", value_id, chars)
        key_names: dict[str, Any] = {}
        key_parsed = fastavro.parse_schema(dict(key[1]), named_schemas=key_names)
        self._key = _compiled(key_parsed, key_names, header(key[0]), key[0], chars)
        self._value_header = header(value_id)
        self._frame_of: tuple[TxInfo, SourceInfo, int] | None = None
        self._frame: tuple[bytes, bytes, bytes, bytes] = (b"", b"", b"", b"")

    def encode(
        self,
        change: RowChange,
        tx: TxInfo,
        source: SourceInfo,
        order: tuple[int, int],
        ts_ms: int,
    ) -> tuple[bytes, bytes]:
        """(key, value) of the change event of `change` (not a key-changing update: split
        those first with `envelope.split_key_change`).

        Args:
            change: the row change.
            tx: its unit of work; a snapshot `tx` makes the op "r".
            source: the publishing process.
            order: (total_order, data_collection_order), both 1-based.
            ts_ms: the publish time, ms since the epoch UTC.
        """
        if self._frame_of is None or self._frame_of != (tx, source, ts_ms):
            self._frame = framing(tx, source, self.layout.schema, self.layout.table_name, ts_ms)
            self._frame_of = (tx, source, ts_ms)
        prefix, tx_id, publish, op = self._frame
        before, after = change.before, change.after
        image = after if after is not None else before
        assert image is not None  # a RowChange always has an image
        row = self._row
        value = b"".join(
            (
                self._value_header,
                _NULL if before is None else _SECOND + row(self._checked(before, change)),
                _NULL if after is None else _SECOND + row(self._checked(after, change)),
                prefix,
                write_long(change.seq),
                tx_id,
                op or _OPS[change.op],
                publish,
                _SECOND,
                tx_id,
                write_long(order[0]),
                write_long(order[1]),
            )
        )
        return self._key(image), value

    def _checked(self, row: Mapping[str, Any], change: RowChange) -> Mapping[str, Any]:
        if len(row) > self.width:
            row_record(self.layout, row, change.lsn)  # raises RowShapeError naming the columns
        return row


def framing(
    tx: TxInfo, source: SourceInfo, schema: str, table: str, ts_ms: int
) -> tuple[bytes, bytes, bytes, bytes]:
    """The envelope's pieces that stay the same for a table's events of one unit of work: the
    `source` block up to `commit_lsn`, the transaction id (as an Avro string), the publish
    time `ts_ms` (an Avro long) and the op of a snapshot event ("r"; empty otherwise)."""
    prefix = b"".join(
        (
            write_string(source.version),
            write_string(CONNECTOR),
            write_string(source.name),
            write_long(tx.ts_ms),
            write_string(tx.snapshot),
            write_string(source.db),
            write_string(schema),
            write_string(table),
            write_long(tx.lsn),
        )
    )
    op = _SNAPSHOT_OP if tx.snapshot != "false" else b""
    return prefix, write_string(tx.id), write_long(ts_ms), op


def _compiled(
    schema: Any, names: Mapping[str, Any], prefix: bytes, schema_id: int, strip: frozenset[str]
) -> RecordWriter:
    writer = compile_writer(schema, names, prefix, strip)
    if writer is None:
        raise CodecError(f"schema id {schema_id} has a type the compiled writer lacks", schema_id)
    return writer
