"""Scheduled batch loads of mainframe reference extracts into compacted Kafka topics.

The reading core: COBOL copybook layouts, EBCDIC field decoders, FB/VB dataset framing, CSV
and JSON Lines readers with declared types, and key validation, all yielding `Record` or
`Reject` values (see `extract` for the interface the load builds on).
"""

from reference_loader.dataset import Recfm, read_dataset
from reference_loader.decoders import CopybookDecoder
from reference_loader.errors import LayoutError, ReferenceLoadError, RejectedRecordError
from reference_loader.extract import (
    CopybookFormat,
    CsvFormat,
    ExtractFormat,
    JsonLinesFormat,
    copybook_format,
    csv_format,
    jsonl_format,
    output_fields,
    read_extract,
)
from reference_loader.fieldtypes import ExtractField, FieldType, TypeName
from reference_loader.layout import FieldKind, FieldSpec, Layout, load_layout
from reference_loader.records import Location, Record, Reject
from reference_loader.validation import check_keys

__all__ = [
    "CopybookDecoder",
    "CopybookFormat",
    "CsvFormat",
    "ExtractField",
    "ExtractFormat",
    "FieldKind",
    "FieldSpec",
    "FieldType",
    "JsonLinesFormat",
    "Layout",
    "LayoutError",
    "Location",
    "Recfm",
    "Record",
    "ReferenceLoadError",
    "Reject",
    "RejectedRecordError",
    "TypeName",
    "check_keys",
    "copybook_format",
    "csv_format",
    "jsonl_format",
    "load_layout",
    "output_fields",
    "read_dataset",
    "read_extract",
]
