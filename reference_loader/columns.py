"""Decoding fixed-width EBCDIC records a whole column at a time (numpy).

`CopybookDecoder` decodes a record field by field in Python, about a microsecond a field.
`ColumnDecoder` takes a batch of records as one byte matrix (a row a record) and decodes each
field of every record with a few array operations: packed and zoned digits by nibble
arithmetic, binary by big-endian views, text through a 256-entry table from the code page to
UTF-8. Each field also yields which records hold a value that `CopybookDecoder` refuses, by
the same rules (see `decoders`); the caller hands those records to `CopybookDecoder` itself,
which names the field and the reason. Property tests check that both give the same values and
refuse the same records.

Numbers come out as unscaled int64 columns (`Decimal("-1.25")` with scale 2 is -125), text as
UTF-8 without its trailing blanks: the columns `event_contract.avro_bulk` encodes.

Supported: every layout whose numeric fields have at most 18 digits (their unscaled values
fit an int64), with a code page that decodes byte by byte. `column_decoder` returns None for
others, and the caller decodes record by record.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from event_contract.avro_bulk import MAX_BULK_PRECISION, Column, IntColumn, StringColumn
from reference_loader.decoders import INT64_MAX, check_codepage
from reference_loader.layout import FieldKind, FieldSpec, Layout

Matrix = npt.NDArray[np.uint8]
Flags = npt.NDArray[np.bool_]

_POSITIVE = (0xC, 0xF)
_NEGATIVE = 0xD


@dataclass(frozen=True, slots=True)
class DecodedColumns:
    """One batch decoded: a column per field, and the records some field refused.

    Attributes:
        columns: field name → its values (the values of refused records are meaningless).
        refused: True for each record that `CopybookDecoder` would refuse.
    """

    columns: dict[str, Column]
    refused: Flags


@dataclass(frozen=True, slots=True)
class _CodePage:
    """A single-byte code page as tables over the 256 byte values."""

    utf8: Matrix  # (256, width): each byte's character in UTF-8, left-aligned
    utf8_len: npt.NDArray[np.int64]  # (256,) bytes of each character (0: not mapped)
    blank: Flags  # (256,) the byte is U+0020 (stripped at the end of text)
    single: Flags  # (256,) the byte's character is one byte in UTF-8


def _code_page(codepage: str) -> _CodePage | None:
    chars: list[str | None] = []
    for value in range(256):
        try:
            chars.append(bytes([value]).decode(codepage))
        except UnicodeDecodeError:
            chars.append(None)
    mapped = [c for c in chars if c is not None]
    if any(len(c) != 1 for c in mapped):
        return None
    if "".join(mapped) != bytes(b for b, c in enumerate(chars) if c is not None).decode(codepage):
        return None  # not byte by byte (a stateful codec): leave it to the plain decoder
    encoded = [c.encode() if c is not None else b"" for c in chars]
    width = max(len(e) for e in encoded)
    utf8 = np.zeros((256, width), dtype=np.uint8)
    for value, data in enumerate(encoded):
        utf8[value, : len(data)] = np.frombuffer(data, dtype=np.uint8)
    lengths = np.array([len(e) for e in encoded], dtype=np.int64)
    blank = np.array([c == " " for c in chars], dtype=np.bool_)
    return _CodePage(utf8, lengths, blank, lengths == 1)


class ColumnDecoder:
    """Decodes batches of records of one layout into columns; see the module docstring.

    Build one with `column_decoder`.
    """

    def __init__(self, layout: Layout, page: _CodePage) -> None:
        self.layout = layout
        self._page = page

    def decode(self, records: Matrix) -> DecodedColumns:
        """Decode a (records, record_length) byte matrix."""
        count = records.shape[0]
        refused = np.zeros(count, dtype=np.bool_)
        columns: dict[str, Column] = {}
        for spec in self.layout.fields:
            raw = records[:, spec.offset : spec.offset + spec.size]
            column: Column
            if spec.kind is FieldKind.TEXT:
                column, bad = self._text(raw)
            elif spec.kind is FieldKind.PACKED:
                column, bad = _packed(raw, spec)
            elif spec.kind is FieldKind.ZONED:
                column, bad = _zoned(raw, spec)
            else:
                column, bad = _binary(raw, spec)
            columns[spec.name] = column
            refused |= bad
        return DecodedColumns(columns, refused)

    def _text(self, raw: Matrix) -> tuple[StringColumn, Flags]:
        page = self._page
        count, size = raw.shape
        # Characters kept: up to the last one that is not a blank.
        filled = ~page.blank[raw]
        kept = np.where(filled.any(axis=1), size - np.argmax(filled[:, ::-1], axis=1), 0)
        in_text = np.arange(size)[None, :] < kept[:, None]
        if page.single[raw].all():  # every character is one UTF-8 byte: no expansion
            data = page.utf8[:, 0][raw]
            return StringColumn(data, in_text, kept.astype(np.int64)), np.zeros(count, np.bool_)
        lengths = page.utf8_len[raw]
        bad = _any_in_row(lengths == 0)
        width = page.utf8.shape[1]
        data = page.utf8[raw].reshape(count, size * width)
        in_char = np.arange(width)[None, None, :] < lengths[:, :, None]
        keep = (in_char & in_text[:, :, None]).reshape(count, size * width)
        text_bytes = np.where(in_text, lengths, 0).sum(axis=1, dtype=np.int64)
        return StringColumn(data, keep, text_bytes), bad


def _any_in_row(flags: npt.NDArray[np.bool_]) -> Flags:
    return np.asarray(flags.any(axis=1), dtype=np.bool_)


def _digits_value(digits: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """The number the digit columns spell, most significant first."""
    value = np.zeros(digits.shape[0], dtype=np.int64)
    for k in range(digits.shape[1]):
        value = value * 10 + digits[:, k]
    return value


def _signed(
    value: npt.NDArray[np.int64], sign: npt.NDArray[np.int64], spec: FieldSpec, bad: Flags
) -> tuple[IntColumn, Flags]:
    negative = sign == _NEGATIVE
    positive = (sign == _POSITIVE[0]) | (sign == _POSITIVE[1])
    bad = bad | ~(positive | (negative & spec.signed))
    return IntColumn(np.where(negative, -value, value)), bad


def _packed(raw: Matrix, spec: FieldSpec) -> tuple[IntColumn, Flags]:
    nibbles = np.empty((raw.shape[0], 2 * raw.shape[1]), dtype=np.int64)
    nibbles[:, 0::2] = raw >> 4
    nibbles[:, 1::2] = raw & 0x0F
    digits, sign = nibbles[:, :-1], nibbles[:, -1]
    bad = _any_in_row(digits > 9)
    pad = digits.shape[1] - spec.digits  # 1 for an even digit count: must be 0
    if pad > 0:
        bad |= _any_in_row(digits[:, :pad] != 0)
    return _signed(_digits_value(digits[:, pad:]), sign, spec, bad)


def _zoned(raw: Matrix, spec: FieldSpec) -> tuple[IntColumn, Flags]:
    zones = (raw >> 4).astype(np.int64)
    digits = (raw & 0x0F).astype(np.int64)
    bad = _any_in_row(digits > 9) | _any_in_row(zones[:, :-1] != 0xF)
    return _signed(_digits_value(digits), zones[:, -1], spec, bad)


def _binary(raw: Matrix, spec: FieldSpec) -> tuple[IntColumn, Flags]:
    size = raw.shape[1]
    padded = np.zeros((raw.shape[0], 8), dtype=np.uint8)
    padded[:, 8 - size :] = raw
    if spec.signed and size < 8:
        # Sign-extend: a negative value's leading bytes are all ones.
        padded[:, : 8 - size] = np.where(raw[:, :1] >= 0x80, 0xFF, 0)
    unsigned = padded.view(">u8").ravel()
    values = unsigned.view(">i8").astype(np.int64)
    # Only an unsigned 8-byte value can pass the int64 range.
    bad = np.zeros(raw.shape[0], dtype=np.bool_) if spec.signed else unsigned > INT64_MAX
    if spec.bounded or spec.scale:
        bad |= np.abs(values) >= 10**spec.digits
    return IntColumn(values), bad


def column_decoder(layout: Layout, codepage: str) -> ColumnDecoder | None:
    """A `ColumnDecoder` of `layout`, or None when it is not supported (see the module
    docstring).

    Raises:
        LayoutError: the code page is unknown or not single-byte.
    """
    check_codepage(codepage)
    if any(f.kind is not FieldKind.TEXT and f.digits > MAX_BULK_PRECISION for f in layout.fields):
        return None
    page = _code_page(codepage)
    return None if page is None else ColumnDecoder(layout, page)
