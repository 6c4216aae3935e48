"""Copybook layouts: sizes and offsets by the IBM rules, OCCURS, REDEFINES, FILLER, errors."""

from __future__ import annotations

import pytest

from reference_loader.errors import LayoutError
from reference_loader.layout import FieldKind, load_layout

PRODUCT = """\
      * Product master extract, RECFM=FB
       01  PRODUCT-RECORD.
           05  PRODUCT-ID          PIC 9(6).
           05  PRODUCT-NAME        PIC X(30).
           05  TEMP-RANGE.
               10  TEMP-MIN        PIC S9(3)V99 COMP-3.
               10  TEMP-MAX        PIC S999V99 COMP-3.
           05  SHELF-LIFE-DAYS     PIC S9(4) COMP.
           05  STATUS-CODE         PIC X.
               88  ACTIVE          VALUE 'A'.
               88  RETIRED         VALUE 'R'.
           05  READINGS OCCURS 3 TIMES.
               10  R-TEMP          PIC S9(3)V9 COMP-3.
               10  R-FLAG          PIC X.
           05  FILLER              PIC X(5).
"""


def offsets(text: str, **kwargs: object) -> list[tuple[str, int, int]]:
    layout = load_layout(text, **kwargs)  # type: ignore[arg-type]
    return [(f.name, f.offset, f.size) for f in layout.fields]


def test_offsets_sizes_and_record_length_follow_the_ibm_rules() -> None:
    layout = load_layout(PRODUCT)
    assert layout.name == "PRODUCT-RECORD"
    assert [(f.name, f.offset, f.size) for f in layout.fields] == [
        ("product_id", 0, 6),
        ("product_name", 6, 30),
        ("temp_min", 36, 3),
        ("temp_max", 39, 3),
        ("shelf_life_days", 42, 2),
        ("status_code", 44, 1),
        ("r_temp_1", 45, 3),
        ("r_flag_1", 48, 1),
        ("r_temp_2", 49, 3),
        ("r_flag_2", 52, 1),
        ("r_temp_3", 53, 3),
        ("r_flag_3", 56, 1),
    ]
    assert layout.record_length == 62  # 57 bytes of fields + 5 of FILLER


def test_field_specs_carry_kind_digits_scale_and_sign() -> None:
    layout = load_layout(PRODUCT)
    temp = layout.field("temp_max")
    assert (temp.kind, temp.digits, temp.scale, temp.signed) == (FieldKind.PACKED, 5, 2, True)
    pid = layout.field("product_id")
    assert (pid.kind, pid.digits, pid.scale, pid.signed) == (FieldKind.ZONED, 6, 0, False)
    shelf = layout.field("shelf_life_days")
    assert (shelf.kind, shelf.bounded, shelf.line) == (FieldKind.BINARY, True, 8)
    name = layout.field("product_name")
    assert (name.kind, name.digits) == (FieldKind.TEXT, 30)


@pytest.mark.parametrize(
    ("pic", "usage", "size"),
    [
        ("X(7)", "", 7),
        ("XXX", "", 3),
        ("A(4)", "", 4),
        ("9(5)", "", 5),
        ("S9(5)V99", "", 7),  # zoned: the sign is overpunched, no extra byte
        ("S9(5)V99", "COMP-3", 4),
        ("9(4)", "PACKED-DECIMAL", 3),
        ("S9(1)", "COMP-3", 1),
        ("S9(31)", "COMP-3", 16),
        ("S9(1)", "COMP", 2),
        ("S9(4)", "BINARY", 2),
        ("9(5)", "COMP-4", 4),
        ("S9(9)", "COMPUTATIONAL", 4),
        ("S9(7)V99", "COMP", 4),
        ("S9(8)V99", "COMP", 8),
        ("9(18)", "COMP", 8),
        ("S9(4)", "COMP-5", 2),
        ("S9(3)V99", "USAGE IS DISPLAY", 5),
    ],
)
def test_field_sizes_by_picture_and_usage(pic: str, usage: str, size: int) -> None:
    text = f"01 R.\n  05 F PIC {pic} {usage}.\n"
    assert load_layout(text).record_length == size


def test_group_usage_applies_to_its_items() -> None:
    text = """
    01 R.
       05 TEMPS COMP-3.
          10 T-LOW  PIC S9(3)V99.
          10 T-HIGH PIC S9(3)V99.
       05 COUNTER PIC 9(3).
    """
    assert offsets(text) == [("t_low", 0, 3), ("t_high", 3, 3), ("counter", 6, 3)]


def test_group_usage_reaches_items_of_nested_groups() -> None:
    text = """
    01 R USAGE IS COMP-3.
       05 LIMITS.
          10 LOW  PIC S9(3)V99.
          10 HIGH PIC S9(3)V99.
       05 CODE PIC X(2).
       05 COUNT PIC S9(4) COMP.
       05 TAIL PIC S9(3) DISPLAY.
    """
    assert offsets(text) == [
        ("low", 0, 3),
        ("high", 3, 3),
        ("code", 6, 2),
        ("count", 8, 2),
        ("tail", 10, 3),
    ]
    assert load_layout(text).field("low").kind is FieldKind.PACKED


def test_nested_occurs_get_one_suffix_per_level() -> None:
    text = """
    01 R.
       05 DAY OCCURS 2.
          10 SLOT OCCURS 3 TIMES INDEXED BY SLOT-IX.
             15 TEMP PIC S9(2) COMP-3.
          10 NOTE PIC X(2).
    """
    assert offsets(text) == [
        ("temp_1_1", 0, 2),
        ("temp_1_2", 2, 2),
        ("temp_1_3", 4, 2),
        ("note_1", 6, 2),
        ("temp_2_1", 8, 2),
        ("temp_2_2", 10, 2),
        ("temp_2_3", 12, 2),
        ("note_2", 14, 2),
    ]


def test_elementary_occurs_repeats_the_field() -> None:
    assert offsets("01 R.\n 05 CODE PIC X(2) OCCURS 3 TIMES.\n 05 N PIC 9.\n") == [
        ("code_1", 0, 2),
        ("code_2", 2, 2),
        ("code_3", 4, 2),
        ("n", 6, 1),
    ]


REDEFINED = """
01 R.
   05 KIND PIC X.
   05 DETAIL.
      10 WEIGHT PIC 9(4).
      10 UNIT   PIC X(2).
   05 DETAIL-TEXT REDEFINES DETAIL PIC X(6).
   05 DETAIL-WIDE REDEFINES DETAIL.
      10 VOLUME PIC S9(7)V99 COMP-3.
      10 FILLER PIC X(3).
   05 TAIL PIC X.
"""


def test_redefines_reads_the_first_layout_by_default() -> None:
    assert offsets(REDEFINED) == [("kind", 0, 1), ("weight", 1, 4), ("unit", 5, 2), ("tail", 9, 1)]
    assert load_layout(REDEFINED).record_length == 10  # DETAIL-WIDE (8 bytes) is the largest


def test_redefines_choice_reads_the_chosen_overlay() -> None:
    chosen = offsets(REDEFINED, redefines={"DETAIL": "DETAIL-WIDE"})
    assert chosen == [("kind", 0, 1), ("volume", 1, 5), ("tail", 9, 1)]
    assert offsets(REDEFINED, redefines={"detail": "detail_text"}) == [
        ("kind", 0, 1),
        ("detail_text", 1, 6),
        ("tail", 9, 1),
    ]


def test_redefines_choice_errors_name_the_overlays() -> None:
    with pytest.raises(LayoutError) as caught:
        load_layout(REDEFINED, redefines={"KIND": "TAIL"})
    assert str(caught.value) == "redefines choice for KIND is TAIL, which is not one of KIND"
    with pytest.raises(LayoutError) as caught:
        load_layout(REDEFINED, redefines={"DETAIL": "NOPE"}, source="r.cpy")
    assert str(caught.value) == (
        "r.cpy: redefines choice for DETAIL is NOPE, which is not one of "
        "DETAIL, DETAIL-TEXT, DETAIL-WIDE"
    )
    with pytest.raises(LayoutError) as caught:
        load_layout(REDEFINED, redefines={"GHOST": "DETAIL"})
    assert str(caught.value) == "redefines choice names GHOST, which no item REDEFINES"


def test_several_01_records_overlay_the_first() -> None:
    text = """
    01 HEADER-REC.
       05 H-TYPE PIC X.
       05 H-DATE PIC 9(8).
    01 DETAIL-REC.
       05 D-TYPE PIC X.
       05 D-AMOUNT PIC S9(5)V99 COMP-3.
    """
    layout = load_layout(text)
    assert layout.record_length == 9
    assert [f.name for f in layout.fields] == ["h_type", "h_date"]
    chosen = load_layout(text, redefines={"HEADER-REC": "DETAIL-REC"})
    assert [(f.name, f.offset) for f in chosen.fields] == [("d_type", 0), ("d_amount", 1)]


def test_free_format_without_01_comments_and_value_clauses() -> None:
    text = """*> a free-format copybook
    * full-line comment
    05 ID PIC 9(4) VALUE ZEROS.
    05 NAME PIC X(10) VALUE 'A. B'.
    05 PRICE PIC S9(5)V99 COMP-3 VALUE -1.5. *> trailing comment
    05 FLAG PIC X JUST RIGHT.
    05 AMOUNT PIC 9(3) BLANK WHEN ZERO SIGN IS TRAILING.
    """
    layout = load_layout(text)
    assert layout.name == "RECORD"
    assert [(f.name, f.offset, f.size) for f in layout.fields] == [
        ("id", 0, 4),
        ("name", 4, 10),
        ("price", 14, 4),
        ("flag", 18, 1),
        ("amount", 19, 3),
    ]


def test_fixed_format_ignores_sequence_and_identification_areas() -> None:
    text = (
        "000100 01  REC.                                                          PRODREC \n"
        "000200     05  A          PIC X(3).                                      PRODREC \n"
        "000300*    05  COMMENTED  PIC X(99).                                             \n"
        "000400     05  B          PIC S9(3)                                      PRODREC \n"
        "000500                    COMP-3.                                        PRODREC \n"
    )
    layout = load_layout(text)
    assert [(f.name, f.offset, f.size, f.line) for f in layout.fields] == [
        ("a", 0, 3, 2),
        ("b", 3, 2, 4),
    ]


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            "05 A PIC S9(5) SIGN LEADING SEPARATE.",
            "A: SIGN LEADING / SEPARATE is not supported (only the trailing overpunched sign)",
        ),
        (
            "05 A PIC S9(5) SIGN IS TRAILING SEPARATE CHARACTER.",
            "A: SIGN LEADING / SEPARATE is not supported (only the trailing overpunched sign)",
        ),
        (
            "05 A PIC X OCCURS 1 TO 5 DEPENDING ON N.",
            "A: OCCURS DEPENDING ON is not supported (only a fixed count)",
        ),
        (
            "05 A PIC ZZZ9.99.",
            "A: PIC ZZZ9.99 is not supported (only X, A, 9, S and V, e.g. X(10), "
            "S9(5)V99; edited pictures and P scaling are not)",
        ),
        (
            "05 A PIC S9(3)PP.",
            "A: PIC S9(3)PP is not supported (only X, A, 9, S and V, e.g. X(10), "
            "S9(5)V99; edited pictures and P scaling are not)",
        ),
        ("05 A COMP-1.", "A: COMP-1 (floating point) is not supported"),
        ("05 A PIC X(4) COMP-3.", "A: USAGE COMP-3 needs a numeric PIC, not PIC X(4)"),
        ("05 A PIC S9(4) COMP SYNC.", "A: SYNCHRONIZED is not supported (it adds slack bytes)"),
        ("05 A PIC X(4) COLOUR RED.", "A: unexpected word 'COLOUR'"),
        ("66 A RENAMES B.", "level 66 is not supported (use levels 01-49)"),
        ("77 A PIC X.", "level 77 is not supported (use levels 01-49)"),
        ("COPY PRODREC.", "COPY is not supported: inline the copied members"),
        ("05 A PIC 9(19) COMP.", "A: PIC 9(19) has 19 digits; binary fields have at most 18"),
        ("05 A PIC S9(32) COMP-3.", "A: PIC S9(32) has 32 digits; packed fields have at most 31"),
        (
            "05 A PIC X(2) REDEFINES B.",
            "A REDEFINES B, which is not an earlier item of the same group",
        ),
    ],
)
def test_unsupported_entries_are_refused_naming_file_line_and_item(
    entry: str, message: str
) -> None:
    with pytest.raises(LayoutError) as caught:
        load_layout(f"01 R.\n   05 OK PIC X.\n   {entry}\n", source="prod.cpy")
    assert str(caught.value) == f"prod.cpy line 3: {message}"
    assert caught.value.line == 3
    assert caught.value.source == "prod.cpy"


def test_structural_errors_name_the_line() -> None:
    cases = {
        "01 R.\n 05 A PIC X.\n  10 B PIC X.\n": (
            "line 3: B (level 10) is under A (line 2), which has a PIC and cannot have items"
        ),
        "01 R.\n 05 G.\n 05 A PIC X.\n": "line 2: G has neither a PIC nor subordinate items",
        "01 R.\n 05 A PIC X\n": "line 2: entry '05 A PIC X' has no closing period",
        "01 R.\n 5A PIC X.\n": "line 2: expected a level number, found '5A'",
        "01 R.\n 05 A PIC X.\n 05 B.\n  10 A PIC 9.\n": (
            "field name a is used twice (lines 2 and 4); rename one, or choose one overlay "
            "with `redefines`"
        ),
        "* only comments\n": "no data description entries found",
    }
    for text, message in cases.items():
        with pytest.raises(LayoutError) as caught:
            load_layout(text)
        assert str(caught.value) == message
