"""The package's SQL files: whole scripts, and files of named statements.

A file of named statements holds blocks that each start with a line `-- name: NAME`; other
comment lines are kept with the statement they precede. Placeholders in braces (`{mirror}`)
stand for identifiers from the catalog, filled with `str.format` by the caller after quoting;
values are always bound parameters.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

_NAME = re.compile(r"^-- name: *(\w+) *$", re.MULTILINE)


@cache
def script(name: str) -> str:
    """The text of `projections/sql/<name>`."""
    return resources.files("projections").joinpath("sql", name).read_text(encoding="utf-8")


@cache
def statements(name: str) -> dict[str, str]:
    """The named statements of `projections/sql/<name>`, name → SQL text."""
    parts = _NAME.split(script(name))
    return {parts[i]: parts[i + 1].strip() for i in range(1, len(parts), 2)}
