"""Units of work → the messages of one Kafka transaction: BEGIN, change events, END.

The hot path of capture. `UnitWriter.write` turns (a piece of) a unit of work into its
messages and hands each to `emit(topic, key, value)`: the BEGIN marker when the piece starts
the unit, one change event per changed row (an update of the primary key is a delete and a
create; a delete is followed by a tombstone), and the END marker with the per-table counts
when the piece ends it. Numbering (`total_order`, `data_collection_order`) continues across
the pieces of a unit split over several transactions, from the counts published so far.

Changes of tables in `held` are left out (a table blocked on an incompatible schema change):
they are neither published nor counted.

`write_bulk` writes a `BulkUnit` (a large unit of work, its rows unconverted) the same way,
encoding each table's events a column at a time (`bulk_events`); where that path declines
(`Unsupported`) it converts the rows and writes them event by event. Either way the messages
of each topic, and so of each key, are the same and in the same order; only the interleaving
of different topics within the transaction differs (a consumer sees none across topics).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass

import numpy as np

from cdc_ingest.bulk_events import (
    TableEvents,
    Unsupported,
    encode_events,
    table_events,
    unit_orders,
)
from cdc_ingest.capture_rows import BulkUnit
from cdc_ingest.table_codecs import Encode, TableCodecs
from event_contract.changes import Op, RowChange
from event_contract.envelope import (
    SourceInfo,
    TxInfo,
    begin_marker,
    end_marker,
    is_pseudo,
    split_key_change,
    transaction_key,
)

Emit = Callable[[str, bytes, bytes | None], None]
"""Produce one message: topic, key, value (None for a tombstone)."""


@dataclass(frozen=True, slots=True)
class Piece:
    """A run of one unit's changes to publish in this transaction.

    Attributes:
        tx: the unit (or snapshot chunk) the changes belong to.
        changes: the changes, in order.
        counts: events already published for this unit per table (split units), else empty.
        begins: whether this piece starts the unit (emit BEGIN).
        ends: whether it completes it (emit END).
        last_snapshot_row: mark the last change's event `snapshot = "last"`.
    """

    tx: TxInfo
    changes: tuple[RowChange, ...]
    counts: Mapping[str, int]
    begins: bool = True
    ends: bool = True
    last_snapshot_row: bool = False


class UnitWriter:
    """Writes pieces of units of work through `emit`.

    Args:
        codecs: the table encoders (every table of a piece must be resolved first).
        source: the publishing process, for the envelope's `source` block.
        emit: produces one message.
        part: the capture group writing (named in each marker).
        parts: how many groups write markers for each unit of work (1: capture not split);
            a pseudo-unit (snapshot chunk, resumed part) is one group's alone.
    """

    def __init__(
        self,
        codecs: TableCodecs,
        source: SourceInfo,
        emit: Emit,
        part: str | None = None,
        parts: int = 1,
    ) -> None:
        self.codecs = codecs
        self.source = source
        self.emit = emit
        self.part = part
        self.parts = parts
        self.bulk_units = 0
        """Units (pieces) written a column at a time."""
        self.declined: dict[str, int] = {}
        """Units (pieces) the bulk path declined, by reason."""

    def write(self, piece: Piece, held: Collection[str] = ()) -> dict[str, int]:
        """Emit the piece's messages; returns the unit's event counts per table so far."""
        tx = piece.tx
        topic, marker_key, encode_marker = self._markers(tx)
        part, parts = self.part, 1 if is_pseudo(tx.id) else self.parts
        if piece.begins:
            self.emit(topic, marker_key, encode_marker(begin_marker(tx, part, parts)))
        counts = dict(piece.counts)
        total = sum(counts.values())
        now_ms = time.time_ns() // 1_000_000
        emit, source, get = self.emit, self.source, self.codecs.get
        last = piece.changes[-1] if piece.last_snapshot_row and piece.changes else None
        for original in piece.changes:
            name = original.table
            if name in held:
                continue
            codec = get(name)
            if codec is None:
                raise KeyError(f"table {name} has no resolved codec")
            layout, encode, topic_of = codec.layout, codec.events.encode, codec.topic
            event_tx = TxInfo(tx.id, tx.lsn, tx.ts_ms, "last") if original is last else tx
            for change in split_key_change(original, layout):
                total += 1
                counts[name] = count = counts.get(name, 0) + 1
                key, value = encode(change, event_tx, source, (total, count), now_ms)
                emit(topic_of, key, value)
                if change.op is Op.DELETE:
                    emit(topic_of, key, None)
        if piece.ends:
            self.emit(topic, marker_key, encode_marker(end_marker(tx, counts, part, parts)))
        return counts

    def write_bulk(
        self,
        unit: BulkUnit,
        tx: TxInfo,
        *,
        published: Mapping[str, int],
        begins: bool,
        ends: bool,
        held: Collection[str] = (),
    ) -> dict[str, int]:
        """Emit a `BulkUnit`'s messages as `write` would those of its changes; returns the
        unit's event counts per table so far.

        Args:
            unit: the unit (or its piece in this transaction), rows unconverted.
            tx: the unit of work.
            published: events already published for this unit per table (split units).
            begins: whether this piece starts the unit (emit BEGIN).
            ends: whether it completes it (emit END).
            held: tables whose changes are left out.
        """
        try:
            encoded, counts = self._encode_bulk(unit, tx, published, held)
        except Unsupported as exc:
            reason = str(exc)
            self.declined[reason] = self.declined.get(reason, 0) + 1
            return self.write(Piece(tx, unit.changes, published, begins, ends), held)
        self.bulk_units += 1
        marker_topic, marker_key, encode_marker = self._markers(tx)
        emit, part, parts = self.emit, self.part, self.parts
        if begins:
            emit(marker_topic, marker_key, encode_marker(begin_marker(tx, part, parts)))
        for topic, keys, values, deletes in encoded:
            for key, value, delete in zip(keys, values, deletes, strict=True):
                emit(topic, key, value)
                if delete:
                    emit(topic, key, None)
        if ends:
            emit(marker_topic, marker_key, encode_marker(end_marker(tx, counts, part, parts)))
        return counts

    def _markers(self, tx: TxInfo) -> tuple[str, bytes, Encode]:
        """(topic, key, value encoder) of the unit's BEGIN and END markers."""
        encode_key, encode = self.codecs.markers()
        return self.codecs.marker_topic, encode_key(transaction_key(tx)), encode

    def _encode_bulk(
        self, unit: BulkUnit, tx: TxInfo, published: Mapping[str, int], held: Collection[str]
    ) -> tuple[list[tuple[str, list[bytes], list[bytes], list[bool]]], dict[str, int]]:
        """Every table's (topic, keys, values, whether each is a delete) and the counts."""
        events: list[TableEvents] = []
        codecs = []
        for rows in unit.tables():
            name = rows.table.qualified_name
            if name in held:
                continue
            codec = self.codecs.get(name)
            if codec is None:
                raise KeyError(f"table {name} has no resolved codec")
            if codec.table != rows.table:
                raise Unsupported(f"table {name} was read with another catalog than its codec's")
            codecs.append(codec)
            events.append(table_events(rows))
        counts = dict(published)
        if not events:
            return [], counts
        now_ms = time.time_ns() // 1_000_000
        out = []
        for codec, table, order in zip(codecs, events, unit_orders(events, counts), strict=True):
            ids = (codec.key_schema_id, codec.value_schema_id)
            keys, values = encode_events(
                table, ids=ids, tx=tx, source=self.source, order=order, ts_ms=now_ms
            )
            deletes = (table.op == np.uint8(ord("d"))).tolist()
            out.append((codec.topic, keys, values, deletes))
            name = codec.table.qualified_name
            counts[name] = counts.get(name, 0) + len(table)
        return out, counts
