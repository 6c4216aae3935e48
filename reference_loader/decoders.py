"""Decoders of mainframe field encodings, and of whole records of a copybook layout.

Every decoder is a pure function of the field's bytes. Numbers with implied decimals become
`decimal.Decimal` with exactly the PIC's scale (`S9(3)V99` → two decimal places, also for
zero); numbers without decimals (scale 0) become `int`. Negative zero becomes zero. Text is
decoded with a single-byte EBCDIC code page (cp037 by default; cp1140 adds the euro sign at
0x9F, cp500, cp273, cp1047, ... work too) and loses its trailing blanks.

Accepted signs: packed and zoned fields with S take C or F as positive and D as negative;
fields without S take C or F, and D is refused. Other sign nibbles or zones (A, B, E, ...)
and digits outside 0-9 are refused with `InvalidValue`, whose reason shows the bytes in hex.
So is any value wider than the field's output type: a packed field of an even digit count
whose pad (first) nibble is not 0, a COMP/BINARY value with more digits than its PIC, a
COMP-5 value beyond its type (a 64-bit signed int without decimals, the PIC's digits with
them). A decoder never returns a value the record's Avro schema would refuse.
"""

from __future__ import annotations

import codecs
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from reference_loader.errors import LayoutError
from reference_loader.layout import FieldKind, FieldSpec, Layout
from reference_loader.records import InvalidField, InvalidValue

DEFAULT_CODEPAGE = "cp037"
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

Number = int | Decimal


def hex_bytes(raw: bytes) -> str:
    """Bytes as upper-case hex pairs separated by blanks, e.g. `12 34 5D`."""
    return raw.hex(" ").upper()


def _number(negative: bool, digits: str, scale: int) -> Number:
    if scale == 0:
        value = int(digits)
        return -value if negative else value
    if negative and digits.strip("0"):
        return Decimal(f"-{digits}E-{scale}")
    return Decimal(f"{digits}E-{scale}")


def decode_packed(raw: bytes, scale: int, signed: bool, *, digits: int | None = None) -> Number:
    """Decode packed decimal (COMP-3): two digits a byte, the sign in the last half-byte.

    Example: `12 34 5D` with scale 2 is Decimal("-123.45"). `digits` is the PIC's digit
    count: when it is even the first nibble is padding and must be 0 (None: not checked).
    """
    text = raw.hex()
    number, sign = text[:-1], text[-1]
    if not number.isdigit():
        raise InvalidValue(f"invalid packed decimal digit: bytes {hex_bytes(raw)}")
    if digits is not None and len(number) > digits and number[: len(number) - digits].strip("0"):
        raise InvalidValue(
            f"packed decimal pad nibble {number[0]} is not 0 (the PIC has {digits} digits): "
            f"bytes {hex_bytes(raw)}"
        )
    if sign in "cf":
        return _number(False, number, scale)
    if sign == "d":
        if not signed:
            raise InvalidValue(
                f"negative sign nibble D in an unsigned packed decimal: bytes {hex_bytes(raw)}"
            )
        return _number(True, number, scale)
    raise InvalidValue(f"invalid packed decimal sign nibble {sign.upper()}: bytes {hex_bytes(raw)}")


def decode_zoned(raw: bytes, scale: int, signed: bool) -> Number:
    """Decode zoned decimal (DISPLAY): zone F and a digit a byte, the sign in the last zone.

    Example: `F1 F2 C3` is 123, `F1 F2 D3` is -123, `F1 F2 F3` is 123.
    """
    text = raw.hex()
    zones, digits = text[0::2], text[1::2]
    if not digits.isdigit():
        raise InvalidValue(f"invalid zoned decimal digit: bytes {hex_bytes(raw)}")
    if zones.count("f", 0, -1) != len(zones) - 1:
        raise InvalidValue(f"invalid zoned decimal zone: bytes {hex_bytes(raw)}")
    sign = zones[-1]
    if sign in "cf":
        return _number(False, digits, scale)
    if sign == "d":
        if not signed:
            raise InvalidValue(
                f"negative sign zone D in an unsigned zoned decimal: bytes {hex_bytes(raw)}"
            )
        return _number(True, digits, scale)
    raise InvalidValue(f"invalid zoned decimal sign zone {sign.upper()}: bytes {hex_bytes(raw)}")


def decode_binary(raw: bytes, digits: int, scale: int, signed: bool, bounded: bool) -> Number:
    """Decode big-endian binary (COMP/COMP-4/BINARY, or COMP-5 when not `bounded`).

    Example: `FF FE` signed is -2. A bounded field refuses values with more digits than its
    PIC (IBM's TRUNC(STD) never writes them). A COMP-5 field takes its whole binary range
    where its output type is an int (scale 0), up to a 64-bit signed int; with decimals its
    output type is decimal(digits, scale), so it is bounded by the PIC too.
    """
    value = int.from_bytes(raw, "big", signed=signed)
    if (bounded or scale) and abs(value) >= 10**digits:
        raise InvalidValue(
            f"binary value {value} has more than the PIC's {digits} digits: bytes {hex_bytes(raw)}"
        )
    if not INT64_MIN <= value <= INT64_MAX:
        raise InvalidValue(
            f"binary value {value} does not fit a 64-bit signed int: bytes {hex_bytes(raw)}"
        )
    if scale == 0:
        return value
    return Decimal(f"{value}E-{scale}")


def decode_text(raw: bytes, codepage: str = DEFAULT_CODEPAGE) -> str:
    """Decode EBCDIC text and strip its trailing blanks. `C1 40 40` in cp037 is "A"."""
    try:
        return raw.decode(codepage).rstrip(" ")
    except UnicodeDecodeError as exc:
        raise InvalidValue(f"not valid {codepage} text: bytes {hex_bytes(raw)}") from exc


def check_codepage(codepage: str) -> None:
    """Refuse code pages that are unknown or not single-byte (a layout counts bytes)."""
    try:
        codecs.lookup(codepage)
        single = len(bytes(range(256)).decode(codepage, errors="replace")) == 256
    except LookupError as exc:
        raise LayoutError(f"unknown code page '{codepage}'") from exc
    if not single:
        raise LayoutError(f"code page '{codepage}' is not a single-byte code page")


_Decode = Callable[[bytes], Any]
_Plan = list[tuple[str, int, int, _Decode | None]]


def packed_decoder(scale: int, signed: bool, digits: int | None = None) -> _Decode:
    """A fast `decode_packed` for one PIC: valid values inline, anything else to the full
    function (which handles negative zero and raises the precise error). `digits` is the
    PIC's digit count (an even count has a pad nibble that must be 0); None: not checked."""
    suffix = f"E-{scale}"
    padded = digits is not None and digits % 2 == 0

    def decode(raw: bytes) -> Any:
        text = raw.hex()
        number, sign = text[:-1], text[-1]
        if number.isdigit() and not (padded and text[0] != "0"):
            if sign in "cf":
                return Decimal(number + suffix) if scale else int(number)
            if sign == "d" and signed and number.strip("0"):
                return Decimal("-" + number + suffix) if scale else -int(number)
        return decode_packed(raw, scale, signed, digits=digits)

    return decode


def zoned_decoder(size: int, scale: int, signed: bool) -> _Decode:
    """A fast `decode_zoned` for one PIC (see `packed_decoder`)."""
    suffix, zones = f"E-{scale}", size - 1

    def decode(raw: bytes) -> Any:
        text = raw.hex()
        digits, sign = text[1::2], text[-2]
        # Once the digits are 0-9, every "f" before the last byte is a zone.
        if digits.isdigit() and text.count("f", 0, -2) == zones:
            if sign in "fc":
                return Decimal(digits + suffix) if scale else int(digits)
            if sign == "d" and signed and digits.strip("0"):
                return Decimal("-" + digits + suffix) if scale else -int(digits)
        return decode_zoned(raw, scale, signed)

    return decode


def binary_decoder(digits: int, scale: int, signed: bool, bounded: bool) -> _Decode:
    """A `decode_binary` for one PIC."""
    limit = 10**digits if bounded else None
    wide = not bounded and not signed and digits > 9  # 8 bytes: may pass a signed int64

    def decode(raw: bytes) -> Any:
        value = int.from_bytes(raw, "big", signed=signed)
        if scale or wide or (limit is not None and not -limit < value < limit):
            return decode_binary(raw, digits, scale, signed, bounded)
        return value

    return decode


def _field_decoder(spec: FieldSpec, codepage: str, sliced: bool) -> _Decode | None:
    """The decoder of one field; None for text sliced from the record decoded at once."""
    if spec.kind is FieldKind.PACKED:
        return packed_decoder(spec.scale, spec.signed, spec.digits)
    if spec.kind is FieldKind.ZONED:
        return zoned_decoder(spec.size, spec.scale, spec.signed)
    if spec.kind is FieldKind.BINARY:
        return binary_decoder(spec.digits, spec.scale, spec.signed, spec.bounded)
    return None if sliced else lambda raw: decode_text(raw, codepage)


def _maps_every_byte(codepage: str) -> bool:
    try:
        bytes(range(256)).decode(codepage)
    except UnicodeDecodeError:
        return False
    return True


class CopybookDecoder:
    """Decodes records of one copybook layout into dicts of field name → value.

    Args:
        layout: the record layout.
        codepage: the EBCDIC code page of the text fields (a Python codec name).

    Raises:
        LayoutError: the code page is unknown or not single-byte.
    """

    def __init__(self, layout: Layout, codepage: str = DEFAULT_CODEPAGE) -> None:
        check_codepage(codepage)
        self.layout = layout
        self.codepage = codepage
        # EBCDIC code pages map all 256 bytes: decoding the whole record once and slicing
        # its text fields is much faster than decoding each field.
        self._sliced = _maps_every_byte(codepage)
        self._plan: _Plan = [
            (f.name, f.offset, f.offset + f.size, _field_decoder(f, codepage, self._sliced))
            for f in layout.fields
        ]

    def decode(self, record: bytes) -> dict[str, Any]:
        """Decode one record of exactly `layout.record_length` bytes.

        Raises:
            InvalidField: a field's bytes are invalid (names the field, its offset and why).
        """
        text = record.decode(self.codepage) if self._sliced else ""
        values: dict[str, Any] = {}
        name, start = "", 0
        try:
            for name, start, end, decode in self._plan:
                if decode is None:
                    values[name] = text[start:end].rstrip(" ")
                else:
                    values[name] = decode(record[start:end])
        except InvalidValue as exc:
            raise InvalidField(name, start, str(exc)) from exc
        return values
