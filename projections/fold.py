"""Folding a batch: per key, only the change with the highest version survives.

Applying a key's last change alone gives the same state as applying all its changes in
order, because each change carries the whole row (or is a delete). Folding first keeps the
set-based apply to one row per key, which DuckDB's `INSERT … ON CONFLICT` requires.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from projections.events import DecodedChange

Folded = dict[str, dict[tuple[Any, ...], DecodedChange]]
"""Source table (SCHEMA.TABLE) → primary key → the key's last change in the batch."""


def fold(events: Iterable[DecodedChange], into: Folded | None = None) -> Folded:
    """Keep, per (table, key), the change with the highest version.

    Args:
        events: change events in any order, duplicates allowed.
        into: a fold to extend (for units read in chunks); a new one by default.

    Returns:
        the fold (the same object as `into` when given).
    """
    out: Folded = {} if into is None else into
    for event in events:
        table = out.get(event.table)
        if table is None:
            table = out[event.table] = {}
        held = table.get(event.key)
        if held is None or event.version > held.version:
            table[event.key] = event
    return out
