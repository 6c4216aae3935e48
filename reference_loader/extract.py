"""The reading side of a reference job: an extract's format, its output fields, and its
records. This is the interface the load (delta, Kafka, ledger) builds on:

    fmt = csv_format({"unlocode": "string(5)", ...})            # or copybook_format(...)
    schema = output_fields(fmt)                                   # types for the Avro schema
    for item in check_keys(read_extract(path, fmt), ["unlocode"]):
        ...                                                       # Record or Reject

Everything here is pure but `read_extract`, which opens the file.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from reference_loader.dataset import Recfm, read_dataset
from reference_loader.decoders import DEFAULT_CODEPAGE, CopybookDecoder, check_codepage
from reference_loader.delimited import read_csv
from reference_loader.errors import LayoutError
from reference_loader.fieldtypes import ExtractField, FieldType, TypeName, declare_fields
from reference_loader.jsonlines import read_jsonl
from reference_loader.layout import FieldKind, Layout, load_layout
from reference_loader.records import Record, Reject
from reference_loader.textlines import decoded_lines

MAX_INT_DIGITS = 18


@dataclass(frozen=True, slots=True)
class CopybookFormat:
    """An EBCDIC dataset laid out by a COBOL copybook."""

    layout: Layout
    recfm: Recfm = Recfm.FB
    codepage: str = DEFAULT_CODEPAGE


@dataclass(frozen=True, slots=True)
class CsvFormat:
    """A CSV file with a header row."""

    fields: tuple[ExtractField, ...]
    delimiter: str = ","
    encoding: str = "utf-8"


@dataclass(frozen=True, slots=True)
class JsonLinesFormat:
    """A JSON Lines file, one object a line."""

    fields: tuple[ExtractField, ...]
    encoding: str = "utf-8"


ExtractFormat = CopybookFormat | CsvFormat | JsonLinesFormat


def copybook_format(
    copybook: Path,
    *,
    recfm: str = "FB",
    codepage: str = DEFAULT_CODEPAGE,
    redefines: Mapping[str, str] | None = None,
) -> CopybookFormat:
    """The format of a dataset described by the copybook file `copybook`.

    Raises:
        LayoutError: the copybook cannot be read or laid out, or recfm/codepage are invalid.
    """
    try:
        text = copybook.read_text(encoding="utf-8")
    except OSError as exc:
        raise LayoutError(f"cannot read copybook: {exc.strerror}", source=str(copybook)) from exc
    if recfm.upper() not in Recfm.__members__:
        raise LayoutError(f"recfm '{recfm}' is not FB or VB", source=str(copybook))
    check_codepage(codepage)
    layout = load_layout(text, source=str(copybook), redefines=redefines)
    return CopybookFormat(layout, Recfm(recfm.upper()), codepage)


def csv_format(
    types: Mapping[str, str], *, delimiter: str = ",", encoding: str = "utf-8"
) -> CsvFormat:
    """The format of a CSV extract with declared field types (see `fieldtypes`)."""
    if len(delimiter) != 1:
        raise LayoutError(f"CSV delimiter must be one character, not '{delimiter}'")
    return CsvFormat(declare_fields(types), delimiter, encoding)


def jsonl_format(types: Mapping[str, str], *, encoding: str = "utf-8") -> JsonLinesFormat:
    """The format of a JSON Lines extract with declared field types (see `fieldtypes`)."""
    return JsonLinesFormat(declare_fields(types), encoding)


def output_fields(fmt: ExtractFormat) -> tuple[ExtractField, ...]:
    """The fields a format's records carry, typed, in order (for the topic's Avro schema).

    Copybook fields: text → string(n); numbers without decimals and at most 18 digits →
    int; other numbers → decimal(digits, scale). None of them is nullable.
    """
    if not isinstance(fmt, CopybookFormat):
        return fmt.fields
    fields = []
    for spec in fmt.layout.fields:
        if spec.kind is FieldKind.TEXT:
            ftype = FieldType(TypeName.STRING, length=spec.digits)
        elif spec.scale == 0 and spec.digits <= MAX_INT_DIGITS:
            ftype = FieldType(TypeName.INT)
        else:
            ftype = FieldType(TypeName.DECIMAL, precision=spec.digits, scale=spec.scale)
        fields.append(ExtractField(spec.name, ftype))
    return tuple(fields)


def read_extract(path: Path, fmt: ExtractFormat) -> Iterator[Record | Reject]:
    """Stream the records of the extract file `path` (the file is closed when the iterator
    is exhausted or closed).

    Raises:
        LayoutError: the file's header does not fit the declared fields (CSV).
        OSError: the file cannot be opened.
    """
    if isinstance(fmt, CopybookFormat):
        decoder = CopybookDecoder(fmt.layout, fmt.codepage)
        with path.open("rb") as stream:
            yield from read_dataset(stream, decoder, fmt.recfm)
        return
    with path.open("rb") as stream:
        lines = decoded_lines(stream, fmt.encoding)
        if isinstance(fmt, CsvFormat):
            yield from read_csv(lines, fmt.fields, delimiter=fmt.delimiter, source=str(path))
        else:
            yield from read_jsonl(lines, fmt.fields)
