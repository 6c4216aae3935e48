"""Property tests of the EBCDIC path with bad input: random copybooks, valid records written
by a test-only encoder (from the COBOL rules, not `reference_loader.encoders`), then one record
spoiled: a bad packed digit, pad or sign nibble, a non-digit or badly zoned zoned byte, a
binary value beyond its PIC, text outside the code page, a truncated record, a broken RDW.

Each property reads the whole dataset with `read_dataset` and checks that the spoiled record
is rejected with its record number, its field and the byte offset of that field in the file
(or, for framing faults, the record's offset), that every other record still decodes to the
exact value written, and that the reader neither raises nor hangs.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from reference_loader.dataset import Recfm, read_dataset
from reference_loader.decoders import CopybookDecoder, hex_bytes
from reference_loader.layout import Layout, load_layout
from reference_loader.records import Location, Record, Reject

FUZZ = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,  # the same examples every run: a failure is never a fluke of the seed
    suppress_health_check=[HealthCheck.too_slow],
)
TEXT_ALPHABET = "ABCXYZ abcxyz0189-./&"
KINDS = ("text", "zoned", "packed", "binary", "native")


@dataclass(frozen=True)
class Pic:
    """One elementary field as the test writes it."""

    name: str
    kind: str
    digits: int
    scale: int
    signed: bool

    @property
    def clause(self) -> str:
        if self.kind == "text":
            return f"PIC X({self.digits})"
        sign, point = ("S" if self.signed else ""), self.digits - self.scale
        pic = f"{sign}9({point})" if point else sign
        pic += f"V9({self.scale})" if self.scale else ""
        usage = {"zoned": "", "packed": " COMP-3", "binary": " COMP", "native": " COMP-5"}
        return f"PIC {pic}{usage[self.kind]}"

    @property
    def size(self) -> int:
        if self.kind in ("text", "zoned"):
            return self.digits
        if self.kind == "packed":
            return self.digits // 2 + 1
        return 2 if self.digits <= 4 else 4 if self.digits <= 9 else 8


@st.composite
def pics(draw: st.DrawFn, number: int) -> Pic:
    kind = draw(st.sampled_from(KINDS))
    name = f"FLD-{number:02d}"
    if kind == "text":
        return Pic(name, kind, draw(st.integers(1, 12)), 0, False)
    top = 18 if kind in ("binary", "native") else 31
    digits = draw(st.integers(1, top))
    scale = draw(st.integers(0, min(digits, 4)))
    return Pic(name, kind, digits, scale, draw(st.booleans()))


@st.composite
def copybooks(draw: st.DrawFn) -> tuple[str, list[Pic]]:
    """A copybook of 1-6 fields (a FILLER now and then), in fixed reference format."""
    count = draw(st.integers(1, 6))
    fields = [draw(pics(n + 1)) for n in range(count)]
    lines = ["       01  FUZZ-REC."]
    for pic in fields:
        if draw(st.integers(0, 4)) == 0:
            lines.append("           05  FILLER PIC X(2).")
        lines.append(f"           05  {pic.name} {pic.clause}.")
    return "\n".join(lines) + "\n", fields


def unscaled_range(pic: Pic) -> tuple[int, int]:
    high = 10**pic.digits - 1
    if pic.kind == "native" and pic.scale == 0:
        high = 2 ** (8 * pic.size - (1 if pic.signed else 0)) - 1
        high = min(high, 2**63 - 1)
        return (-high - 1 if pic.signed else 0), high
    return (-high if pic.signed else 0), high


def value_of(draw: st.DrawFn, pic: Pic) -> tuple[Any, bytes]:
    """(the value the decoder must return, the field's bytes written by the COBOL rules)."""
    if pic.kind == "text":
        text = draw(st.text(TEXT_ALPHABET, max_size=pic.digits))
        return text.rstrip(" "), text.ljust(pic.digits).encode("cp037")
    low, high = unscaled_range(pic)
    unscaled = draw(st.integers(low, high))
    value: Any = unscaled if pic.scale == 0 else Decimal(f"{unscaled}E-{pic.scale}")
    if pic.kind == "packed":
        return value, pack(unscaled, pic.digits, pic.signed)
    if pic.kind == "zoned":
        return value, zone(unscaled, pic.digits, pic.signed)
    return value, unscaled.to_bytes(pic.size, "big", signed=pic.signed)


def pack(unscaled: int, digits: int, signed: bool) -> bytes:
    nibbles = str(abs(unscaled)).rjust(digits, "0")
    if len(nibbles) % 2 == 0:
        nibbles = "0" + nibbles
    sign = ("d" if unscaled < 0 else "c") if signed else "f"
    return bytes.fromhex(nibbles + sign)


def zone(unscaled: int, digits: int, signed: bool) -> bytes:
    text = str(abs(unscaled)).rjust(digits, "0")
    last = ("d" if unscaled < 0 else "c") if signed else "f"
    return bytes.fromhex("".join("f" + d for d in text[:-1]) + last + text[-1])


@dataclass
class Dataset:
    """A dataset's layout, its records' bytes and the values they must decode to."""

    layout: Layout
    pics: list[Pic]
    records: list[bytearray]
    values: list[dict[str, Any]]


@st.composite
def datasets(draw: st.DrawFn, min_records: int = 1) -> Dataset:
    text, fields = draw(copybooks())
    layout = load_layout(text, source="fuzz.cpy")
    records, values = [], []
    for _ in range(draw(st.integers(min_records, 8))):
        record = bytearray(b"\x40" * layout.record_length)
        want = {}
        for pic in fields:
            spec = layout.field(pic.name.lower().replace("-", "_"))
            assert spec.size == pic.size, pic
            value, raw = value_of(draw, pic)
            record[spec.offset : spec.offset + spec.size] = raw
            want[spec.name] = value
        records.append(record)
        values.append(want)
    return Dataset(layout, fields, records, values)


def read(ds: Dataset, data: bytes, recfm: Recfm, codepage: str = "cp037") -> list[Any]:
    return list(read_dataset(io.BytesIO(data), CopybookDecoder(ds.layout, codepage), recfm))


def fb(records: list[bytearray]) -> bytes:
    return b"".join(records)


def vb(records: list[bytearray]) -> bytes:
    return b"".join((len(r) + 4).to_bytes(2, "big") + b"\0\0" + r for r in records)


def assert_good(item: Any, number: int, values: dict[str, Any]) -> None:
    """A decoded record with exactly the values written (Decimal scale included)."""
    assert isinstance(item, Record), item
    assert item.number == number
    assert item.values == values
    for name, want in values.items():
        assert type(item.values[name]) is type(want), name
        if isinstance(want, Decimal):
            assert item.values[name].as_tuple().exponent == want.as_tuple().exponent, name


# --- field corruptions ---------------------------------------------------------------------
def corruptions(pic: Pic) -> list[str]:
    """The ways of spoiling `pic`'s bytes so that no COBOL program wrote them."""
    if pic.kind == "packed":
        ways = ["packed_digit", "packed_sign"]
        ways += ["packed_pad"] if pic.digits % 2 == 0 else []
        return ways + ([] if pic.signed else ["negative_unsigned"])
    if pic.kind == "zoned":
        ways = ["zoned_digit", "zoned_sign"] + (["zoned_zone"] if pic.digits > 1 else [])
        return ways + ([] if pic.signed else ["negative_unsigned"])
    if pic.kind == "binary" or (pic.kind == "native" and pic.scale):
        return ["binary_over_pic"]
    if pic.kind == "native" and not pic.signed and pic.size == 8:
        return ["binary_over_int64"]
    return []


def spoil(draw: st.DrawFn, pic: Pic, way: str, raw: bytes) -> bytes:
    """`raw` (a valid field of `pic`) spoiled the way `way` says."""
    nibbles = list(raw.hex())
    bad_digit = draw(st.sampled_from("abcdef"))
    if way == "packed_digit":
        nibbles[draw(st.integers(0, len(nibbles) - 2))] = bad_digit
    elif way == "packed_sign":
        nibbles[-1] = draw(st.sampled_from("0123456789abe"))
    elif way == "packed_pad":
        nibbles[0] = draw(st.sampled_from("123456789"))
    elif way == "negative_unsigned":
        at = -1 if pic.kind == "packed" else -2
        nibbles[at] = "d"
        if pic.kind == "packed" and not "".join(nibbles[:-1]).strip("0"):
            nibbles[-2] = "1"  # -0 is zero, which the field can hold
        if pic.kind == "zoned" and not "".join(nibbles[1::2]).strip("0"):
            nibbles[-1] = "1"
    elif way == "zoned_digit":
        nibbles[2 * draw(st.integers(0, len(raw) - 1)) + 1] = bad_digit
    elif way == "zoned_zone":
        nibbles[2 * draw(st.integers(0, len(raw) - 2))] = draw(st.sampled_from("0123456789abcde"))
    elif way == "zoned_sign":
        nibbles[-2] = draw(st.sampled_from("0123456789abe"))
    elif way == "binary_over_pic":
        top = 2 ** (8 * pic.size - (1 if pic.signed else 0)) - 1
        over = draw(st.integers(10**pic.digits, top))
        sign = -1 if pic.signed and draw(st.booleans()) else 1
        return (sign * over).to_bytes(pic.size, "big", signed=pic.signed)
    elif way == "binary_over_int64":
        return draw(st.integers(2**63, 2**64 - 1)).to_bytes(8, "big")
    return bytes.fromhex("".join(nibbles))


@st.composite
def spoiled_datasets(draw: st.DrawFn) -> tuple[Dataset, int, Pic, int]:
    """A dataset with one field of one record spoiled: (dataset, record index, field, the
    field's offset in the record)."""
    ds = draw(datasets().filter(lambda d: any(corruptions(p) for p in d.pics)))
    pic = draw(st.sampled_from([p for p in ds.pics if corruptions(p)]))
    way = draw(st.sampled_from(corruptions(pic)))
    index = draw(st.integers(0, len(ds.records) - 1))
    spec = ds.layout.field(pic.name.lower().replace("-", "_"))
    record = ds.records[index]
    raw = bytes(record[spec.offset : spec.offset + spec.size])
    record[spec.offset : spec.offset + spec.size] = spoil(draw, pic, way, raw)
    return ds, index, pic, spec.offset


@FUZZ
@given(spoiled=spoiled_datasets(), recfm=st.sampled_from(list(Recfm)))
def test_a_spoiled_field_rejects_its_record_naming_number_field_and_offset(
    spoiled: tuple[Dataset, int, Pic, int], recfm: Recfm
) -> None:
    ds, index, pic, field_offset = spoiled
    data = fb(ds.records) if recfm is Recfm.FB else vb(ds.records)
    items = read(ds, data, recfm)
    assert len(items) == len(ds.records)
    for n, item in enumerate(items):
        if n != index:
            assert_good(item, n + 1, ds.values[n])
            continue
        assert isinstance(item, Reject), item
        name = pic.name.lower().replace("-", "_")
        rdws = 4 * (n + 1) if recfm is Recfm.VB else 0
        start = n * ds.layout.record_length + rdws + field_offset
        assert (item.number, item.field, item.location.value) == (n + 1, name, start)
        assert not item.fatal
        spoiled_bytes = ds.records[n][field_offset : field_offset + pic.size]
        assert hex_bytes(bytes(spoiled_bytes)) in item.reason
        assert item.message.startswith(f"record {n + 1} (byte offset {start}), field {name}: ")


@FUZZ
@given(ds=datasets(), recfm=st.sampled_from(list(Recfm)))
def test_valid_records_of_any_layout_decode_to_the_values_written(
    ds: Dataset, recfm: Recfm
) -> None:
    data = fb(ds.records) if recfm is Recfm.FB else vb(ds.records)
    items = read(ds, data, recfm)
    assert len(items) == len(ds.records)
    for n, item in enumerate(items):
        assert_good(item, n + 1, ds.values[n])


def test_text_outside_the_code_page_is_rejected_naming_the_field() -> None:
    """cp424 (Hebrew EBCDIC) leaves bytes such as 0x70 unmapped: such text is refused."""
    layout = load_layout("01 R.\n  05 ID PIC 9(3).\n  05 NAME PIC X(4).\n")
    good = b"\xf1\xf2\xf3"  # zoned 123
    records = [good + b"\xc1\x40\x40\x40", good + b"\xc1\x70\x40\x40"]
    decoder = CopybookDecoder(layout, "cp424")
    items = list(read_dataset(io.BytesIO(b"".join(records)), decoder, Recfm.FB))
    assert isinstance(items[0], Record) and items[0].values == {"id": 123, "name": "A"}
    bad = items[1]
    assert isinstance(bad, Reject)
    assert (bad.number, bad.field, bad.location.value) == (2, "name", 7 + 3)
    assert bad.reason == "not valid cp424 text: bytes C1 70 40 40"


# --- framing corruptions -------------------------------------------------------------------
@FUZZ
@given(ds=datasets(), cut=st.integers(1, 10_000))
def test_a_truncated_last_fb_record_is_rejected_after_the_good_ones(ds: Dataset, cut: int) -> None:
    length = ds.layout.record_length
    assume(length > 1)
    cut = 1 + cut % (length - 1)  # bytes cut from the last record, not all of them
    data = fb(ds.records)[:-cut]
    items = read(ds, data, Recfm.FB)
    assert len(items) == len(ds.records)
    for n, item in enumerate(items[:-1]):
        assert_good(item, n + 1, ds.values[n])
    last = items[-1]
    assert isinstance(last, Reject)
    count = len(ds.records)
    assert (last.number, last.field, last.location.value) == (count, None, (count - 1) * length)
    assert last.reason == (
        f"truncated record: {length - cut} bytes at the end of the file, "
        f"the record length is {length}"
    )


def rdw(size: int, tail: bytes = b"\0\0") -> bytes:
    return size.to_bytes(2, "big") + tail


@FUZZ
@given(ds=datasets(), data=st.data())
def test_a_broken_rdw_rejects_its_record_and_ends_the_stream_when_framing_is_lost(
    ds: Dataset, data: st.DataObject
) -> None:
    """RDW length 0-3 or non-zero spanning bytes: fatal (the next record cannot be found);
    a length other than the copybook's: that record rejected, reading goes on; a length
    past the end of the file: the record is truncated; a cut RDW: fatal."""
    index = data.draw(st.integers(0, len(ds.records) - 1), label="index")
    length = ds.layout.record_length
    head = vb(ds.records[:index])
    tail = vb(ds.records[index + 1 :])
    body = bytes(ds.records[index])
    way = data.draw(st.sampled_from(["short", "spanned", "other_length", "past_end", "cut"]))
    number, offset = index + 1, len(head)
    if way == "short":
        size = data.draw(st.integers(0, 3), label="size")
        items = read(ds, head + rdw(size) + body + tail, Recfm.VB)
        reason = f"bad RDW {hex_bytes(rdw(size))}: length {size} is less than 4"
        expected = Reject(number, _byte(offset), None, reason, fatal=True)
    elif way == "spanned":
        spanned = data.draw(st.binary(min_size=2, max_size=2).filter(lambda b: b != b"\0\0"))
        items = read(ds, head + rdw(length + 4, spanned) + body + tail, Recfm.VB)
        reason = (
            f"bad RDW {hex_bytes(rdw(length + 4, spanned))}: "
            "bytes 3-4 must be 00 00 (spanned records are not supported)"
        )
        expected = Reject(number, _byte(offset), None, reason, fatal=True)
    elif way == "other_length":
        other = data.draw(st.integers(0, length + 20).filter(lambda n: n != length))
        payload = (body * 2 + b"\x40" * 20)[:other]
        items = read(ds, head + rdw(other + 4) + payload + tail, Recfm.VB)
        reason = f"record is {other} bytes, the copybook's record length is {length}"
        expected = Reject(number, _byte(offset + 4), None, reason)
        # the framing is intact: the records after it still decode
        after = items[index + 1 :]
        assert len(after) == len(ds.records) - index - 1
        for n, item in enumerate(after, start=index + 1):
            assert_good(item, n + 1, ds.values[n])
    elif way == "past_end":
        extra = data.draw(st.integers(1, 1000), label="extra")
        size = len(body) + len(tail) + extra + 4
        items = read(ds, head + rdw(size) + body + tail, Recfm.VB)
        reason = (
            f"truncated record: the RDW gives {size - 4} bytes of data, "
            f"the file ends after {len(body) + len(tail)}"
        )
        expected = Reject(number, _byte(offset + 4), None, reason)
    else:
        cut = data.draw(st.integers(1, 3), label="cut")
        items = read(ds, head + rdw(length + 4)[:cut], Recfm.VB)
        shown = hex_bytes(rdw(length + 4)[:cut])
        reason = f"truncated RDW: {cut} bytes at the end of the file ({shown})"
        expected = Reject(number, _byte(offset), None, reason, fatal=True)
    for n, item in enumerate(items[:index]):
        assert_good(item, n + 1, ds.values[n])
    assert items[index] == expected
    if expected.fatal or way == "past_end":
        assert len(items) == index + 1  # nothing read past a lost framing


def _byte(offset: int) -> Location:
    return Location("byte", offset)


@pytest.mark.parametrize("size", [0, 1, 2, 3, 4])
def test_a_tiny_rdw_never_hangs_and_names_the_record(size: int) -> None:
    """RDW 0-3 stops the reader; RDW 4 (an empty record) is one rejected record."""
    layout = load_layout("01 R.\n  05 ID PIC X(2).\n")
    good = rdw(6) + "AB".encode("cp037")
    data = good + rdw(size) + good * 3
    items = list(read_dataset(io.BytesIO(data), CopybookDecoder(layout), Recfm.VB))
    assert isinstance(items[0], Record)
    second = items[1]
    assert isinstance(second, Reject) and second.number == 2
    if size < 4:
        assert second.fatal and len(items) == 2
    else:
        assert not second.fatal and second.reason.startswith("record is 0 bytes")
        assert [i.number for i in items[2:]] == [3, 4, 5]
