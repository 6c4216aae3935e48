"""Field decoders against byte vectors written out by hand from the COBOL rules."""

from __future__ import annotations

from decimal import Decimal

import pytest

from reference_loader.decoders import (
    CopybookDecoder,
    check_codepage,
    decode_binary,
    decode_packed,
    decode_text,
    decode_zoned,
)
from reference_loader.errors import LayoutError
from reference_loader.layout import load_layout
from reference_loader.records import InvalidField, InvalidValue


def b(hex_text: str) -> bytes:
    return bytes.fromhex(hex_text)


def exact(value: object, expected: str) -> None:
    """Equal value and equal scale: Decimal("1.50") is not Decimal("1.5") here."""
    assert isinstance(value, Decimal)
    assert str(value) == expected


# --- packed decimal (COMP-3): PIC S9(3)V99 is 3 bytes, 5 digits + sign nibble ---------------
@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("12 34 5D", "-123.45"),
        ("12 34 5C", "123.45"),
        ("12 34 5F", "123.45"),  # F: positive (unsigned-style sign) in a signed field
        ("00 00 0C", "0.00"),
        ("00 00 0D", "0.00"),  # negative zero is zero
        ("00 00 1D", "-0.01"),
        ("99 99 9C", "999.99"),
        ("99 99 9D", "-999.99"),
    ],
)
def test_packed_signed_with_two_decimals(raw: str, expected: str) -> None:
    exact(decode_packed(b(raw), 2, True), expected)


def test_packed_integers_unsigned_and_even_digit_counts() -> None:
    assert decode_packed(b("12 3F"), 0, False) == 123  # PIC 9(3) COMP-3
    assert decode_packed(b("12 3C"), 0, False) == 123
    assert decode_packed(b("99 9F"), 0, False) == 999
    assert decode_packed(b("00 0F"), 0, False) == 0
    assert decode_packed(b("01 23 4C"), 0, True) == 1234  # PIC S9(4): leading pad nibble
    assert decode_packed(b("09 99 9D"), 0, True) == -9999
    assert decode_packed(b("7C"), 0, True) == 7  # PIC S9(1): one byte
    assert decode_packed(b("99" * 15 + "9C"), 0, True) == 10**31 - 1  # PIC S9(31)
    exact(decode_packed(b("99" * 15 + "9D"), 2, True), "-" + "9" * 29 + ".99")  # S9(29)V99
    exact(decode_packed(b("00 00 5C"), 1, True), "0.5")  # PIC S9(4)V9
    exact(decode_packed(b("12 34 5D"), 5, True), "-0.12345")  # PIC SV9(5)


@pytest.mark.parametrize(
    ("raw", "signed", "reason"),
    [
        ("12 34 5A", True, "invalid packed decimal sign nibble A: bytes 12 34 5A"),
        ("12 34 5B", True, "invalid packed decimal sign nibble B: bytes 12 34 5B"),
        ("12 34 59", True, "invalid packed decimal sign nibble 9: bytes 12 34 59"),
        ("1A 34 5C", True, "invalid packed decimal digit: bytes 1A 34 5C"),
        ("12 F4 5C", True, "invalid packed decimal digit: bytes 12 F4 5C"),
        ("40 40 40", True, "invalid packed decimal sign nibble 0: bytes 40 40 40"),  # blanks
        ("12 3D", False, "negative sign nibble D in an unsigned packed decimal: bytes 12 3D"),
    ],
)
def test_packed_invalid_digits_and_signs_are_refused(raw: str, signed: bool, reason: str) -> None:
    with pytest.raises(InvalidValue) as caught:
        decode_packed(b(raw), 2, signed)
    assert str(caught.value) == reason


# --- zoned decimal (DISPLAY): zone F a byte, sign overpunched in the last zone --------------
@pytest.mark.parametrize(
    ("raw", "signed", "expected"),
    [
        ("F1 F2 C3", True, 123),
        ("F1 F2 D3", True, -123),
        ("F1 F2 F3", True, 123),
        ("F1 F2 F3", False, 123),  # PIC 9(3)
        ("F1 F2 C3", False, 123),
        ("F0 F0 C0", True, 0),
        ("F0 F0 D0", True, 0),
        ("F9 F9 F9 F9 C9", True, 99999),
        ("F9 F9 F9 F9 D9", True, -99999),
        ("F9 F9 F9 F9 F9", False, 99999),
    ],
)
def test_zoned_integers(raw: str, signed: bool, expected: int) -> None:
    value = decode_zoned(b(raw), 0, signed)
    assert type(value) is int
    assert value == expected


def test_zoned_with_implied_decimals() -> None:
    exact(decode_zoned(b("F0 F0 F1 F2 D3"), 2, True), "-1.23")  # PIC S9(3)V99
    exact(decode_zoned(b("F1 F2 F3 F4 C5"), 2, True), "123.45")
    exact(decode_zoned(b("F0 F0 F0 F0 C0"), 2, True), "0.00")
    exact(decode_zoned(b("F9 F9 F9 F9 D9"), 2, True), "-999.99")
    exact(decode_zoned(b("F0 F5"), 2, False), "0.05")  # PIC V99


@pytest.mark.parametrize(
    ("raw", "signed", "reason"),
    [
        ("F1 F2 A3", True, "invalid zoned decimal sign zone A: bytes F1 F2 A3"),
        ("F1 F2 43", True, "invalid zoned decimal sign zone 4: bytes F1 F2 43"),
        ("F1 C2 C3", True, "invalid zoned decimal zone: bytes F1 C2 C3"),
        ("40 F2 C3", True, "invalid zoned decimal zone: bytes 40 F2 C3"),  # a blank
        ("F1 FA C3", True, "invalid zoned decimal digit: bytes F1 FA C3"),
        ("F1 F2 D3", False, "negative sign zone D in an unsigned zoned decimal: bytes F1 F2 D3"),
    ],
)
def test_zoned_invalid_bytes_are_refused(raw: str, signed: bool, reason: str) -> None:
    with pytest.raises(InvalidValue) as caught:
        decode_zoned(b(raw), 0, signed)
    assert str(caught.value) == reason


# --- binary (COMP / COMP-4 / BINARY): big-endian two's complement --------------------------
@pytest.mark.parametrize(
    ("raw", "digits", "signed", "expected"),
    [
        ("FF FE", 4, True, -2),  # PIC S9(4) COMP
        ("00 02", 4, True, 2),
        ("00 00", 4, True, 0),
        ("27 0F", 4, True, 9999),
        ("D8 F1", 4, True, -9999),
        ("27 0F", 4, False, 9999),  # PIC 9(4) COMP
        ("3B 9A C9 FF", 9, True, 999_999_999),  # PIC S9(9) COMP
        ("C4 65 36 01", 9, True, -999_999_999),
        ("0D E0 B6 B3 A7 63 FF FF", 18, True, 999_999_999_999_999_999),  # PIC S9(18) COMP
        ("F2 1F 49 4C 58 9C 00 01", 18, True, -999_999_999_999_999_999),
    ],
)
def test_binary_integers(raw: str, digits: int, signed: bool, expected: int) -> None:
    assert decode_binary(b(raw), digits, 0, signed, True) == expected


def test_binary_with_implied_decimals_and_comp5() -> None:
    exact(decode_binary(b("FF FF CF C7"), 7, 2, True, True), "-123.45")  # S9(5)V99 COMP
    exact(decode_binary(b("00 00 00 00"), 7, 2, True, True), "0.00")
    assert decode_binary(b("7F FF"), 4, 0, True, False) == 32767  # COMP-5: whole range
    assert decode_binary(b("FF FF"), 4, 0, False, False) == 65535


def test_binary_beyond_the_pic_digits_is_refused() -> None:
    with pytest.raises(InvalidValue) as caught:
        decode_binary(b("27 10"), 4, 0, True, True)
    assert str(caught.value) == "binary value 10000 has more than the PIC's 4 digits: bytes 27 10"
    with pytest.raises(InvalidValue) as caught:
        decode_binary(b("FF FE"), 4, 0, False, True)
    assert str(caught.value) == "binary value 65534 has more than the PIC's 4 digits: bytes FF FE"


# --- text -----------------------------------------------------------------------------------
def test_text_in_cp037_and_cp1140() -> None:
    assert decode_text(b("C1")) == "A"
    assert decode_text(b("C1 C2 40 40")) == "AB"  # trailing blanks stripped
    assert decode_text(b("40 C1 40")) == " A"  # leading blanks kept
    assert decode_text(b("40 40")) == ""
    assert decode_text(b("81 F1 6B 7D")) == "a1,'"
    assert decode_text(b("9F"), "cp1140") == "€"
    assert decode_text(b("9F"), "cp037") == "¤"
    assert decode_text(b("C2 85 99 87 85 95"), "cp1140") == "Bergen"


def test_code_pages_must_be_known_and_single_byte() -> None:
    check_codepage("cp500")
    with pytest.raises(LayoutError) as caught:
        check_codepage("cp9999")
    assert str(caught.value) == "unknown code page 'cp9999'"
    with pytest.raises(LayoutError) as caught:
        check_codepage("utf-16")
    assert str(caught.value) == "code page 'utf-16' is not a single-byte code page"


# --- whole records --------------------------------------------------------------------------
LAYOUT = load_layout(
    """
    01 R.
       05 ID      PIC 9(4).
       05 NAME    PIC X(6).
       05 TMIN    PIC S9(3)V99 COMP-3.
       05 DAYS    PIC S9(4) COMP.
       05 FILLER  PIC X(2).
       05 PRICE   PIC S9(3)V99.
    """
)
RECORD = b("F0 F0 F4 F2 C2 85 99 87 40 40 12 34 5D 00 1E 40 40 F0 F1 F2 F3 D4")


def test_record_decoder_decodes_every_field_in_layout_order() -> None:
    values = CopybookDecoder(LAYOUT).decode(RECORD)
    assert values == {
        "id": 42,
        "name": "Berg",
        "tmin": Decimal("-123.45"),
        "days": 30,
        "price": Decimal("-12.34"),
    }
    assert list(values) == ["id", "name", "tmin", "days", "price"]
    exact(values["tmin"], "-123.45")


def test_record_decoder_names_field_and_offset_of_bad_bytes() -> None:
    bad = bytearray(RECORD)
    bad[12] = 0x5A
    with pytest.raises(InvalidField) as caught:
        CopybookDecoder(LAYOUT).decode(bytes(bad))
    assert (caught.value.field, caught.value.offset) == ("tmin", 10)
    assert caught.value.reason == "invalid packed decimal sign nibble A: bytes 12 34 5A"


def test_record_decoder_with_a_code_page_that_leaves_bytes_unmapped() -> None:
    # EBCDIC code pages map every byte; ascii does not, which takes the per-field path.
    values = CopybookDecoder(LAYOUT, "cp1140").decode(RECORD)
    assert values["name"] == "Berg"
    ascii_layout = load_layout("01 R.\n 05 T PIC X(2).\n 05 N PIC S9(3) COMP-3.\n")
    decoder = CopybookDecoder(ascii_layout, "ascii")
    assert decoder.decode(b"ok" + b("12 3D")) == {"t": "ok", "n": -123}
    with pytest.raises(InvalidField) as caught:
        decoder.decode(b("C1 C1 12 3D"))
    assert (caught.value.field, caught.value.reason) == ("t", "not valid ascii text: bytes C1 C1")
