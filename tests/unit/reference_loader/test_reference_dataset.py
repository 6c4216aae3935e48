"""RECFM=FB and RECFM=VB framing and decoding of whole datasets, with their rejects."""

from __future__ import annotations

import io
from decimal import Decimal
from pathlib import Path

from reference_loader.dataset import Recfm, read_dataset
from reference_loader.decoders import CopybookDecoder
from reference_loader.extract import copybook_format, output_fields, read_extract
from reference_loader.fieldtypes import ExtractField, FieldType, TypeName
from reference_loader.framing import Frame, fixed_frames, variable_frames
from reference_loader.layout import load_layout
from reference_loader.records import Location, Record, Reject

COPYBOOK = """\
       01  PORT-REC.
           05  CODE     PIC X(3).
           05  TEMP     PIC S9(1)V9 COMP-3.
"""
LAYOUT = load_layout(COPYBOOK)  # 3 + 2 = 5 bytes
ONE = bytes.fromhex("C1 C2 C3 01 5C")  # "ABC", 1.5
TWO = bytes.fromhex("C4 C5 40 02 5D")  # "DE", -2.5
BAD = bytes.fromhex("C6 C7 C8 01 5A")  # sign nibble A


def read(data: bytes, recfm: Recfm = Recfm.FB) -> list[Record | Reject]:
    return list(read_dataset(io.BytesIO(data), CopybookDecoder(LAYOUT), recfm))


def rdw(data: bytes) -> bytes:
    return (len(data) + 4).to_bytes(2, "big") + b"\0\0" + data


def test_fixed_frames_slice_records_and_number_them() -> None:
    frames = list(fixed_frames(io.BytesIO(ONE + TWO + ONE), 5))
    assert frames == [Frame(1, 0, ONE), Frame(2, 5, TWO), Frame(3, 10, ONE)]
    assert list(fixed_frames(io.BytesIO(b""), 5)) == []


def test_fixed_frames_across_chunk_boundaries() -> None:
    records = [bytes([n % 256]) * 7 for n in range(200_000)]  # 1.4 MB: more than one chunk
    frames = list(fixed_frames(io.BytesIO(b"".join(records)), 7))
    assert len(frames) == 200_000
    assert all(isinstance(f, Frame) for f in frames)
    assert [f.data for f in frames if isinstance(f, Frame)] == records
    last = frames[-1]
    assert isinstance(last, Frame) and (last.number, last.offset) == (200_000, 1_399_993)


def test_fb_dataset_decodes_records_with_their_offsets() -> None:
    assert read(ONE + TWO) == [
        Record(1, Location("byte", 0), {"code": "ABC", "temp": Decimal("1.5")}),
        Record(2, Location("byte", 5), {"code": "DE", "temp": Decimal("-2.5")}),
    ]


def test_fb_truncated_last_record_is_a_reject() -> None:
    items = read(ONE + TWO[:3])
    assert items[1] == Reject(
        2,
        Location("byte", 5),
        None,
        "truncated record: 3 bytes at the end of the file, the record length is 5",
    )
    assert not items[1].fatal
    assert len(items) == 2


def test_bad_field_is_a_reject_at_the_fields_byte_offset_and_reading_goes_on() -> None:
    items = read(ONE + BAD + TWO)
    assert [type(i).__name__ for i in items] == ["Record", "Reject", "Record"]
    reject = items[1]
    assert isinstance(reject, Reject)
    assert reject.message == (
        "record 2 (byte offset 8), field temp: invalid packed decimal sign nibble A: bytes 01 5A"
    )
    error = reject.to_error("ports.dat")
    assert str(error) == (
        "ports.dat: record 2 (byte offset 8), field temp: invalid packed decimal sign nibble A: "
        "bytes 01 5A"
    )
    assert (error.record_number, error.field, error.location) == (2, "temp", "byte offset 8")


def test_vb_dataset_reads_records_after_their_rdws() -> None:
    items = read(rdw(ONE) + rdw(TWO), Recfm.VB)
    assert items == [
        Record(1, Location("byte", 4), {"code": "ABC", "temp": Decimal("1.5")}),
        Record(2, Location("byte", 13), {"code": "DE", "temp": Decimal("-2.5")}),
    ]
    assert rdw(ONE)[:4] == bytes.fromhex("00 09 00 00")


def test_vb_record_of_the_wrong_length_is_a_reject_and_reading_goes_on() -> None:
    items = read(rdw(ONE + b"\x40") + rdw(TWO), Recfm.VB)
    assert items[0] == Reject(
        1, Location("byte", 4), None, "record is 6 bytes, the copybook's record length is 5"
    )
    assert isinstance(items[1], Record)


def test_vb_bad_rdw_ends_the_stream_with_a_fatal_reject() -> None:
    spanned = bytes.fromhex("00 09 01 00") + ONE
    items = read(rdw(ONE) + spanned + rdw(TWO), Recfm.VB)
    assert items[1] == Reject(
        2,
        Location("byte", 9),
        None,
        "bad RDW 00 09 01 00: bytes 3-4 must be 00 00 (spanned records are not supported)",
        fatal=True,
    )
    assert len(items) == 2
    short = read(bytes.fromhex("00 03 00 00") + ONE, Recfm.VB)
    assert short == [
        Reject(1, Location("byte", 0), None, "bad RDW 00 03 00 00: length 3 is less than 4", True)
    ]


def test_vb_truncated_rdw_and_truncated_record() -> None:
    assert read(rdw(ONE) + b"\x00\x09", Recfm.VB)[1] == Reject(
        2, Location("byte", 9), None, "truncated RDW: 2 bytes at the end of the file (00 09)", True
    )
    assert read(rdw(ONE)[:7], Recfm.VB) == [
        Reject(
            1,
            Location("byte", 4),
            None,
            "truncated record: the RDW gives 5 bytes of data, the file ends after 3",
        )
    ]


def test_variable_frames_of_an_empty_file() -> None:
    assert list(variable_frames(io.BytesIO(b""))) == []


def test_read_extract_opens_a_copybook_dataset(tmp_path: Path) -> None:
    copybook = tmp_path / "port.cpy"
    copybook.write_text(COPYBOOK)
    data = tmp_path / "ports.vb"
    data.write_bytes(rdw(ONE) + rdw(TWO))
    fmt = copybook_format(copybook, recfm="vb", codepage="cp1140")
    assert [i.values for i in read_extract(data, fmt) if isinstance(i, Record)] == [
        {"code": "ABC", "temp": Decimal("1.5")},
        {"code": "DE", "temp": Decimal("-2.5")},
    ]
    assert output_fields(fmt) == (
        ExtractField("code", FieldType(TypeName.STRING, length=3)),
        ExtractField("temp", FieldType(TypeName.DECIMAL, precision=2, scale=1)),
    )
