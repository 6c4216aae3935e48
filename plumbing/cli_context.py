"""What every part's commands read from the `offload` command line: the settings built once.

The application's root callback (`offload.cli`) loads the settings and puts them on the Typer
context; each part's sub-commands take them from there with `settings_of(ctx)`, so a part's
CLI never imports the application that mounts it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from config import Settings

CONFIG_PATH_KEY = "offload.config_path"
"""Key of the context's `meta` under which the root callback keeps the config file's path."""


def settings_of(ctx: typer.Context) -> Settings:
    """The settings the root callback built for this invocation."""
    # Imported here: the root callback has loaded config already, and `offload --help` never
    # gets here, so listing the commands does not import pydantic.
    from config import Settings

    settings = ctx.find_root().obj
    if not isinstance(settings, Settings):  # pragma: no cover - the callback always sets it
        raise RuntimeError("settings were not loaded")
    return settings


def config_path_of(ctx: typer.Context) -> Path:
    """The absolute path of the config file this invocation read (for child processes)."""
    path = ctx.find_root().meta[CONFIG_PATH_KEY]
    assert isinstance(path, Path)
    return path
