"""The whole configuration: one section per part of the gateway, and the state paths below
`runtime.data_dir`.

Precedence, highest first: environment variables `OFFLOAD__<SECTION>__<KEY>` (nested sections
add more `__` parts, e.g. `OFFLOAD__KAFKA__LOCAL__PORT`), then the TOML file, then the defaults
of the sections. `config.loader.load_settings` reads the file and builds this model once.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from config.sections import (
    ApiSettings,
    CaptureSettings,
    KafkaSettings,
    ProjectionSettings,
    ReferenceSettings,
    RunSettings,
    RuntimeSettings,
    SchemaRegistrySettings,
    SourceSettings,
)

ENV_PREFIX = "OFFLOAD__"


class Settings(BaseSettings):
    """The whole configuration, one section per part of the gateway."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        case_sensitive=False,
        extra="forbid",
        frozen=True,
        use_attribute_docstrings=True,
    )

    runtime: RuntimeSettings = RuntimeSettings()
    kafka: KafkaSettings = KafkaSettings()
    source: SourceSettings = SourceSettings()
    capture: CaptureSettings = CaptureSettings()
    schema_registry: SchemaRegistrySettings = SchemaRegistrySettings()
    projections: ProjectionSettings = ProjectionSettings()
    api: ApiSettings = ApiSettings()
    reference: ReferenceSettings = ReferenceSettings()
    run: RunSettings = RunSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The TOML file arrives as init kwargs; the environment overrides it.
        return (env_settings, init_settings)

    @field_validator("runtime")
    @classmethod
    def _data_dir_not_empty(cls, value: RuntimeSettings) -> RuntimeSettings:
        if not str(value.data_dir).strip():
            raise ValueError("data_dir must not be empty")
        return value

    # Paths derived from runtime.data_dir: every default state location lives below it.
    @property
    def data_dir(self) -> Path:
        """The absolute data directory."""
        return self.runtime.data_dir.expanduser().resolve()

    @property
    def sor_path(self) -> Path:
        """The SQLite file of the simulated Db2."""
        if self.source.path is not None:
            return self.source.path.expanduser().resolve()
        return self.data_dir / "sor" / f"{self.source.schema_name.lower()}.sqlite"

    @property
    def projections_path(self) -> Path:
        """The DuckDB file of the read models."""
        if self.projections.path is not None:
            return self.projections.path.expanduser().resolve()
        return self.data_dir / "projections" / "offload.duckdb"

    @property
    def kafka_dir(self) -> Path:
        """State of the local broker: its data, log and pid files."""
        return self.data_dir / "kafka"
