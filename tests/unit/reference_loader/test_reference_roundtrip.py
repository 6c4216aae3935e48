"""Property tests: values encoded by a test-only encoder (written here from the COBOL rules,
independent of reference_loader.encoders) decode to the same exact values."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from functools import partial

from hypothesis import given
from hypothesis import strategies as st

from reference_loader.decoders import (
    binary_decoder,
    decode_binary,
    decode_packed,
    decode_zoned,
    packed_decoder,
    zoned_decoder,
)
from reference_loader.encoders import encode_packed, encode_zoned
from reference_loader.records import InvalidValue


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
    return unscaled if scale == 0 else Decimal(f"{unscaled}E-{scale}")


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


def outcome(decode: Callable[[bytes], object], raw: bytes) -> object:
    try:
        value = decode(raw)
    except InvalidValue as exc:
        return ("error", str(exc))
    return (type(value), str(value))


@given(st.binary(min_size=1, max_size=16), st.integers(0, 5), st.booleans())
def test_fast_field_decoders_agree_with_the_reference_functions_on_any_bytes(
    raw: bytes, scale: int, signed: bool
) -> None:
    assert outcome(packed_decoder(scale, signed), raw) == outcome(
        lambda r: decode_packed(r, scale, signed), raw
    )
    assert outcome(zoned_decoder(len(raw), scale, signed), raw) == outcome(
        lambda r: decode_zoned(r, scale, signed), raw
    )
    if len(raw) in (2, 4, 8):
        digits = {2: 4, 4: 9, 8: 18}[len(raw)]
        for bounded in (True, False):
            fast = binary_decoder(digits, scale, signed, bounded)
            slow = partial(
                decode_binary, digits=digits, scale=scale, signed=signed, bounded=bounded
            )
            assert outcome(fast, raw) == outcome(slow, raw)


@given(st.sampled_from(["0C", "0D", "0F"]), st.integers(0, 3))
def test_fast_decoders_keep_zero_positive(sign: str, scale: int) -> None:
    raw = bytes.fromhex("00" * 2 + sign)
    assert str(packed_decoder(scale, True)(raw)) == str(decode_packed(raw, scale, True))
    assert not str(packed_decoder(scale, True)(raw)).startswith("-")
