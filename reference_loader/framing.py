"""Record framing of mainframe datasets: RECFM=FB (fixed length) and RECFM=VB (RDWs).

A framer reads a binary stream and yields each record's bytes as a `Frame`, or a `Reject`
when the framing is broken. Only the records being yielded are held in memory.

RECFM=VB records each start with a 4-byte record descriptor word: a 2-byte big-endian
length that counts the RDW itself, then two zero bytes (non-zero ones mark spanned segments,
which are not supported). Block descriptor words are not expected: transfer VB datasets
with their RDWs only (e.g. FTP `quote site rdw`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from reference_loader.decoders import hex_bytes
from reference_loader.records import Location, Reject

RDW_SIZE = 4
_CHUNK_BYTES = 1 << 20


@dataclass(frozen=True, slots=True)
class Frame:
    """One record's bytes.

    Attributes:
        number: 1-based record number.
        offset: byte offset of the record's data in the file (after its RDW, if any).
        data: the record's bytes (without the RDW).
    """

    number: int
    offset: int
    data: bytes


def fixed_frames(stream: BinaryIO, length: int) -> Iterator[Frame | Reject]:
    """Frame RECFM=FB records of `length` bytes; a short last record becomes a `Reject`."""
    if length < 1:
        raise ValueError("record length must be at least 1")
    per_chunk = max(1, _CHUNK_BYTES // length) * length
    number, offset, carry = 0, 0, b""
    while True:
        chunk = stream.read(per_chunk - len(carry))
        if not chunk:
            break
        buffer = carry + chunk if carry else chunk
        whole = len(buffer) - len(buffer) % length
        for start in range(0, whole, length):
            number += 1
            yield Frame(number, offset + start, buffer[start : start + length])
        offset += whole
        carry = buffer[whole:]
    if carry:
        yield truncated_record(number + 1, offset, len(carry), length)


def truncated_record(number: int, offset: int, size: int, length: int) -> Reject:
    """The reject of a last RECFM=FB record of `size` bytes, short of `length`."""
    reason = f"truncated record: {size} bytes at the end of the file, the record length is {length}"
    return Reject(number, Location("byte", offset), None, reason)


def variable_frames(stream: BinaryIO) -> Iterator[Frame | Reject]:
    """Frame RECFM=VB records by their RDWs.

    A bad RDW ends the stream with a fatal `Reject` (the next record cannot be found); a
    record cut short by the end of the file becomes a `Reject` too.
    """
    number, offset = 0, 0
    while True:
        rdw = stream.read(RDW_SIZE)
        if not rdw:
            return
        number += 1
        where = Location("byte", offset)
        if len(rdw) < RDW_SIZE:
            reason = f"truncated RDW: {len(rdw)} bytes at the end of the file ({hex_bytes(rdw)})"
            yield Reject(number, where, None, reason, fatal=True)
            return
        size = int.from_bytes(rdw[:2], "big")
        if rdw[2:] != b"\0\0" or size < RDW_SIZE:
            problem = (
                "bytes 3-4 must be 00 00 (spanned records are not supported)"
                if rdw[2:] != b"\0\0"
                else f"length {size} is less than {RDW_SIZE}"
            )
            yield Reject(number, where, None, f"bad RDW {hex_bytes(rdw)}: {problem}", fatal=True)
            return
        data = stream.read(size - RDW_SIZE)
        offset += RDW_SIZE
        if len(data) < size - RDW_SIZE:
            reason = (
                f"truncated record: the RDW gives {size - RDW_SIZE} bytes of data, "
                f"the file ends after {len(data)}"
            )
            yield Reject(number, Location("byte", offset), None, reason)
            return
        yield Frame(number, offset, data)
        offset += len(data)
