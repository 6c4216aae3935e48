"""Encoders of mainframe field encodings: the inverse of `decoders`.

The loader only reads; these write sample extracts, benchmark data and test fixtures in a
copybook's layout. FILLER and unchosen REDEFINES bytes are EBCDIC blanks (0x40).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Context, Decimal
from typing import Any

from reference_loader.decoders import DEFAULT_CODEPAGE
from reference_loader.layout import FieldKind, FieldSpec, Layout

# Enough digits for any PIC: the default context (28 digits) would round 29-31 digit values.
_EXACT = Context(prec=64)


def _digits(value: int | Decimal, digits: int, scale: int, signed: bool) -> tuple[bool, str]:
    """(negative, the unscaled digits zero-padded to `digits`); ValueError if it does not fit."""
    unscaled = Decimal(value).scaleb(scale, context=_EXACT)
    if unscaled != unscaled.to_integral_value():
        raise ValueError(f"{value} has more than {scale} decimal places")
    number = int(unscaled)
    if number < 0 and not signed:
        raise ValueError(f"{value} is negative but the field is unsigned")
    text = str(abs(number))
    if len(text) > digits:
        raise ValueError(f"{value} has more than {digits} digits")
    return number < 0, text.zfill(digits)


def encode_packed(value: int | Decimal, digits: int, scale: int, signed: bool) -> bytes:
    """Packed decimal: `Decimal("-123.45")`, 5 digits, scale 2, signed → `12 34 5D`."""
    negative, text = _digits(value, digits, scale, signed)
    if len(text) % 2 == 0:
        text = "0" + text
    sign = "d" if negative else "c" if signed else "f"
    return bytes.fromhex(text + sign)


def encode_zoned(value: int | Decimal, digits: int, scale: int, signed: bool) -> bytes:
    """Zoned decimal: 123 signed → `F1 F2 C3`, -123 → `F1 F2 D3`, unsigned → `F1 F2 F3`."""
    negative, text = _digits(value, digits, scale, signed)
    sign = "d" if negative else "c" if signed else "f"
    return bytes.fromhex("".join("f" + d for d in text[:-1]) + sign + text[-1])


def encode_binary(value: int | Decimal, size: int, scale: int, signed: bool) -> bytes:
    """Big-endian binary of `size` bytes: -2 in 2 bytes → `FF FE`."""
    unscaled = Decimal(value).scaleb(scale, context=_EXACT)
    return int(unscaled).to_bytes(size, "big", signed=signed)


def encode_text(value: str, length: int, codepage: str = DEFAULT_CODEPAGE) -> bytes:
    """EBCDIC text padded with blanks to `length` bytes; ValueError if it is longer."""
    raw = value.encode(codepage)
    if len(raw) > length:
        raise ValueError(f"'{value}' is longer than {length} bytes")
    return raw + " ".encode(codepage) * (length - len(raw))


def encode_field(spec: FieldSpec, value: Any, codepage: str = DEFAULT_CODEPAGE) -> bytes:
    """The bytes of one field of a layout."""
    if spec.kind is FieldKind.TEXT:
        return encode_text(value, spec.size, codepage)
    if spec.kind is FieldKind.PACKED:
        return encode_packed(value, spec.digits, spec.scale, spec.signed)
    if spec.kind is FieldKind.ZONED:
        return encode_zoned(value, spec.digits, spec.scale, spec.signed)
    return encode_binary(value, spec.size, spec.scale, spec.signed)


def encode_record(
    layout: Layout, values: Mapping[str, Any], codepage: str = DEFAULT_CODEPAGE
) -> bytes:
    """One record of `layout` from field name → value (every field of the layout needed).

    Raises:
        KeyError: a field of the layout has no value.
        ValueError: a value does not fit its field (the message names the field).
    """
    record = bytearray(" ".encode(codepage) * layout.record_length)
    for spec in layout.fields:
        try:
            raw = encode_field(spec, values[spec.name], codepage)
        except ValueError as exc:
            raise ValueError(f"field {spec.name}: {exc}") from exc
        record[spec.offset : spec.offset + spec.size] = raw
    return bytes(record)
