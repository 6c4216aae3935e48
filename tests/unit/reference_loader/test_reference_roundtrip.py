"""Property tests: values encoded by a test-only encoder (written here from the COBOL rules,
independent of reference_loader.encoders) decode to the same exact values."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from reference_loader.decoders import decode_binary, decode_packed, decode_zoned
from reference_loader.encoders import encode_packed, encode_zoned


def pack(unscaled: int, digits: int, signed: bool) -> bytes:
    """Packed decimal by the book: digits as nibbles, odd count, then the sign nibble."""
    nibbles = [int(c) for c in str(abs(unscaled)).rjust(digits, "0")]
    if len(nibbles) % 2 == 0:
        nibbles.insert(0, 0)
    nibbles.append((0xD if unscaled < 0 else 0xC) if signed else 0xF)
    return bytes(16 * hi + lo for hi, lo in zip(nibbles[::2], nibbles[1::2], strict=True))


def zone(unscaled: int, digits: int, signed: bool) -> bytes:
    """Zoned decimal by the book: 0xF0 + digit a byte, the last zone C/D (signed) or F."""
    out = [0xF0 + int(c) for c in str(abs(unscaled)).rjust(digits, "0")]
    sign = (0xD0 if unscaled < 0 else 0xC0) if signed else 0xF0
    out[-1] = sign + out[-1] % 16
    return bytes(out)


@st.composite
def numbers(draw: st.DrawFn) -> tuple[int, int, int, bool]:
    digits = draw(st.integers(1, 31))
    scale = draw(st.integers(0, digits))
    signed = draw(st.booleans())
    low = -(10**digits) + 1 if signed else 0
    return draw(st.integers(low, 10**digits - 1)), digits, scale, signed


def expected(unscaled: int, scale: int) -> int | Decimal:
    return unscaled if scale == 0 else Decimal(unscaled).scaleb(-scale)


def same_exact(value: int | Decimal, want: int | Decimal, scale: int) -> None:
    assert value == want
    assert type(value) is type(want)
    if isinstance(value, Decimal):
        exponent = value.as_tuple().exponent
        assert exponent == -scale


@given(numbers())
def test_packed_round_trip(case: tuple[int, int, int, bool]) -> None:
    unscaled, digits, scale, signed = case
    raw = pack(unscaled, digits, signed)
    assert len(raw) == digits // 2 + 1
    same_exact(decode_packed(raw, scale, signed), expected(unscaled, scale), scale)


@given(numbers())
def test_zoned_round_trip(case: tuple[int, int, int, bool]) -> None:
    unscaled, digits, scale, signed = case
    raw = zone(unscaled, digits, signed)
    assert len(raw) == digits
    same_exact(decode_zoned(raw, scale, signed), expected(unscaled, scale), scale)


@given(numbers())
def test_library_encoders_agree_with_the_book(case: tuple[int, int, int, bool]) -> None:
    unscaled, digits, scale, signed = case
    value = expected(unscaled, scale)
    assert encode_packed(value, digits, scale, signed) == pack(unscaled, digits, signed)
    assert encode_zoned(value, digits, scale, signed) == zone(unscaled, digits, signed)


@given(st.sampled_from([(2, 4), (4, 9), (8, 18)]), st.integers(0, 4), st.data())
def test_binary_round_trip(size_digits: tuple[int, int], scale: int, data: st.DataObject) -> None:
    size, digits = size_digits
    unscaled = data.draw(st.integers(-(10**digits) + 1, 10**digits - 1))
    raw = unscaled.to_bytes(size, "big", signed=True)
    same_exact(decode_binary(raw, digits, scale, True, True), expected(unscaled, scale), scale)
