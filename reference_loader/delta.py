"""The delta of an extract against the last loaded state: new, changed, unchanged, deleted.

State is compact: encoded key (Confluent wire format, header included) → 64-bit hash of the
encoded value (header included). So a new value schema makes every record "changed" and a new
key schema makes every old key "deleted" (its tombstone carries the old key bytes) and every
record "new": both what a compacted topic needs. Whole records are never held.

Duplicate keys are found here too (the delta needs the set of keys anyway): the first record
of a key wins, later ones are refused naming the first.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import Enum
from itertools import islice

State = dict[bytes, int]
"""Encoded key → signed 64-bit hash of the encoded value."""

_NUMBER_SHIFT = 64
_HASH_MASK = (1 << 64) - 1
_ENTRIES_CHUNK = 65_536


class Change(Enum):
    """What a record is, compared with the last load."""

    NEW = "new"
    CHANGED = "changed"
    UNCHANGED = "unchanged"


_hash_value = hashlib.blake2b


def value_hash(value: bytes) -> int:
    """The signed 64-bit hash kept for an encoded value (fits a SQLite INTEGER)."""
    return int.from_bytes(_hash_value(value, digest_size=8).digest(), "big", signed=True)


class DuplicateKey(ValueError):
    """A key met twice in one extract; `first` is the record number that had it first."""

    def __init__(self, first: int) -> None:
        super().__init__(f"duplicate key (first in record {first})")
        self.first = first


@dataclass(slots=True)
class Counts:
    """Record counts of one run."""

    read: int = 0
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    deleted: int = 0
    rejected: int = 0

    @property
    def published(self) -> int:
        """Records a run publishes: new, changed and tombstones."""
        return self.new + self.changed + self.deleted


class Delta:
    """Compares one extract, record by record, with the previous state.

    Args:
        previous: the state of the last committed load; consumed (entries are popped as
            their keys are seen, what is left at the end was deleted).
    """

    def __init__(self, previous: State) -> None:
        self._previous = previous
        # key → record number << 64 | unsigned hash: one int per key, not a tuple.
        self._seen: dict[bytes, int] = {}

    def offer(self, number: int, key: bytes, value: bytes) -> Change:
        """Classify record `number` with encoded `key` and `value`.

        Raises:
            DuplicateKey: the key was already offered in this extract.
        """
        seen = self._seen.get(key)
        if seen is not None:
            raise DuplicateKey(seen >> _NUMBER_SHIFT)
        digest = value_hash(value)
        self._seen[key] = (number << _NUMBER_SHIFT) | (digest & _HASH_MASK)
        before = self._previous.pop(key, None)
        if before is None:
            return Change.NEW
        return Change.UNCHANGED if before == digest else Change.CHANGED

    def offer_batch(
        self, numbers: Sequence[int], keys: Sequence[bytes], values: Sequence[bytes]
    ) -> tuple[list[Change | None], dict[int, int]]:
        """`offer` each record in turn.

        Returns:
            Each record's `Change`, None for a key already offered (the record is left out,
            as `offer` does); and for those, index → the number of the record that had the
            key first.
        """
        seen = self._seen
        if len(set(keys)) != len(keys) or not seen.keys().isdisjoint(keys):
            return self._offer_each(numbers, keys, values)
        signed = [
            int.from_bytes(_hash_value(v, digest_size=8).digest(), "big", signed=True)
            for v in values
        ]
        packed = [
            (n << _NUMBER_SHIFT) | (d & _HASH_MASK) for n, d in zip(numbers, signed, strict=True)
        ]
        seen.update(zip(keys, packed, strict=True))
        pop = self._previous.pop
        befores = [pop(k, None) for k in keys]
        new, unchanged, changed = Change.NEW, Change.UNCHANGED, Change.CHANGED
        changes: list[Change | None] = [
            new if b is None else unchanged if b == d else changed
            for b, d in zip(befores, signed, strict=True)
        ]
        return changes, {}

    def _offer_each(
        self, numbers: Sequence[int], keys: Sequence[bytes], values: Sequence[bytes]
    ) -> tuple[list[Change | None], dict[int, int]]:
        changes: list[Change | None] = []
        duplicates: dict[int, int] = {}
        for index, record in enumerate(zip(numbers, keys, values, strict=True)):
            try:
                changes.append(self.offer(*record))
            except DuplicateKey as exc:
                changes.append(None)
                duplicates[index] = exc.first
        return changes, duplicates

    def deleted(self) -> list[bytes]:
        """The keys of the previous state that the extract no longer has."""
        return list(self._previous)

    def entries(self) -> Iterator[tuple[bytes, int]]:
        """The state after this extract, entry by entry (key, signed hash)."""
        items = iter(self._seen.items())
        while chunk := list(islice(items, _ENTRIES_CHUNK)):
            digests = [packed & _HASH_MASK for _, packed in chunk]
            signed = [d - (1 << 64) if d >> 63 else d for d in digests]
            yield from zip([key for key, _ in chunk], signed, strict=True)
