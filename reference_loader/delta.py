"""The delta of an extract against the last loaded state: new, changed, unchanged, deleted.

State is compact: encoded key (Confluent wire format, header included) → 64-bit hash of the
encoded value (header included; `value_hashes`, computed a batch at a time with numpy, in the
thread that encodes the batch). So a new value schema makes every record "changed" and a new
key schema makes every old key "deleted" (its tombstone carries the old key bytes) and every
record "new": both what a compacted topic needs. Whole records are never held.

Duplicate keys are found here too (the delta needs the set of keys anyway): the first record
of a key wins, later ones are refused naming the first.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import Enum
from itertools import islice

import numpy as np
import numpy.typing as npt

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


HASH_NAME = "words-fmix64"
"""The value hash of the state (ledgers before it kept blake2b's, see `Ledger.trusted_state`)."""

U64 = npt.NDArray[np.uint64]
_M = (1 << 64) - 1
_C1, _C2 = 0x87C37B91114253D5, 0x4CF5AD432745937F
_F1, _F2 = 0xFF51AFD7ED558CCD, 0xC4CEB9FE1A85EC53
_SEED = 0x9E3779B97F4A7C15


def _fmix(h: U64) -> U64:
    """MurmurHash3's 64-bit finaliser of every element, in place (returns `h`)."""
    shift, scratch = np.uint64(33), np.empty_like(h)
    for factor in (np.uint64(_F1), np.uint64(_F2)):
        np.right_shift(h, shift, out=scratch)
        h ^= scratch
        h *= factor
    np.right_shift(h, shift, out=scratch)
    h ^= scratch
    return h


def value_hashes(values: Sequence[bytes]) -> list[int]:
    """The signed 64-bit hash kept for each encoded value (fits a SQLite INTEGER).

    Not cryptographic: a change goes unseen only if the old and new value of a key collide,
    about once in 2**64 for data that is not built to collide. A value is cut into
    little-endian 64-bit words (the last one zero-padded); word j is mixed with its position
    (MurmurHash3's finaliser of the word xor (j + 1) * C1), the mixed words are summed, and the
    sum, with the length, is finalised again. Every word of a batch is mixed at once, so the
    work is numpy's (which releases the GIL) and a value's hash does not depend on the others
    of its batch (`plain_value_hash` is the same function in plain Python).
    """
    count = len(values)
    if count == 0:
        return []
    lengths = np.fromiter(map(len, values), dtype=np.int64, count=count)
    words = (lengths + 7) // 8
    pads = [bytes(n) for n in range(8)]
    blob = b"".join([v + pads[-len(v) % 8] for v in values])
    lanes = np.frombuffer(blob, dtype="<u8").astype(np.uint64)  # a copy, native order
    firsts = np.cumsum(words) - words
    # Each word's position in its value, plus one, times C1, xored into the word.
    mixed = np.arange(1, len(lanes) + 1, dtype=np.uint64)
    mixed -= np.repeat(firsts, words).astype(np.uint64)
    mixed *= np.uint64(_C1)
    mixed ^= lanes
    _fmix(mixed)
    sums = np.zeros(count, dtype=np.uint64)
    filled = words > 0
    if len(lanes):
        sums[filled] = np.add.reduceat(mixed, firsts[filled])
    size = lengths.astype(np.uint64)
    h = _fmix(sums ^ (np.uint64(_SEED) + size * np.uint64(_C2)))
    return h.view(np.int64).tolist()


def plain_value_hash(value: bytes) -> int:
    """`value_hashes` of one value in plain Python (the reference the tests compare with)."""

    def fmix(h: int) -> int:
        h ^= h >> 33
        h = h * _F1 & _M
        h ^= h >> 33
        h = h * _F2 & _M
        return h ^ (h >> 33)

    padded = value + bytes(-len(value) % 8)
    total = 0
    for j in range(0, len(padded), 8):
        word = int.from_bytes(padded[j : j + 8], "little")
        total = (total + fmix(word ^ ((j // 8 + 1) * _C1 & _M))) & _M
    h = fmix(total ^ ((_SEED + len(value) * _C2) & _M))
    return h - (1 << 64) if h >> 63 else h


def value_hash(value: bytes) -> int:
    """`value_hashes` of one value."""
    return value_hashes([value])[0]


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
        return self.offer_hashed(number, key, value_hash(value))

    def offer_hashed(self, number: int, key: bytes, digest: int) -> Change:
        """`offer` of a value whose `value_hash` is `digest`."""
        seen = self._seen.get(key)
        if seen is not None:
            raise DuplicateKey(seen >> _NUMBER_SHIFT)
        self._seen[key] = (number << _NUMBER_SHIFT) | (digest & _HASH_MASK)
        before = self._previous.pop(key, None)
        if before is None:
            return Change.NEW
        return Change.UNCHANGED if before == digest else Change.CHANGED

    def offer_batch(
        self, numbers: Sequence[int], keys: Sequence[bytes], hashes: Sequence[int]
    ) -> tuple[list[Change | None], dict[int, int]]:
        """`offer_hashed` each record in turn (`hashes`: the `value_hashes` of the values).

        Returns:
            Each record's `Change`, None for a key already offered (the record is left out,
            as `offer` does); and for those, index → the number of the record that had the
            key first.
        """
        seen = self._seen
        if len(set(keys)) != len(keys) or not seen.keys().isdisjoint(keys):
            return self._offer_each(numbers, keys, hashes)
        packed = [
            (n << _NUMBER_SHIFT) | (d & _HASH_MASK) for n, d in zip(numbers, hashes, strict=True)
        ]
        seen.update(zip(keys, packed, strict=True))
        pop = self._previous.pop
        befores = [pop(k, None) for k in keys]
        new, unchanged, changed = Change.NEW, Change.UNCHANGED, Change.CHANGED
        changes: list[Change | None] = [
            new if b is None else unchanged if b == d else changed
            for b, d in zip(befores, hashes, strict=True)
        ]
        return changes, {}

    def _offer_each(
        self, numbers: Sequence[int], keys: Sequence[bytes], hashes: Sequence[int]
    ) -> tuple[list[Change | None], dict[int, int]]:
        changes: list[Change | None] = []
        duplicates: dict[int, int] = {}
        for index, record in enumerate(zip(numbers, keys, hashes, strict=True)):
            try:
                changes.append(self.offer_hashed(*record))
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
