"""Key validation: missing and duplicate keys become rejects; other items pass unchanged."""

from __future__ import annotations

import pytest

from reference_loader.records import Location, Record, Reject
from reference_loader.validation import check_keys


def rec(number: int, **values: object) -> Record:
    return Record(number, Location("line", number + 1), dict(values))


def test_missing_and_duplicate_keys_are_rejected_first_record_wins() -> None:
    bad = Reject(3, Location("line", 4), "x", "boom")
    items: list[Record | Reject] = [
        rec(1, code="A", name="one"),
        rec(2, code="B", name="two"),
        bad,
        rec(4, code="A", name="again"),
        rec(5, code="", name="blank"),
        rec(6, code=None, name="null"),
        rec(7, code="C", name="three"),
    ]
    assert list(check_keys(items, ["code"])) == [
        items[0],
        items[1],
        bad,
        Reject(4, Location("line", 5), "code", "duplicate key code='A' (first in record 1)"),
        Reject(5, Location("line", 6), "code", "missing key value"),
        Reject(6, Location("line", 7), "code", "missing key value"),
        items[6],
    ]


def test_composite_keys() -> None:
    items: list[Record | Reject] = [
        rec(1, a=1, b="x"),
        rec(2, a=1, b="y"),
        rec(3, a=1, b="x"),
        rec(4, a=2),
    ]
    assert list(check_keys(items, ["a", "b"])) == [
        items[0],
        items[1],
        Reject(3, Location("line", 4), "a", "duplicate key a=1, b='x' (first in record 1)"),
        Reject(4, Location("line", 5), "b", "missing key value"),
    ]


def test_a_job_needs_a_key() -> None:
    with pytest.raises(ValueError, match="at least one key field"):
        list(check_keys([], []))
