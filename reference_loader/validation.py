"""Key validation across an extract: every record has its key, and no key appears twice."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from reference_loader.records import Record, Reject


def check_keys(
    items: Iterable[Record | Reject], key_fields: Sequence[str]
) -> Iterator[Record | Reject]:
    """Pass records through, turning those with a missing or duplicate key into rejects.

    A key value is missing when it is None or an empty string. The first record of a key
    wins; later ones are rejected naming the first. Holds one entry per distinct key (the
    delta against the last load needs the set of keys anyway).

    Args:
        items: records and rejects from a reader; rejects pass through unchanged.
        key_fields: the key's field names, in key order.

    Raises:
        ValueError: `key_fields` is empty.
    """
    if not key_fields:
        raise ValueError("a reference job needs at least one key field")
    first_seen: dict[tuple[object, ...], int] = {}
    for item in items:
        if isinstance(item, Reject):
            yield item
            continue
        key = tuple(item.values.get(name) for name in key_fields)
        missing = next((n for n, v in zip(key_fields, key, strict=True) if v in (None, "")), None)
        if missing is not None:
            yield Reject(item.number, item.location, missing, "missing key value")
            continue
        if key in first_seen:
            shown = ", ".join(f"{n}={v!r}" for n, v in zip(key_fields, key, strict=True))
            reason = f"duplicate key {shown} (first in record {first_seen[key]})"
            yield Reject(item.number, item.location, key_fields[0], reason)
            continue
        first_seen[key] = item.number
        yield item
