"""The projections package's SQL files (`projections/sql/`): scripts and named statements."""

from __future__ import annotations

from plumbing.sqlfiles import package_script, package_sections


def script(name: str) -> str:
    """The text of `projections/sql/<name>`."""
    return package_script("projections", name)


def statements(name: str) -> dict[str, str]:
    """The named statements of `projections/sql/<name>`, name → SQL text."""
    return package_sections("projections", name)
