"""Db2 for z/OS result types of constants, arithmetic and aggregates (DEC15, Db2's default,
DEC31 once an operand has more than 15 digits), as the SQL Reference states them."""

from __future__ import annotations

import pytest

from event_contract.catalog import Db2Type
from simulators import db2_types as types
from simulators.db2_types import SqlType
from simulators.errors import Db2SqlError

D = types.decimal
SMALLINT = SqlType(Db2Type.SMALLINT)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10.5", D(3, 1)),
        ("0.10", D(3, 2)),
        ("007", SqlType(Db2Type.INTEGER, digits=3)),
        ("2147483648", SqlType(Db2Type.BIGINT, digits=10)),
        ("9223372036854775808", D(19, 0)),
        ("1.5E3", types.DOUBLE),
    ],
)
def test_constants(text: str, expected: SqlType) -> None:
    assert types.of_number(text) == expected


@pytest.mark.parametrize(
    ("op", "left", "right", "expected"),
    [
        ("+", D(13, 2), D(3, 1), D(14, 2)),
        ("-", D(13, 2), types.of_number("1"), D(14, 2)),
        ("*", D(13, 2), types.of_number("2"), D(15, 2)),  # a constant of 1 digit is DEC(5,0)
        ("*", D(13, 2), types.INTEGER, D(15, 2)),  # DEC15 caps at 15 digits
        ("*", D(20, 2), types.INTEGER, D(31, 2)),  # over 15 digits: DEC31
        ("*", D(20, 4), D(18, 6), D(31, 7)),  # the smaller operand truncated to (15, 3)
        ("/", D(13, 2), types.of_number("3"), D(15, 4)),  # 15 - (13 - 2 + 0)
        ("/", D(7, 2), D(3, 1), D(15, 9)),  # 15 - (7 - 2 + 1)
        ("/", D(20, 2), D(5, 0), D(31, 7)),  # (30 - 5) - (20 - 2 + 0), p' odd
        ("/", D(20, 2), D(4, 0), D(31, 7)),  # (29 - 4) - (20 - 2 + 0), p' even
        ("/", types.INTEGER, types.INTEGER, types.INTEGER),
        ("+", SMALLINT, SMALLINT, types.INTEGER),
        ("+", types.INTEGER, types.BIGINT, types.BIGINT),
        ("*", D(5, 2), types.DOUBLE, types.DOUBLE),
    ],
)
def test_arithmetic(op: str, left: SqlType, right: SqlType, expected: SqlType) -> None:
    assert types.arithmetic(op, left, right) == expected


def test_a_division_with_a_negative_scale_is_refused() -> None:
    with pytest.raises(Db2SqlError) as info:
        types.arithmetic("/", D(15, 0), D(5, 2))
    assert str(info.value) == (
        "the decimal division of DECIMAL(15,0) by DECIMAL(5,2) would have a negative scale "
        "(SQLCODE -419, SQLSTATE 42911)"
    )


@pytest.mark.parametrize(
    ("kind", "total", "average"),
    [
        (D(13, 2), D(15, 2), D(15, 4)),
        (D(20, 10), D(30, 10), D(31, 18)),
        (SMALLINT, types.INTEGER, types.INTEGER),
        (types.BIGINT, types.BIGINT, types.BIGINT),
    ],
)
def test_sum_and_avg(kind: SqlType, total: SqlType, average: SqlType) -> None:
    assert (types.sum_of(kind), types.avg_of(kind)) == (total, average)


def test_result_types_of_mixed_values_and_their_conflicts() -> None:
    assert types.common([D(5, 2), types.INTEGER, types.NULL], "x") == D(13, 2)
    assert types.common([SqlType(Db2Type.CHAR, 3), types.varchar(5)], "x") == types.varchar(5)
    with pytest.raises(Db2SqlError, match=r"^the types DATE and INTEGER of x are not compat"):
        types.common([SqlType(Db2Type.DATE), types.INTEGER], "x")
