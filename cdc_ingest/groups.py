"""Capture split by table group (`capture.split`): which group a capture process runs.

Each group is a capture process of its own: its own transactional.id
(`<prefix>.cdc.<group>`), its own position record (`position:<group>` in cdc-offsets), its
own tables: a split group the tables it names, the group `capture.group` every other table
of `capture.tables`. Per key, order and exactly-once hold as before (a table, so a key, is in
one group). Each group writes a BEGIN and an END for every unit of work of the source, in
commit order, also for units that changed none of its tables, each marker saying which
`part` of how many `parts`: the read side applies a unit once the ENDs of all parts arrived,
so units stay whole and in commit order. Unsplit (one group), markers of units without
captured changes are not written, as before.

A position records the split it was written under; a capture refuses to start when any
group's position names another split (changing the split of a running deployment would
publish tables twice or not at all).
"""

from __future__ import annotations

from dataclasses import dataclass

from config import Settings
from plumbing.errors import UsageError


@dataclass(frozen=True, slots=True)
class CaptureGroup:
    """The table group one capture process publishes.

    Attributes:
        name: the group (names the transactional.id and the position record).
        tables: what to read: SCHEMA.TABLE, SCHEMA.* or * (`capture.tables`, or the split
            group's tables).
        exclude: tables other groups capture (the `capture.group`'s only).
        parts: how many groups the deployment has (1: not split).
        split: the deployment's split, as configured (recorded in each position).
    """

    name: str
    tables: tuple[str, ...]
    exclude: tuple[str, ...]
    parts: int
    split: dict[str, list[str]]

    @property
    def is_split(self) -> bool:
        """Whether capture is split into several groups."""
        return self.parts > 1


def capture_group(settings: Settings, name: str | None = None) -> CaptureGroup:
    """The group `name` (default: `capture.group`).

    Raises:
        UsageError: `name` is not a configured group.
    """
    capture = settings.capture
    name = name or capture.group
    if name not in capture.groups():
        raise UsageError(
            f"capture group {name!r} is not configured: the groups are "
            f"{', '.join(capture.groups())} (capture.group and the keys of [capture.split])"
        )
    split = {g: list(tables) for g, tables in capture.split.items()}
    if name in split:
        return CaptureGroup(name, tuple(split[name]), (), len(split) + 1, split)
    others = tuple(t for tables in split.values() for t in tables)
    tables = tuple(t.upper() for t in capture.tables)
    return CaptureGroup(name, tables, others, len(split) + 1, split)


def all_groups(settings: Settings) -> list[CaptureGroup]:
    """Every group of the deployment, `capture.group` first."""
    return [capture_group(settings, name) for name in settings.capture.groups()]
