"""Offload configuration: the default TOML file and the typed settings that validate it."""

from config.settings import (
    ApiSettings,
    CaptureSettings,
    ConfigError,
    KafkaSettings,
    LocalKafkaSettings,
    ProjectionSettings,
    ReferenceSettings,
    RuntimeSettings,
    SchemaRegistrySettings,
    Settings,
    SourceSettings,
    load_settings,
)

__all__ = [
    "ApiSettings",
    "CaptureSettings",
    "ConfigError",
    "KafkaSettings",
    "LocalKafkaSettings",
    "ProjectionSettings",
    "ReferenceSettings",
    "RuntimeSettings",
    "SchemaRegistrySettings",
    "Settings",
    "SourceSettings",
    "load_settings",
]
