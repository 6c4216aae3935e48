"""Reading a mainframe dataset (EBCDIC, fixed-width fields per a COBOL copybook).

`read_dataset` joins the framing (RECFM=FB or VB) with the record decoder and yields a
`Record` per good record and a `Reject` per bad one, streaming.
"""

from __future__ import annotations

from collections.abc import Iterator
from enum import StrEnum
from typing import BinaryIO

from reference_loader.decoders import CopybookDecoder
from reference_loader.framing import Frame, fixed_frames, variable_frames
from reference_loader.records import InvalidField, Location, Record, Reject


class Recfm(StrEnum):
    """Record format of the dataset."""

    FB = "FB"  # fixed-length records, length from the copybook
    VB = "VB"  # variable-length records, each after a 4-byte RDW


def read_dataset(
    stream: BinaryIO, decoder: CopybookDecoder, recfm: Recfm = Recfm.FB
) -> Iterator[Record | Reject]:
    """Decode every record of a dataset.

    Args:
        stream: the dataset's bytes, from the start.
        decoder: decoder of the copybook's layout and code page.
        recfm: FB (every record is `record_length` bytes) or VB (RDW framed; each record's
            data must still be exactly `record_length` bytes).

    Yields:
        A `Record` (location: the byte offset of its data) or a `Reject` (location: the
        offset of the bad field, or of the record when its length or framing is wrong).
    """
    length = decoder.layout.record_length
    frames = fixed_frames(stream, length) if recfm is Recfm.FB else variable_frames(stream)
    for frame in frames:
        yield frame if isinstance(frame, Reject) else decode_frame(decoder, frame)


def decode_frame(decoder: CopybookDecoder, frame: Frame) -> Record | Reject:
    """One framed record decoded: a `Record`, or a `Reject` naming the bad field (or the
    record, when its length is not the copybook's)."""
    length = decoder.layout.record_length
    if len(frame.data) != length:
        reason = f"record is {len(frame.data)} bytes, the copybook's record length is {length}"
        return Reject(frame.number, Location("byte", frame.offset), None, reason)
    try:
        values = decoder.decode(frame.data)
    except InvalidField as exc:
        where = Location("byte", frame.offset + exc.offset)
        return Reject(frame.number, where, exc.field, exc.reason)
    return Record(frame.number, Location("byte", frame.offset), values)
