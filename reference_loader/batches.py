"""An extract as batches of encoded records: what a load diffs and publishes.

    for batch in encoded_batches(path, fmt, ["product_id"], (key_encoder, value_encoder)):
        for number, key, value in zip(batch.numbers, batch.keys, batch.values): ...
        batch.rejects                                   # the refused records, in order

A record becomes its key and value in the Confluent wire format, or a `Reject`: it could not
be read or decoded, a key field is empty ("missing key value"), or it does not fit the
schema. Two sources give the same batches (property tests compare them, bad records
included):

- `plain_batches`: any reader's `Record`s, encoded one by one (`Encoder.encode`);
- `bulk_batches`: a RECFM=FB copybook extract read a batch of records at a time, decoded a
  column at a time (`columns.ColumnDecoder`) and encoded a column at a time
  (`event_contract.avro_bulk`); a record that some column refuses, or whose key is empty,
  goes through the plain path, which names the field and the reason.

`encoded_batches` takes the bulk source whenever the layout and the schemas allow it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from itertools import islice
from pathlib import Path
from typing import BinaryIO

import numpy as np

from event_contract.avro_bulk import BulkWriter, StringColumn
from event_contract.codec import Encoder
from event_contract.errors import CodecError
from reference_loader.columns import ColumnDecoder, column_decoder
from reference_loader.dataset import Recfm, decode_frame
from reference_loader.decoders import CopybookDecoder
from reference_loader.delta import value_hashes
from reference_loader.extract import CopybookFormat, ExtractFormat, read_extract
from reference_loader.framing import Frame, truncated_record
from reference_loader.records import Record, Reject

BATCH_RECORDS = 1000
"""Records per batch of the plain path."""
BULK_BATCH_RECORDS = 32_768
"""Records per batch of the bulk path, at most (2 MiB of 64-byte records)."""
BULK_BATCH_BYTES = 4 << 20
"""Bytes of records per batch of the bulk path, at most (long records: fewer a batch)."""

Encoders = tuple[Encoder, Encoder]


@dataclass(frozen=True, slots=True)
class EncodedBatch:
    """Consecutive records of an extract, encoded; the refused ones apart.

    Attributes:
        numbers: record numbers of the encoded records, ascending.
        keys: their keys in the wire format.
        values: their values in the wire format.
        rejects: the refused records of the same stretch, by record number.
        record: index into `numbers` → that record decoded (for messages about it).
        hashes: the `value_hashes` of `values` (the diff's state), filled by `hashed`.
    """

    numbers: list[int]
    keys: list[bytes]
    values: list[bytes]
    rejects: list[Reject]
    record: Callable[[int], Record]
    hashes: list[int] = field(default_factory=list)

    def hashed(self) -> EncodedBatch:
        """This batch with `hashes` computed (in the thread that encoded it)."""
        return replace(self, hashes=value_hashes(self.values))


def encode_item(
    item: Record, keys: Sequence[str], encoders: Encoders
) -> tuple[bytes, bytes] | Reject:
    """A decoded record's key and value, or the `Reject` of an empty key field or of a
    record that does not fit the schemas."""
    values = item.values
    missing = next((k for k in keys if values.get(k) in (None, "")), None)
    if missing is not None:
        return Reject(item.number, item.location, missing, "missing key value")
    try:
        key = encoders[0].encode({k: values[k] for k in keys})
        return key, encoders[1].encode(values)
    except CodecError as exc:
        return Reject(item.number, item.location, None, str(exc))


def plain_batches(
    items: Iterable[Record | Reject],
    keys: Sequence[str],
    encoders: Encoders,
    size: int = BATCH_RECORDS,
) -> Iterator[EncodedBatch]:
    """Batches of `size` items of a reader, each record encoded by itself."""
    stream = iter(items)
    while chunk := list(islice(stream, size)):
        records: list[Record] = []
        out = EncodedBatch([], [], [], [], records.__getitem__)
        for item in chunk:
            encoded = item if isinstance(item, Reject) else encode_item(item, keys, encoders)
            if isinstance(encoded, Reject):
                out.rejects.append(encoded)
            else:
                assert isinstance(item, Record)
                records.append(item)
                out.numbers.append(item.number)
                out.keys.append(encoded[0])
                out.values.append(encoded[1])
        yield out.hashed()


class BulkEncoder:
    """Encodes batches of RECFM=FB records a column at a time; see the module docstring."""

    def __init__(
        self,
        fmt: CopybookFormat,
        columns: ColumnDecoder,
        writers: tuple[BulkWriter, BulkWriter],
        keys: Sequence[str],
        encoders: Encoders,
    ) -> None:
        self.length = fmt.layout.record_length
        self._plain = CopybookDecoder(fmt.layout, fmt.codepage)
        self._columns = columns
        self._writers = writers
        self._keys = tuple(keys)
        self._encoders = encoders

    def encode(self, data: bytes, first: int, offset: int) -> EncodedBatch:
        """The records in `data` (whole records), the first numbered `first` at byte
        `offset` of the file."""
        length = self.length
        count = len(data) // length
        matrix = np.frombuffer(data, dtype=np.uint8).reshape(count, length)
        decoded = self._columns.decode(matrix)
        odd = decoded.refused.copy()
        for name in self._keys:
            column = decoded.columns[name]
            if isinstance(column, StringColumn):
                odd |= ~column.keep.any(axis=1)
        keys = self._writers[0].write(decoded.columns, count)
        values = self._writers[1].write(decoded.columns, count)

        def frame(row: int) -> Frame:
            start = row * length
            return Frame(first + row, offset + start, data[start : start + length])

        if not odd.any():
            numbers = list(range(first, first + count))
            return EncodedBatch(numbers, keys, values, [], self._record_at(frame, None)).hashed()
        return self._with_odd(frame, odd.tolist(), keys, values).hashed()

    def _with_odd(
        self,
        frame: Callable[[int], Frame],
        odd: list[bool],
        keys: list[bytes],
        values: list[bytes],
    ) -> EncodedBatch:
        rows: list[int] = []
        out = EncodedBatch([], [], [], [], self._record_at(frame, rows))
        for row, plain in enumerate(odd):
            if plain:
                item = decode_frame(self._plain, frame(row))
                encoded = (
                    item
                    if isinstance(item, Reject)
                    else encode_item(item, self._keys, self._encoders)
                )
                if isinstance(encoded, Reject):
                    out.rejects.append(encoded)
                    continue
                key, value = encoded
            else:
                key, value = keys[row], values[row]
            rows.append(row)
            out.numbers.append(frame(row).number)
            out.keys.append(key)
            out.values.append(value)
        return out

    def _record_at(
        self, frame: Callable[[int], Frame], rows: list[int] | None
    ) -> Callable[[int], Record]:
        def record(index: int) -> Record:
            item = decode_frame(self._plain, frame(index if rows is None else rows[index]))
            assert isinstance(item, Record), "only records that decode are in a batch"
            return item

        return record


def bulk_encoder(
    fmt: CopybookFormat, keys: Sequence[str], encoders: Encoders
) -> BulkEncoder | None:
    """The `BulkEncoder` of a copybook extract, or None when its layout or its schemas are
    not supported by the column decoder and writers (or it is not RECFM=FB)."""
    if fmt.recfm is not Recfm.FB:
        return None
    columns = column_decoder(fmt.layout, fmt.codepage)
    writers = (encoders[0].bulk_writer(), encoders[1].bulk_writer())
    if columns is None or writers[0] is None or writers[1] is None:
        return None
    names = {f.name for f in fmt.layout.fields}
    if not set(writers[0].field_names) | set(writers[1].field_names) <= names:
        return None
    return BulkEncoder(fmt, columns, (writers[0], writers[1]), keys, encoders)


def bulk_batches(
    stream: BinaryIO, encoder: BulkEncoder, size: int = BULK_BATCH_RECORDS
) -> Iterator[EncodedBatch]:
    """The batches of a RECFM=FB dataset, `size` records each (fewer when that is more than
    `BULK_BATCH_BYTES`); the next batch is decoded and encoded in a thread
    while the caller works on the current one (numpy releases the GIL)."""
    length = encoder.length
    want = max(1, min(size, BULK_BATCH_BYTES // length)) * length
    with ThreadPoolExecutor(1, thread_name_prefix="bulk-encode") as pool:
        pending: Future[EncodedBatch] | None = None
        first, offset = 1, 0
        while True:
            data = _read_full(stream, want)
            whole = len(data) - len(data) % length
            job = pool.submit(encoder.encode, data[:whole], first, offset) if whole else None
            if pending is not None:
                yield pending.result()
            pending = job
            first, offset = first + whole // length, offset + whole
            if len(data) < want:  # the end of the file
                if pending is not None:
                    yield pending.result()
                if whole < len(data):
                    reject = truncated_record(first, offset, len(data) - whole, length)
                    yield EncodedBatch([], [], [], [reject], [].__getitem__)
                return


def _read_full(stream: BinaryIO, size: int) -> bytes:
    parts, left = [], size
    while left:
        part = stream.read(left)
        if not part:
            break
        parts.append(part)
        left -= len(part)
    return b"".join(parts)


def encoded_batches(
    path: Path, fmt: ExtractFormat, keys: Sequence[str], encoders: Encoders
) -> Iterator[EncodedBatch]:
    """The batches of the extract file `path` (closed when the iterator ends or is closed):
    the bulk path when `bulk_encoder` supports the format, the plain path otherwise."""
    encoder = bulk_encoder(fmt, keys, encoders) if isinstance(fmt, CopybookFormat) else None
    if encoder is None:
        yield from plain_batches(read_extract(path, fmt), keys, encoders)
        return
    with path.open("rb") as stream:
        yield from bulk_batches(stream, encoder)
