"""SQL kept in files: whole scripts, and files of named statements.

A file of named statements holds blocks that each start with a line `-- name: NAME`; the text up
to the next such line (comment lines included) is that statement. Placeholders in braces
(`{schema}`, `{mirror}`) stand for identifiers from the catalog, filled in by the caller after
quoting; values are always bound parameters.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources
from pathlib import Path

_NAME = re.compile(r"^--\s*name:\s*(\w+)\s*$", re.MULTILINE)


def sections(text: str) -> dict[str, str]:
    """The named statements of an SQL text, name → SQL text (stripped)."""
    parts = _NAME.split(text)
    return {parts[i]: parts[i + 1].strip() for i in range(1, len(parts), 2)}


@cache
def read_sections(path: Path) -> dict[str, str]:
    """The named statements of the SQL file at `path` (read once per process)."""
    return sections(path.read_text(encoding="utf-8"))


@cache
def package_script(package: str, name: str) -> str:
    """The text of `<package>/sql/<name>`, a file shipped inside an installed package."""
    return resources.files(package).joinpath("sql", name).read_text(encoding="utf-8")


@cache
def package_sections(package: str, name: str) -> dict[str, str]:
    """The named statements of `<package>/sql/<name>`, name → SQL text."""
    return sections(package_script(package, name))
