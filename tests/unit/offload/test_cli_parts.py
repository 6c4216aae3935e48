"""`offload` imports a part's commands only when one runs: the root help lists them from names.

The listed first paragraphs are checked against the real commands here, so they cannot drift.
"""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
from itertools import pairwise
from pathlib import Path

import pytest
import typer
from typer.core import TyperGroup
from typer.testing import CliRunner

from offload.cli import app
from offload.cli_parts import PARTS, Part

REPO = Path(__file__).resolve().parents[3]
CONFIG = REPO / "config" / "offload.toml"

# Heavy dependencies and the parts' own modules that no help screen needs.
HEAVY = ("fastapi", "duckdb", "numpy", "pyarrow", "confluent_kafka", "uvicorn", "httpx")
PART_MODULES = (
    "query_api.cli",
    "projections.cli",
    "cdc_ingest.cli",
    "simulators.cli",
    "reference_loader.cli",
    "offload.demo",
    "offload.reconcile",
    "offload.soak_cli",
    "offload.bench",
    "offload.run_cli",
    "offload.serve",
    "offload.kafka_cli",
)


def _imported_after(*args: str) -> tuple[int, set[str]]:
    """Run `offload ARGS` through typer's CliRunner in a fresh interpreter: exit code, modules."""
    code = (
        "import json, sys\n"
        "from typer.testing import CliRunner\n"
        "from offload.cli import app\n"
        f"result = CliRunner().invoke(app, {list(args)!r})\n"
        "print(json.dumps([result.exit_code, sorted(sys.modules)]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    exit_code, modules = json.loads(done.stdout.strip().splitlines()[-1])
    return exit_code, set(modules)


def test_the_root_help_imports_no_part() -> None:
    exit_code, modules = _imported_after("--help")
    assert exit_code == 0
    assert modules.isdisjoint(HEAVY + PART_MODULES)
    assert modules.isdisjoint(("config", "pydantic"))  # no command runs, no settings are read


def test_a_part_help_imports_that_part_only() -> None:
    exit_code, modules = _imported_after("--config", str(CONFIG), "project", "--help")
    assert exit_code == 0
    assert "projections.cli" in modules
    assert modules.isdisjoint(HEAVY + tuple(m for m in PART_MODULES if m != "projections.cli"))


def _first_paragraph(command: object) -> str:
    text = getattr(command, "help", None) or ""
    return inspect.cleandoc(text).split("\n\n")[0]


@pytest.mark.parametrize("part", PARTS, ids=lambda p: p.name)
def test_a_listed_part_matches_its_real_command(part: Part) -> None:
    command = part.load()
    assert command.name == part.name
    assert _first_paragraph(command) == part.help
    assert command.hidden == part.hidden
    assert isinstance(command, TyperGroup) == part.group


def test_the_root_help_is_the_same_listed_from_names_or_from_the_real_commands(
    capsys: pytest.CaptureFixture[str],
) -> None:
    group = typer.main.get_command(app)
    assert isinstance(group, TyperGroup)
    ctx = group.make_context("offload", [], resilient_parsing=True)
    capsys.readouterr()
    group.get_help(ctx)  # the rich help prints itself
    listed = capsys.readouterr().out
    for name in group.list_commands(ctx):
        group.get_command(ctx, name)  # imports the part: the group now holds the real command
    group.get_help(ctx)
    real = capsys.readouterr().out
    assert listed == real
    assert "Usage: offload [OPTIONS] COMMAND [ARGS]..." in listed
    for part in PARTS:
        assert (f"│ {part.name} " in listed) != part.hidden


def test_every_command_is_reachable() -> None:
    group = typer.main.get_command(app)
    assert isinstance(group, TyperGroup)
    ctx = group.make_context("offload", ["--help"], resilient_parsing=True)
    names = group.list_commands(ctx)
    assert set(names) == {p.name for p in PARTS} | {"config"}
    runner = CliRunner()
    for name in names:
        result = runner.invoke(app, ["--config", str(CONFIG), name, "--help"])
        assert result.exit_code == 0, (name, result.output)
        assert f"Usage: offload {name} [OPTIONS]" in result.output


def test_every_command_list_shows_each_first_paragraph_reflowed() -> None:
    runner = CliRunner()
    group = typer.main.get_command(app)
    assert isinstance(group, TyperGroup)
    ctx = group.make_context("offload", [], resilient_parsing=True)
    listings: list[list[str]] = [[]]
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if isinstance(command, TyperGroup):
            listings.append([name])
        assert command is not None and command.short_help is not None, name
        assert "\n" not in command.short_help, name
    for args in listings:
        result = runner.invoke(app, ["--config", str(CONFIG), *args, "--help"], terminal_width=80)
        assert result.exit_code == 0, (args, result.output)
        rows = result.output.split("Commands")[1].splitlines()[1:-1]
        # a continuation row holds a whole line of words: none ends after a word or two
        for row, following in pairwise(rows):
            if following.strip("│ ").strip() and following[2] == " ":
                assert len(row.rstrip(" │")) > 60, (args, row)
