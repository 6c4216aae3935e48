"""Offload configuration: the default TOML file and the typed settings that validate it."""

from config.settings import (
    ApiSettings,
    CaptureSettings,
    ConfigError,
    KafkaSettings,
    LocalKafkaSettings,
    ProjectionSettings,
    ReferenceSettings,
    RunSettings,
    RuntimeSettings,
    SchemaRegistrySettings,
    Settings,
    SourceSettings,
    load_settings,
    resolve_config_path,
)

__all__ = [
    "ApiSettings",
    "CaptureSettings",
    "ConfigError",
    "KafkaSettings",
    "LocalKafkaSettings",
    "ProjectionSettings",
    "ReferenceSettings",
    "RunSettings",
    "RuntimeSettings",
    "SchemaRegistrySettings",
    "Settings",
    "SourceSettings",
    "load_settings",
    "resolve_config_path",
]
