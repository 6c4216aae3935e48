"""The row digests of `offload reconcile`: exact values, any order, the differing keys named."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from event_contract.catalog import Column, Db2Type
from offload.reconcile_rows import differing_keys, digest_plain, digest_rows

COLUMNS = (
    Column("ID", Db2Type.BIGINT),
    Column("CODE", Db2Type.CHAR, 6),
    Column("AMOUNT", Db2Type.DECIMAL, 9, 2),
    Column("SEEN", Db2Type.TIMESTAMP),
    Column("DAY", Db2Type.DATE),
    Column("RATIO", Db2Type.DOUBLE),
)
KEY = ("ID",)


def _source(i: int, amount: str = "10.50", code: str = "AB    ") -> dict[str, Any]:
    return {
        "ID": i,
        "CODE": code,
        "AMOUNT": Decimal(amount),
        "SEEN": datetime(2026, 1, 2, 3, 4, 5, 600_000 + i),
        "DAY": date(2026, 1, i),
        "RATIO": 0.1 * i,
    }


def _mirror(row: dict[str, Any]) -> dict[str, Any]:
    """As the mirror holds it: lowercased names, CHAR without trailing blanks."""
    out = {k.lower(): v for k, v in row.items()}
    out["code"] = row["CODE"].rstrip(" ")
    return out


def test_same_rows_in_any_order_and_representation_agree() -> None:
    rows = [_source(i) for i in range(1, 6)]
    mirror = [_mirror(r) for r in reversed(rows)]
    mirror[0]["amount"] = Decimal("10.5")  # the same number at another scale
    ours = digest_rows(rows, COLUMNS, KEY, lower=False)
    theirs = digest_rows(mirror, COLUMNS, KEY, lower=True)
    assert (ours.rows, ours.digest) == (theirs.rows, theirs.digest) == (5, ours.digest)
    assert differing_keys(ours, theirs, 10) == []


def test_one_cent_a_missing_row_and_an_extra_row_are_named() -> None:
    rows = [_source(i) for i in range(1, 6)]
    mirror = [_mirror(r) for r in rows if r["ID"] != 2]
    mirror[2]["amount"] = Decimal("10.51")  # ID 4
    mirror.append(_mirror(_source(9)))
    ours = digest_rows(rows, COLUMNS, KEY, lower=False)
    theirs = digest_rows(mirror, COLUMNS, KEY, lower=True)
    assert ours.digest != theirs.digest
    assert differing_keys(ours, theirs, 10) == [
        {"key": ["2"], "difference": "missing"},
        {"key": ["4"], "difference": "values differ"},
        {"key": ["9"], "difference": "extra"},
    ]
    assert len(differing_keys(ours, theirs, 2)) == 2


def test_null_differs_from_every_value() -> None:
    row = _source(1)
    nulled = dict(row, AMOUNT=None)
    empty = dict(row, CODE="")
    digests = {digest_rows([r], COLUMNS, KEY, lower=False).digest for r in (row, nulled, empty)}
    assert len(digests) == 3


def test_plain_digests_of_view_rows_compare_exact_values_in_any_order() -> None:
    names = ("order_id", "leg", "average", "compliant", "last_at")
    rows = [
        {
            "order_id": i,
            "leg": f"C{i}",
            "average": Decimal("2.5000"),
            "compliant": i % 2 == 0,
            "last_at": datetime(2026, 1, i),
        }
        for i in range(1, 5)
    ]
    same = [dict(r, average=Decimal("2.5")) for r in reversed(rows)]  # another scale, same value
    kept = digest_plain(rows, names, ("order_id", "leg"))
    recomputed = digest_plain(same, names, ("order_id", "leg"))
    assert (kept.rows, kept.digest) == (recomputed.rows, recomputed.digest)
    changed = [dict(r) for r in same]
    changed[0]["compliant"] = None  # order 4: NULL is not False
    changed[1]["average"] = Decimal("2.5001")  # order 3
    other = digest_plain(changed, names, ("order_id", "leg"))
    assert differing_keys(kept, other, 10) == [
        {"key": ["3", "C3"], "difference": "values differ"},
        {"key": ["4", "C4"], "difference": "values differ"},
    ]
