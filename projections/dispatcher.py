"""Record dispatch: where each message the Kafka loop consumes goes.

A record is decoded (`RecordDecoder`) and routed: a transaction marker and a change event to
the assembler (units of work), a reference record to the next batch, a change topic's
tombstone nowhere (only its partition's position moves). An undecodable record never stops
the loop: its error row goes with the next batch and, from a change topic, it goes to the
`PoisonLedger` too, so the unit of work it belonged to can be applied without it (`stalls`).
The end of the transaction topic lets the assembler drop orphans of units applied before a
restart. A record with a schema id not seen before, and every marker (its END may count
events of a table whose topic is not read yet), are reported to the loop (`Lookout`) first.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Protocol

from confluent_kafka import KafkaError, Message

from event_contract.codec import HEADER_SIZE, schema_id_of
from event_contract.errors import CodecError
from plumbing.kafka_errors import KafkaUnavailable
from plumbing.topic_reader import Record
from projections.assembler import Partition, UnitOfWorkAssembler
from projections.batcher import Batcher
from projections.decoder import RecordDecoder, error_record
from projections.errors import DecodeFailure
from projections.events import DecodedChange, TxMarker
from projections.poison import PoisonLedger
from projections.progress import ReadProgress

logger = logging.getLogger(__name__)

_SWEEP_S = 1.0


class Lookout(Protocol):
    """What the loop hears from dispatch: signs that the topology it reads may be behind."""

    def schema_seen(self, schema_id: int) -> None:
        """A record carries `schema_id`; called before the record is decoded."""
        ...

    def marker_read(self, marker: TxMarker) -> None:
        """A BEGIN or END marker was read (and given to the assembler)."""
        ...


class RecordDispatcher:
    """Routes consumed messages to the assembler, the batch and the poison ledger.

    Args:
        decoder: the decoder of the topology read now.
        assembler: takes markers and change events.
        poison: takes undecodable change records.
        progress: notes what was read of each partition.
        batcher: takes reference records and error rows.
        lookout: hears of new schema ids and of markers.
    """

    def __init__(
        self,
        decoder: RecordDecoder,
        assembler: UnitOfWorkAssembler,
        poison: PoisonLedger,
        progress: ReadProgress,
        batcher: Batcher,
        *,
        lookout: Lookout,
    ) -> None:
        self.decoder = decoder
        """The decoder of the topology read now; the loop replaces it when it rediscovers."""
        self._assembler = assembler
        self._poison = poison
        self._progress = progress
        self._batcher = batcher
        self._lookout = lookout
        self._last_sweep = 0.0

    def dispatch_all(self, messages: Sequence[Message]) -> None:
        """Route consumed messages in order: records, ends of partitions, errors.

        The change events among them are decoded together first (`RecordDecoder.decode_many`);
        each message is then routed exactly as if it came alone.

        Raises:
            KafkaUnavailable: the consumer reported a fatal error.
        """
        records = [None if m.error() is not None else Record.of(m) for m in messages]
        decoded = self.decoder.decode_many([r for r in records if r is not None])
        heard: set[bytes] = set()
        position = 0
        for message, record in zip(messages, records, strict=True):
            if record is None:
                self.dispatch(message)
                continue
            self.dispatch(message, record, decoded.get(position), heard)
            position += 1

    def dispatch(
        self,
        message: Message,
        record: Record | None = None,
        event: DecodedChange | None = None,
        heard: set[bytes] | None = None,
    ) -> None:
        """Route one consumed message: a record, the end of a partition, or an error.

        Args:
            message: the message.
            record: its record, when already made.
            event: its change event, when already decoded.
            heard: wire-format headers (magic byte and schema id) the lookout has already
                heard of; a record carrying one is not reported again (the lookout acts only
                the first time it hears of a schema id). Taken and extended.

        Raises:
            KafkaUnavailable: the consumer reported a fatal error.
        """
        part = (message.topic() or "", int(message.partition() or 0))
        error = message.error()
        if error is not None:
            self._error(part, error)
            return
        self._progress.note_record(part)
        if record is None:
            record = Record.of(message)
        self._batcher.touch()
        value = record.value
        header = None if value is None else value[:HEADER_SIZE]
        if header is not None and (heard is None or header not in heard):
            schema_id = _schema_id(header)
            if schema_id is not None:
                self._lookout.schema_seen(schema_id)
                if heard is not None:
                    heard.add(header)
        if event is not None:
            self._route(part, record, event)
            return
        try:
            item = self.decoder.decode(record)
        except DecodeFailure as exc:
            self._poisoned(record, exc.reason)
            return
        self._route(part, record, item)

    def _route(
        self, part: Partition, record: Record, item: DecodedChange | TxMarker | None
    ) -> None:
        if item is None:
            self._assembler.note_consumed(part, record.offset)
        elif isinstance(item, TxMarker):
            self._assembler.add_marker(item)
            if item.status == "END":
                self._progress.note_end_marker(item.uow_id)
            self._lookout.marker_read(item)
        elif record.topic in self.decoder.topology.reference:
            self._batcher.add_reference(item)
        else:
            self._progress.note_change(part, item.commit_lsn)
            if self._poison:
                self._poison.observe(part, item.commit_lsn)
            self._assembler.add_event(item)

    def _error(self, part: Partition, error: KafkaError) -> None:
        if error.code() == KafkaError._PARTITION_EOF:
            self._progress.note_end(part)
            if part[0] == self.decoder.topology.tx_topic:
                self._sweep()
            return
        self._progress.note_error()
        if error.fatal():
            raise KafkaUnavailable(f"reading {part[0]}", str(error))
        logger.warning("consumer: %s", error)

    def _poisoned(self, record: Record, reason: str) -> None:
        part = (record.topic, record.partition)
        topology = self.decoder.topology
        entry = error_record(record, "decode", reason, topology)
        entry = replace(entry, key_text=self.decoder.key_text(record))
        logger.warning("error table: %s partition %d offset %d: %s", *part, record.offset, reason)
        self._batcher.add_errors([entry])
        if record.topic in topology.reference:
            self._batcher.skip_reference(part, record.offset)
            return
        self._assembler.note_consumed(part, record.offset)
        if record.topic in topology.change:
            self._poison.add(part, record.offset, self._progress.last_lsn(part), entry)

    def _sweep(self) -> None:
        """Drop orphans of units applied before (at most once a second)."""
        now = time.monotonic()
        if now - self._last_sweep >= _SWEEP_S:
            dropped = self._assembler.sweep_orphans()
            if dropped:
                logger.info("dropped %d events of units of work applied before", dropped)
            self._last_sweep = now


def _schema_id(value: bytes) -> int | None:
    """The schema id in a record's wire-format header; None when it has none."""
    try:
        return schema_id_of(value)
    except CodecError:
        return None
