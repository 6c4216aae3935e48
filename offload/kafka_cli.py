"""`offload kafka up|down|status`: the local single-node broker."""

from __future__ import annotations

import time
from typing import Annotated

import typer
from rich.console import Console

kafka_app = typer.Typer(
    help=(
        "The local single-node Apache Kafka (KRaft) the gateway uses by default. "
        "Needs Java 17+ and Maven; its data and log live in <data_dir>/kafka."
    ),
    no_args_is_help=True,
)

console = Console(highlight=False, soft_wrap=True)


@kafka_app.command("up")
def kafka_up(ctx: typer.Context) -> None:
    """Start the local broker (unless one answers already) and wait until it answers.

    With kafka.local.security = "sasl_ssl" it listens with SCRAM-SHA-512 over TLS and grants
    kafka.sasl_username (password from OFFLOAD__KAFKA__SASL_PASSWORD) its credential and
    ACLs, also when the broker already runs.
    """
    from offload.broker import up
    from plumbing.cli_context import settings_of

    settings = settings_of(ctx)
    began = time.monotonic()

    def step(message: str) -> None:
        console.print(f"[{time.monotonic() - began:5.1f} s] {message}")

    result = up(settings, on_step=step)
    elapsed = time.monotonic() - began
    if not result.started:
        who = f" (pid {result.pid}, from {settings.kafka_dir})" if result.pid else ""
        console.print(
            f"Kafka already answers on {result.address}{who}; nothing to start ({elapsed:.1f} s)"
        )
    else:
        console.print(
            f"Kafka is up on {result.address}, pid {result.pid}, in {elapsed:.1f} s; "
            f"log: {settings.kafka_dir / 'logs' / 'server.log'}"
        )
    if result.address not in settings.kafka.bootstrap_servers.split(","):
        console.print(
            f"note: kafka.bootstrap_servers is {settings.kafka.bootstrap_servers}, "
            "so the gateway will not use this broker"
        )


@kafka_app.command("down")
def kafka_down(ctx: typer.Context) -> None:
    """Stop the broker `kafka up` started from this data dir (by its recorded pid), only that."""
    from offload.broker import down
    from plumbing.cli_context import settings_of

    began = time.monotonic()
    result = down(settings_of(ctx))
    console.print(f"{result.note} ({time.monotonic() - began:.1f} s)")


@kafka_app.command("status")
def kafka_status(
    ctx: typer.Context,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for an answer.")] = 5.0,
) -> None:
    """Exit 0 when the configured bootstrap servers answer metadata requests, else 1;
    exit 3 when the listener refuses the credentials or the TLS handshake fails."""
    from offload.broker import running_pid
    from offload.broker_config import BrokerLayout
    from plumbing.cli_context import settings_of
    from plumbing.topics import ping

    settings = settings_of(ctx)
    servers = settings.kafka.bootstrap_servers
    pid = running_pid(BrokerLayout(settings.kafka_dir))
    local = f"; the local broker of {settings.kafka_dir} runs as pid {pid}" if pid else ""
    if ping(settings.kafka, timeout=timeout):
        console.print(f"Kafka answers at {servers}{local}")
        return
    console.print(f"no Kafka answers at {servers} within {timeout:g} s{local}")
    raise typer.Exit(1)
