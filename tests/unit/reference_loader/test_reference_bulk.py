"""Property tests of the bulk path of copybook extracts against the plain one.

`bulk_batches` (numpy columns, `columns.ColumnDecoder` + `event_contract.avro_bulk`) must give
exactly what `plain_batches` over `read_dataset` gives (`CopybookDecoder` + `Encoder.encode`
record by record): the same record numbers, the same key and value bytes, and the same rejects
(record number, byte offset, field and reason), on random copybooks whose records mix valid
fields, spoiled fields and random bytes, in several code pages (cp424 leaves bytes unmapped),
with a truncated last record now and then and batches of a few records.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from event_contract.codec import Encoder
from event_contract.reference_schemas import reference_key_schema, reference_value_schema
from reference_loader import batches as batches_module
from reference_loader.batches import (
    EncodedBatch,
    bulk_batches,
    bulk_encoder,
    plain_batches,
)
from reference_loader.dataset import Recfm, read_dataset
from reference_loader.decoders import CopybookDecoder
from reference_loader.encoders import encode_field
from reference_loader.extract import CopybookFormat, output_fields
from reference_loader.jobs import avro_fields
from reference_loader.layout import FieldKind, FieldSpec, Layout, load_layout
from reference_loader.records import Reject

PROPERTY = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
CODEPAGES = ("cp037", "cp1140", "cp500", "cp273", "cp424")
TEXT = "ABC xyz019-./&äéÑß€\xa0 "  # 2- and 3-byte UTF-8, blanks, the euro (cp1140 only)


@dataclass(frozen=True)
class Pic:
    kind: str  # text, zoned, packed, binary, native
    digits: int
    scale: int
    signed: bool

    def clause(self) -> str:
        if self.kind == "text":
            return f"PIC X({self.digits})"
        sign, point = ("S" if self.signed else ""), self.digits - self.scale
        pic = (f"{sign}9({point})" if point else sign) + (f"V9({self.scale})" if self.scale else "")
        usage = {"zoned": "", "packed": " COMP-3", "binary": " COMP", "native": " COMP-5"}
        return f"PIC {pic}{usage[self.kind]}"


@st.composite
def pics(draw: st.DrawFn, max_digits: int = 18) -> Pic:
    kind = draw(st.sampled_from(("text", "zoned", "packed", "binary", "native")))
    if kind == "text":
        return Pic(kind, draw(st.integers(1, 10)), 0, False)
    digits = draw(st.integers(1, max_digits))
    return Pic(kind, digits, draw(st.integers(0, min(digits, 4))), draw(st.booleans()))


def copybook(fields: list[Pic], fillers: list[bool]) -> str:
    lines = ["       01  BULK-REC."]
    for n, (pic, filler) in enumerate(zip(fields, fillers, strict=True)):
        if filler:
            lines.append("           05  FILLER PIC X(2).")
        lines.append(f"           05  FLD-{n:02d} {pic.clause()}.")
    return "\n".join(lines) + "\n"


def valid_bytes(draw: st.DrawFn, spec: FieldSpec, codepage: str) -> bytes:
    """Bytes a COBOL program writes for a value of `spec` (written here by the COBOL rules)."""
    if spec.kind is FieldKind.TEXT:
        chars = [c for c in TEXT if _encodable(c, codepage)]
        text = draw(st.text(st.sampled_from(chars), max_size=spec.size))
        return text.ljust(spec.size).encode(codepage)
    top = 10**spec.digits - 1
    if not spec.bounded and spec.scale == 0:
        top = 2 ** (8 * spec.size - (1 if spec.signed else 0)) - 1
    value = draw(st.integers(-top if spec.signed else 0, top))
    if spec.kind is FieldKind.BINARY:
        return value.to_bytes(spec.size, "big", signed=spec.signed)
    digits = str(abs(value)).rjust(spec.digits, "0")
    sign = ("d" if value < 0 else draw(st.sampled_from("cf"))) if spec.signed else "f"
    if spec.kind is FieldKind.PACKED:
        digits = digits if len(digits) % 2 else "0" + digits
        return bytes.fromhex(digits + sign)
    return bytes.fromhex("".join("f" + d for d in digits[:-1]) + sign + digits[-1])


def _encodable(char: str, codepage: str) -> bool:
    try:
        char.encode(codepage)
    except UnicodeEncodeError:
        return False
    return True


SPOILERS = (
    0x10,
    0x91,
    0x0A,
    0xA0,
    0x0B,
    0x0E,
    0xFA,
    0xE1,
    0x01,
    0xA1,
    0xB1,
    0xD1,
    0xD0,
    0xFF,
    0x80,
)
"""Bytes that break one rule each: a pad nibble, a digit, a sign nibble, a zone, a bound."""


def unmapped(codepage: str) -> list[int]:
    """The bytes `codepage` does not decode (cp424 has some)."""
    out = []
    for value in range(256):
        try:
            bytes([value]).decode(codepage)
        except UnicodeDecodeError:
            out.append(value)
    return out


def field_bytes(draw: st.DrawFn, spec: FieldSpec, codepage: str, spoil: bool) -> bytes:
    """Valid bytes, or (`spoil`) random ones or valid ones with one byte changed."""
    if spoil and draw(st.booleans()):
        return draw(st.binary(min_size=spec.size, max_size=spec.size))
    raw = bytearray(valid_bytes(draw, spec, codepage))
    if spoil:
        spoilers = st.sampled_from([*SPOILERS, *unmapped(codepage)]) | st.integers(0, 255)
        raw[draw(st.integers(0, spec.size - 1))] = draw(spoilers)
    return bytes(raw)


@dataclass
class Case:
    fmt: CopybookFormat
    keys: list[str]
    data: bytes


@st.composite
def cases(draw: st.DrawFn, max_digits: int = 18) -> Case:
    fields = draw(st.lists(pics(max_digits), min_size=1, max_size=6))
    fillers = draw(st.lists(st.booleans(), min_size=len(fields), max_size=len(fields)))
    layout = load_layout(copybook(fields, fillers), source="bulk.cpy")
    codepage = draw(st.sampled_from(CODEPAGES))
    names = [f.name for f in layout.fields]
    keys = draw(st.lists(st.sampled_from(names), min_size=1, max_size=2, unique=True))
    records = []
    for _ in range(draw(st.integers(0, 12))):
        record = bytearray(b"\x40" * layout.record_length)
        spoiled = draw(st.sets(st.sampled_from(names), max_size=2) | st.just(set()))
        for spec in layout.fields:
            raw = field_bytes(draw, spec, codepage, spec.name in spoiled)
            record[spec.offset : spec.offset + spec.size] = raw
        records.append(bytes(record))
    data = b"".join(records)
    if layout.record_length > 1 and draw(st.integers(0, 4)) == 0:
        data += draw(st.binary(min_size=1, max_size=layout.record_length - 1))
    return Case(CopybookFormat(layout, Recfm.FB, codepage), keys, data)


def encoders(layout: Layout, keys: list[str]) -> tuple[Encoder, Encoder]:
    fields = output_fields(CopybookFormat(layout))
    key_fields = [f for name in keys for f in fields if f.name == name]
    key_schema = reference_key_schema("t", "bulk", avro_fields(key_fields))
    return Encoder(11, key_schema), Encoder(
        12, reference_value_schema("t", "bulk", avro_fields(fields))
    )


def flat(batches: list[EncodedBatch]) -> tuple[list[tuple[int, bytes, bytes]], list[Reject]]:
    records = [r for b in batches for r in zip(b.numbers, b.keys, b.values, strict=True)]
    return records, [r for b in batches for r in b.rejects]


def plain(case: Case, enc: tuple[Encoder, Encoder]) -> list[EncodedBatch]:
    decoder = CopybookDecoder(case.fmt.layout, case.fmt.codepage)
    items = read_dataset(io.BytesIO(case.data), decoder, Recfm.FB)
    return list(plain_batches(items, case.keys, enc))


@PROPERTY
@given(case=cases(), size=st.integers(1, 5))
def test_bulk_batches_equal_plain_batches(case: Case, size: int) -> None:
    enc = encoders(case.fmt.layout, case.keys)
    bulk = bulk_encoder(case.fmt, case.keys, enc)
    assert bulk is not None
    got = list(bulk_batches(io.BytesIO(case.data), bulk, size))
    assert flat(got) == flat(plain(case, enc))
    # Batches are consecutive stretches of the file, each in record order.
    stretches = [sorted([*b.numbers, *(r.number for r in b.rejects)]) for b in got]
    assert [n for s in stretches for n in s] == list(
        range(1, len(flat(got)[0]) + len(flat(got)[1]) + 1)
    )
    for batch in got:
        assert batch.numbers == sorted(batch.numbers)
        assert [r.number for r in batch.rejects] == sorted(r.number for r in batch.rejects)


@PROPERTY
@given(case=cases())
def test_a_batch_gives_each_record_decoded(case: Case) -> None:
    enc = encoders(case.fmt.layout, case.keys)
    bulk = bulk_encoder(case.fmt, case.keys, enc)
    assert bulk is not None
    plain_records = {
        r.number: r for b in plain(case, enc) for r in map(b.record, range(len(b.numbers)))
    }
    for batch in bulk_batches(io.BytesIO(case.data), bulk, 3):
        for index, number in enumerate(batch.numbers):
            assert batch.record(index) == plain_records[number]


def test_wide_numbers_and_variable_records_take_the_plain_path() -> None:
    wide = load_layout("       01  R.\n           05  N PIC S9(19) COMP-3.\n")
    narrow = load_layout("       01  R.\n           05  N PIC S9(18) COMP-3.\n")
    assert bulk_encoder(CopybookFormat(wide), ["n"], encoders(wide, ["n"])) is None
    vb = CopybookFormat(narrow, Recfm.VB)
    assert bulk_encoder(vb, ["n"], encoders(narrow, ["n"])) is None
    assert bulk_encoder(CopybookFormat(narrow), ["n"], encoders(narrow, ["n"])) is not None


@pytest.mark.parametrize("codepage", ["cp037", "cp1140"])
def test_text_keeps_inner_blanks_and_maps_every_character(codepage: str) -> None:
    layout = load_layout("       01  R.\n           05  T PIC X(6).\n")
    fmt = CopybookFormat(layout, Recfm.FB, codepage)
    enc = encoders(layout, ["t"])
    bulk = bulk_encoder(fmt, ["t"], enc)
    assert bulk is not None
    text = "a b\xa0é" if codepage == "cp037" else "€ x"
    data = text.ljust(6).encode(codepage)
    (batch,) = bulk_batches(io.BytesIO(data), bulk)
    assert batch.values == [enc[1].encode({"t": text})]


RULES = [
    ("S9(4) COMP-3", "cp037", "10 00 0C", "pad nibble 1 is not 0"),
    ("S9(3) COMP-3", "cp037", "1A 3C", "invalid packed decimal digit"),
    ("S9(3) COMP-3", "cp037", "12 3A", "invalid packed decimal sign nibble A"),
    ("9(3) COMP-3", "cp037", "12 3D", "negative sign nibble D in an unsigned packed"),
    ("S9(3)", "cp037", "F1 E2 C3", "invalid zoned decimal zone"),
    ("S9(3)", "cp037", "F1 FA C3", "invalid zoned decimal digit"),
    ("S9(3)", "cp037", "F1 F2 B3", "invalid zoned decimal sign zone B"),
    ("9(3)", "cp037", "F1 F2 D3", "negative sign zone D in an unsigned zoned"),
    ("S9(4) COMP", "cp037", "27 10", "more than the PIC's 4 digits"),
    ("9(18) COMP-5", "cp037", "FF FF FF FF FF FF FF FF", "does not fit a 64-bit signed int"),
    ("S9(3)V9 COMP-5", "cp037", "27 10", "more than the PIC's 4 digits"),
    ("X(3)", "cp424", "C1 70 C2", "not valid cp424 text"),
]


@pytest.mark.parametrize(("pic", "codepage", "spoilt", "reason"), RULES)
def test_each_rule_refuses_the_same_record(
    pic: str, codepage: str, spoilt: str, reason: str
) -> None:
    layout = load_layout(
        f"       01  R.\n           05  K PIC X(2).\n           05  F PIC {pic}.\n"
    )
    fmt = CopybookFormat(layout, Recfm.FB, codepage)
    field = layout.fields[1]
    good = "K1".encode(codepage) + encode_field(field, "" if "X" in pic else 0, codepage)
    case = Case(fmt, ["k"], good + "K2".encode(codepage) + bytes.fromhex(spoilt) + good)
    enc = encoders(layout, ["k"])
    bulk = bulk_encoder(fmt, ["k"], enc)
    assert bulk is not None
    got = flat(list(bulk_batches(io.BytesIO(case.data), bulk)))
    assert got == flat(plain(case, enc))
    assert [number for number, _, _ in got[0]] == [1, 3]
    (reject,) = got[1]
    assert (reject.number, reject.field, reject.location.value) == (
        2,
        "f",
        2 + layout.record_length,
    )
    assert reason in reject.reason


def test_long_records_make_smaller_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    layout = load_layout("       01  R.\n           05  T PIC X(10).\n")
    fmt = CopybookFormat(layout)
    bulk = bulk_encoder(fmt, ["t"], encoders(layout, ["t"]))
    assert bulk is not None
    monkeypatch.setattr(batches_module, "BULK_BATCH_BYTES", 25)  # room for 2 records
    data = b"".join(f"K{n}".ljust(10).encode("cp037") for n in range(5))
    got = list(bulk_batches(io.BytesIO(data), bulk, 100))
    assert [b.numbers for b in got] == [[1, 2], [3, 4], [5]]
