"""CSV and JSON Lines extracts: declared types, typed values and rejects with exact messages."""

from __future__ import annotations

import io
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from reference_loader.delimited import read_csv
from reference_loader.errors import LayoutError
from reference_loader.extract import copybook_format, csv_format, jsonl_format, read_extract
from reference_loader.fieldtypes import (
    FieldType,
    TypeName,
    declare_fields,
    from_json,
    from_text,
    parse_field_type,
)
from reference_loader.jsonlines import read_jsonl
from reference_loader.records import InvalidValue, Location, Record, Reject

PORT_FIELDS = declare_fields(
    {
        "unlocode": "string(5)",
        "name": "string",
        "berths": "int",
        "draft_m": "decimal(4,1)?",
        "opened": "date?",
        "updated": "timestamp",
        "reefer": "bool",
    }
)
HEADER = "unlocode;name;berths;draft_m;opened;updated;reefer\n"


def csv_items(body: str, header: str = HEADER) -> list[Record | Reject]:
    return list(read_csv(io.StringIO(header + body, newline=""), PORT_FIELDS, delimiter=";"))


def test_parse_field_type_declarations() -> None:
    assert parse_field_type("decimal(5,2)") == (FieldType(TypeName.DECIMAL, None, 5, 2), False)
    assert parse_field_type("DECIMAL(9)?") == (FieldType(TypeName.DECIMAL, None, 9, 0), True)
    assert parse_field_type("string(5)") == (FieldType(TypeName.STRING, length=5), False)
    assert parse_field_type(" bool ?") == (FieldType(TypeName.BOOL), True)
    assert str(FieldType(TypeName.DECIMAL, None, 5, 2)) == "decimal(5,2)"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "float",
            "field x: unknown field type 'float' (use string, int, decimal, date, timestamp, bool)",
        ),
        ("decimal", "field x: field type 'decimal' needs a precision and scale: decimal(p,s)"),
        ("decimal(2,3)", "field x: field type 'decimal(2,3)' needs 1 <= p <= 38 and s <= p"),
        ("int(4)", "field x: field type 'int(4)' takes no arguments"),
    ],
)
def test_bad_declarations_are_layout_errors(text: str, message: str) -> None:
    with pytest.raises(LayoutError) as caught:
        declare_fields({"x": text})
    assert str(caught.value) == message


def test_csv_rows_become_typed_records_with_line_numbers() -> None:
    body = (
        "NOBGO;Bergen;12;10.5;1868-01-01;2026-03-01 08:30:00;true\n"
        "\n"
        'DEHAM;"Hamburg; Elbe";40;;;2026-03-01T08:30:00.25;0\n'
    )
    assert csv_items(body) == [
        Record(
            1,
            Location("line", 2),
            {
                "unlocode": "NOBGO",
                "name": "Bergen",
                "berths": 12,
                "draft_m": Decimal("10.5"),
                "opened": date(1868, 1, 1),
                "updated": datetime(2026, 3, 1, 8, 30),
                "reefer": True,
            },
        ),
        Record(
            2,
            Location("line", 4),
            {
                "unlocode": "DEHAM",
                "name": "Hamburg; Elbe",
                "berths": 40,
                "draft_m": None,
                "opened": None,
                "updated": datetime(2026, 3, 1, 8, 30, 0, 250000),
                "reefer": False,
            },
        ),
    ]


def test_csv_quoted_newlines_keep_the_starting_line() -> None:
    body = 'NOBGO;"Ber\ngen";1;;;2026-03-01 08:30:00;y\nNOOSL;Oslo;2;;;2026-03-01 08:30:00;n\n'
    items = csv_items(body)
    assert [(i.number, i.location) for i in items] == [
        (1, Location("line", 2)),
        (2, Location("line", 4)),
    ]


@pytest.mark.parametrize(
    ("row", "field", "reason"),
    [
        ("NOBGO;Bergen;12", None, "row has 3 columns, the header has 7"),
        (
            "NOBGOX;B;1;;;2026-03-01 08:30:00;y",
            "unlocode",
            "'NOBGOX' is 6 characters, string(5) allows 5",
        ),
        ("NOBGO;;1;;;2026-03-01 08:30:00;y", "name", "missing value (the field is not nullable)"),
        ("NOBGO;B;1.0;;;2026-03-01 08:30:00;y", "berths", "'1.0' is not an int"),
        (
            "NOBGO;B;9223372036854775808;;;2026-03-01 08:30:00;y",
            "berths",
            "9223372036854775808 is out of the int range (64-bit signed)",
        ),
        (
            "NOBGO;B;1;10.55;;2026-03-01 08:30:00;y",
            "draft_m",
            "10.55 has 2 decimal places, decimal(4,1) allows 1",
        ),
        ("NOBGO;B;1;1000.0;;2026-03-01 08:30:00;y", "draft_m", "1000.0 does not fit decimal(4,1)"),
        ("NOBGO;B;1;ten;;2026-03-01 08:30:00;y", "draft_m", "'ten' is not a decimal"),
        ("NOBGO;B;1;NaN;;2026-03-01 08:30:00;y", "draft_m", "'NaN' is not a decimal"),
        (
            "NOBGO;B;1;;2026-02-30;2026-03-01 08:30:00;y",
            "opened",
            "'2026-02-30' is not a date (YYYY-MM-DD)",
        ),
        (
            "NOBGO;B;1;;20260201;2026-03-01 08:30:00;y",
            "opened",
            "'20260201' is not a date (YYYY-MM-DD)",
        ),
        (
            "NOBGO;B;1;;;2026-03-01 08:30:00+01:00;y",
            "updated",
            "'2026-03-01 08:30:00+01:00' is not a timestamp without zone "
            "(YYYY-MM-DD HH:MM:SS[.ffffff])",
        ),
        (
            "NOBGO;B;1;;;2026-03-01 08:30:00;maybe",
            "reefer",
            "'maybe' is not a bool (true/false, 1/0, yes/no, y/n)",
        ),
    ],
)
def test_csv_rejects_name_record_line_field_and_reason(
    row: str, field: str | None, reason: str
) -> None:
    body = f"NOBGO;Bergen;12;;;2026-03-01 08:30:00;true\n{row}\n"
    items = csv_items(body)
    assert items[1] == Reject(2, Location("line", 3), field, reason)


def test_db2_timestamp_format_and_decimal_scale_is_exact() -> None:
    ts = FieldType(TypeName.TIMESTAMP)
    assert from_text(ts, "2026-03-01-08.30.00.123456") == datetime(2026, 3, 1, 8, 30, 0, 123456)
    value = from_text(FieldType(TypeName.DECIMAL, None, 5, 2), "-3")
    assert str(value) == "-3.00"
    assert str(from_text(FieldType(TypeName.DECIMAL, None, 5, 2), "-0.0")) == "0.00"
    wide = FieldType(TypeName.DECIMAL, None, 38, 2)
    assert str(from_text(wide, "9" * 36 + ".5")) == "9" * 36 + ".50"  # beyond 28 digits, exact
    with pytest.raises(InvalidValue) as caught:
        from_text(wide, "1E+100000")
    assert str(caught.value) == "1E+100000 does not fit decimal(38,2)"


def test_csv_header_problems_are_layout_errors() -> None:
    with pytest.raises(LayoutError) as caught:
        csv_items("", header="unlocode;name\n")
    assert str(caught.value) == (
        "header row lacks declared field(s) berths, draft_m, opened, updated, reefer "
        "(header: unlocode, name)"
    )
    with pytest.raises(LayoutError) as caught:
        list(read_csv(io.StringIO(""), PORT_FIELDS, source="ports.csv"))
    assert str(caught.value) == "ports.csv: has no header row"
    with pytest.raises(LayoutError) as caught:
        csv_items("", header=HEADER.strip() + ";name\n")
    assert str(caught.value) == "header names column 'name' twice"


def test_extra_csv_columns_are_not_read(tmp_path: Path) -> None:
    path = tmp_path / "ports.csv"
    path.write_text("code,country,name\nNOBGO,NO,Bergen\n", encoding="latin-1")
    fmt = csv_format({"code": "string", "name": "string"}, encoding="latin-1")
    assert [i.values for i in read_extract(path, fmt) if isinstance(i, Record)] == [
        {"code": "NOBGO", "name": "Bergen"}
    ]


def test_undecodable_csv_text_is_a_fatal_reject(tmp_path: Path) -> None:
    path = tmp_path / "ports.csv"
    path.write_bytes(b"code\nNOBGO\nN\xffBGO\n")
    items = list(read_extract(path, csv_format({"code": "string"})))
    assert isinstance(items[-1], Reject) and items[-1].fatal
    assert items[-1].location == Location("line", 3)
    assert items[-1].reason == (
        "not valid text: 'utf-8' codec can't decode byte 0xff in position 1: invalid start byte"
    )
    assert items[0] == Record(1, Location("line", 2), {"code": "NOBGO"})


VESSEL_FIELDS = declare_fields(
    {"vessel_id": "string", "name": "string", "reefer_plugs": "int", "teu": "decimal(7,1)?"}
)


def jsonl_items(text: str) -> list[Record | Reject]:
    return list(read_jsonl(io.StringIO(text), VESSEL_FIELDS))


def test_jsonl_lines_become_typed_records() -> None:
    text = (
        '{"vessel_id": "V1", "name": "Nordic Star", "reefer_plugs": 800, "teu": 9000.5}\n'
        "\n"
        '{"vessel_id": "V2", "name": "Polar", "reefer_plugs": 0, "teu": null, "extra": [1]}\n'
    )
    assert jsonl_items(text) == [
        Record(
            1,
            Location("line", 1),
            {
                "vessel_id": "V1",
                "name": "Nordic Star",
                "reefer_plugs": 800,
                "teu": Decimal("9000.5"),
            },
        ),
        Record(
            2,
            Location("line", 3),
            {"vessel_id": "V2", "name": "Polar", "reefer_plugs": 0, "teu": None},
        ),
    ]


@pytest.mark.parametrize(
    ("line", "field", "reason"),
    [
        (
            '{"vessel_id": "V1", "name": "N"',
            None,
            "invalid JSON: Expecting ',' delimiter at column 32",
        ),
        ('["V1"]', None, "a JSON Lines record must be an object, not array"),
        (
            '{"vessel_id": "V1", "reefer_plugs": 1}',
            "name",
            "missing value (the field is not nullable)",
        ),
        (
            '{"vessel_id": "V1", "name": 7, "reefer_plugs": 1}',
            "name",
            "expected string, got JSON number 7",
        ),
        (
            '{"vessel_id": "V1", "name": "N", "reefer_plugs": "800"}',
            "reefer_plugs",
            "expected int, got JSON string '800'",
        ),
        (
            '{"vessel_id": "V1", "name": "N", "reefer_plugs": 1.5}',
            "reefer_plugs",
            "expected int, got JSON number 1.5",
        ),
        (
            '{"vessel_id": "V1", "name": "N", "reefer_plugs": true}',
            "reefer_plugs",
            "expected int, got JSON boolean",
        ),
        (
            '{"vessel_id": "V1", "name": "N", "reefer_plugs": 1, "teu": 1.25}',
            "teu",
            "1.25 has 2 decimal places, decimal(7,1) allows 1",
        ),
    ],
)
def test_jsonl_rejects_name_record_line_field_and_reason(
    line: str, field: str | None, reason: str
) -> None:
    ok = '{"vessel_id": "V0", "name": "Ok", "reefer_plugs": 1}'
    items = jsonl_items(f"{ok}\n{line}\n{ok}\n")
    assert items[1] == Reject(2, Location("line", 2), field, reason)
    assert isinstance(items[2], Record)


def test_json_values_by_type() -> None:
    assert from_json(FieldType(TypeName.BOOL), True) is True
    assert from_json(FieldType(TypeName.DATE), "2026-01-31") == date(2026, 1, 31)
    assert str(from_json(FieldType(TypeName.DECIMAL, None, 5, 2), "1.5")) == "1.50"
    assert str(from_json(FieldType(TypeName.DECIMAL, None, 5, 2), 7)) == "7.00"
    with pytest.raises(InvalidValue) as caught:
        from_json(FieldType(TypeName.BOOL), "true")
    assert str(caught.value) == "expected bool, got JSON string 'true'"


def test_jsonl_file_via_read_extract(tmp_path: Path) -> None:
    path = tmp_path / "vessels.jsonl"
    path.write_text('{"vessel_id": "V1", "name": "Ålesund", "reefer_plugs": 3}\n', "utf-8")
    items = list(read_extract(path, jsonl_format({"vessel_id": "string", "name": "string"})))
    assert items == [Record(1, Location("line", 1), {"vessel_id": "V1", "name": "Ålesund"})]


def test_format_option_errors(tmp_path: Path) -> None:
    with pytest.raises(LayoutError) as caught:
        csv_format({"a": "string"}, delimiter=";;")
    assert str(caught.value) == "CSV delimiter must be one character, not ';;'"
    copybook = tmp_path / "x.cpy"
    with pytest.raises(LayoutError) as caught:
        copybook_format(copybook)
    assert str(caught.value) == f"{copybook}: cannot read copybook: No such file or directory"
    copybook.write_text("01 R.\n 05 A PIC X.\n")
    with pytest.raises(LayoutError) as caught:
        copybook_format(copybook, recfm="U")
    assert str(caught.value) == f"{copybook}: recfm 'U' is not FB or VB"
