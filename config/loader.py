"""Loading the settings: the TOML file, the environment overrides, and one message per mistake.

Secrets (fields typed `SecretStr`) may come from the environment only: a secret written in the
file is refused, so it can never be committed by accident. A variable `OFFLOAD__...` that names
no key is refused too, rather than silently ignored.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, SecretStr, ValidationError

from config.errors import ConfigError
from config.settings import ENV_PREFIX, Settings

ENV_CONFIG_PATH = "OFFLOAD_CONFIG"
DEFAULT_CONFIG_PATH = Path("config/offload.toml")


def resolve_config_path(path: Path | None, env: dict[str, str] | None = None) -> Path:
    """The config file to read: `path`, else `$OFFLOAD_CONFIG`, else `config/offload.toml`."""
    if path is not None:
        return path
    env = dict(os.environ) if env is None else env
    return Path(env.get(ENV_CONFIG_PATH) or DEFAULT_CONFIG_PATH)


def load_settings(path: Path | None = None, env: dict[str, str] | None = None) -> Settings:
    """Read, validate and return the settings.

    Args:
        path: the TOML file; default `$OFFLOAD_CONFIG` or `config/offload.toml`.
        env: the environment to read overrides from; default `os.environ`.

    Raises:
        ConfigError: with one message naming the file or variable, the key and what was expected.
    """
    env = dict(os.environ) if env is None else env
    path = resolve_config_path(path, env)
    data = _read_toml(path)
    _refuse_secrets_in_file(data, path)
    _refuse_unknown_variables(env)
    return _validate(data, path, env)


def _read_toml(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise ConfigError(f"config file {path} does not exist (set --config or {ENV_CONFIG_PATH})")
    if path.is_dir():
        raise ConfigError(f"config file {path} is a directory, expected a TOML file")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {path} cannot be read: {exc}") from exc
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc


def _refuse_secrets_in_file(data: dict[str, Any], path: Path) -> None:
    for secret in sorted(_secret_paths(Settings)):
        if _dig(data, secret):
            var = ENV_PREFIX + "__".join(p.upper() for p in secret)
            raise ConfigError(
                f"{path}: key '{'.'.join(secret)}' is a secret and may not be written in the "
                f"config file; set the environment variable {var} instead"
            )


def _refuse_unknown_variables(env: dict[str, str]) -> None:
    known = _known_env_paths(Settings)
    mappings = _mapping_paths(Settings)
    for name in sorted(env):
        if name.upper().startswith(ENV_PREFIX):
            parts = tuple(p.lower() for p in name[len(ENV_PREFIX) :].split("__"))
            below_mapping = any(parts[:i] in mappings for i in range(1, len(parts)))
            if parts not in known and not below_mapping:
                raise ConfigError(
                    f"environment variable {name}: unknown key '{'.'.join(parts)}' "
                    f"(expected {ENV_PREFIX}<SECTION>__<KEY>, e.g. OFFLOAD__KAFKA__TOPIC_PREFIX)"
                )


def _validate(data: dict[str, Any], path: Path, env: dict[str, str]) -> Settings:
    saved = os.environ.copy()
    try:
        # pydantic-settings reads os.environ; give it exactly the environment we were handed.
        os.environ.clear()
        os.environ.update(env)
        return Settings(**data)
    except ValidationError as exc:
        lines = [_describe(e, path, env) for e in exc.errors()]
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(lines)) from exc
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _describe(error: Any, path: Path, env: dict[str, str]) -> str:
    loc = tuple(str(p) for p in error["loc"])
    key = ".".join(loc)
    env_name = ENV_PREFIX + "__".join(p.upper() for p in loc)
    origin = f"environment variable {env_name}" if env_name in env else f"{path}"
    if error["type"] == "extra_forbidden":
        return f"{origin}: unknown key '{key}'"
    got = error.get("input")
    got_text = "" if isinstance(got, dict) else f", got {got!r}"
    return f"{origin}: key '{key}': {error['msg']}{got_text}"


def _secret_paths(model: type[BaseModel], prefix: tuple[str, ...] = ()) -> set[tuple[str, ...]]:
    """Every (section, ..., key) whose value is a secret, found from the type hints."""
    found: set[tuple[str, ...]] = set()
    for name, field in model.model_fields.items():
        key = field.alias or name
        ann = field.annotation
        if ann is SecretStr or (ann is not None and SecretStr in getattr(ann, "__args__", ())):
            found.add((*prefix, key))
        elif isinstance(ann, type) and issubclass(ann, BaseModel):
            found |= _secret_paths(ann, (*prefix, key))
    return found


def _known_env_paths(model: type[BaseModel], prefix: tuple[str, ...] = ()) -> set[tuple[str, ...]]:
    """Every key path an OFFLOAD__ variable may name (sections and leaves)."""
    found: set[tuple[str, ...]] = set()
    for name, field in model.model_fields.items():
        path = (*prefix, field.alias or name)
        found.add(path)
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            found |= _known_env_paths(ann, path)
    return found


def _mapping_paths(model: type[BaseModel], prefix: tuple[str, ...] = ()) -> set[tuple[str, ...]]:
    """Key paths of mapping-typed fields (e.g. reference.jobs): their entries are user-named,
    so a variable may go below them (OFFLOAD__REFERENCE__JOBS__PRODUCTS__SOURCE)."""
    found: set[tuple[str, ...]] = set()
    for name, field in model.model_fields.items():
        path = (*prefix, field.alias or name)
        ann = field.annotation
        if getattr(ann, "__origin__", None) is dict:
            found.add(path)
        elif isinstance(ann, type) and issubclass(ann, BaseModel):
            found |= _mapping_paths(ann, path)
    return found


def _dig(data: dict[str, Any], path: tuple[str, ...]) -> bool:
    node: Any = data
    for part in path:
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True
