"""Offload configuration: the default TOML file and the typed settings that validate it."""

from config.errors import ConfigError
from config.loader import load_settings, resolve_config_path
from config.sections import (
    ApiKey,
    ApiSettings,
    CaptureSettings,
    KafkaSettings,
    LocalKafkaSettings,
    ProjectionSettings,
    ReferenceJobSettings,
    ReferenceSettings,
    RunSettings,
    RuntimeSettings,
    SchemaRegistrySettings,
    SourceSettings,
)
from config.settings import Settings

__all__ = [
    "ApiKey",
    "ApiSettings",
    "CaptureSettings",
    "ConfigError",
    "KafkaSettings",
    "LocalKafkaSettings",
    "ProjectionSettings",
    "ReferenceJobSettings",
    "ReferenceSettings",
    "RunSettings",
    "RuntimeSettings",
    "SchemaRegistrySettings",
    "Settings",
    "SourceSettings",
    "load_settings",
    "resolve_config_path",
]
