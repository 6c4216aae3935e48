"""The one error of the configuration: a setting that cannot be used."""

from __future__ import annotations


class ConfigError(Exception):
    """The configuration cannot be used; the CLI exits with code 2 and prints the message."""

    exit_code = 2
