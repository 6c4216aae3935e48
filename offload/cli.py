"""The `offload` command: builds the settings once and hands them to each part's commands."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.text import Text

from offload.cli_parts import LazyGroup
from plumbing.cli_context import CONFIG_PATH_KEY, settings_of
from plumbing.errors import EXIT_USAGE, OffloadError

err_console = Console(stderr=True, soft_wrap=True)

app = typer.Typer(
    name="offload",
    cls=LazyGroup,
    help=(
        "Offload: keep the writes on the mainframe, move the costly reads off it.\n\n"
        "Start with `offload kafka up`, `offload sor init`, `offload simulate`; every command "
        "reads config/offload.toml (or --config / $OFFLOAD_CONFIG), and any key can be "
        "overridden with OFFLOAD__<SECTION>__<KEY>."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _root(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            help="Config file (default: $OFFLOAD_CONFIG, else config/offload.toml).",
            show_default=False,
        ),
    ] = None,
) -> None:
    # Imported here, not at the top: `offload --help` lists the commands without pydantic.
    from config import load_settings, resolve_config_path

    settings = load_settings(config)
    ctx.meta[CONFIG_PATH_KEY] = resolve_config_path(config).resolve()
    logging.basicConfig(
        level=settings.runtime.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # One line per HTTP request is noise at INFO; their warnings still show.
    for chatty in ("httpx", "httpcore"):
        logging.getLogger(chatty).setLevel(max(logging.WARNING, logging.root.level))
    ctx.obj = settings


config_app = typer.Typer(help="Show and check the effective configuration.", no_args_is_help=True)
app.add_typer(config_app, name="config")


@config_app.command("show")
def config_show(ctx: typer.Context) -> None:
    """Print the effective configuration as JSON (secrets masked)."""
    typer.echo(settings_of(ctx).model_dump_json(indent=2, by_alias=True))


@config_app.command("check")
def config_check(ctx: typer.Context) -> None:
    """Validate the configuration; exit 0 when it is usable, 2 with the reason otherwise."""
    settings = settings_of(ctx)
    typer.echo(f"configuration is valid; data dir {settings.data_dir}")


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except OffloadError as exc:
        err_console.print(Text.assemble(("offload: error: ", "bold red"), str(exc)))
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        err_console.print("offload: interrupted")
        sys.exit(130)
    except Exception as exc:
        # A ConfigError comes from config's own code, so config is imported by then.
        from config import ConfigError

        if not isinstance(exc, ConfigError):
            raise
        err_console.print(Text.assemble(("offload: config error: ", "bold red"), str(exc)))
        sys.exit(EXIT_USAGE)
