"""Configuration: defaults, environment overrides, and each kind of bad configuration."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from config import ConfigError, load_settings

REPO = Path(__file__).resolve().parents[3]
DEFAULT_TOML = REPO / "config" / "offload.toml"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "offload.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_default_file_loads_with_documented_defaults() -> None:
    settings = load_settings(DEFAULT_TOML, env={})
    assert settings.kafka.topic_prefix == "offload"
    assert settings.kafka.local.port == 19092
    assert settings.source.schema_name == "SHIPPING"
    # Relative paths are taken from the working directory.
    assert settings.sor_path == Path.cwd().resolve() / ".offload" / "sor" / "shipping.sqlite"


def test_environment_overrides_file(tmp_path: Path) -> None:
    env = {
        "OFFLOAD__KAFKA__TOPIC_PREFIX": "test1",
        "OFFLOAD__KAFKA__LOCAL__PORT": "29092",
        "OFFLOAD__RUNTIME__DATA_DIR": str(tmp_path / "state"),
        "OFFLOAD__SOURCE__SCHEMA": "BANK",
    }
    settings = load_settings(DEFAULT_TOML, env=env)
    assert settings.kafka.topic_prefix == "test1"
    assert settings.kafka.local.port == 29092
    assert settings.source.schema_name == "BANK"
    assert settings.kafka.topic("BANK", "Accounts") == "test1.bank.accounts"


def test_data_dir_moves_every_default_state_path(tmp_path: Path) -> None:
    env = {"OFFLOAD__RUNTIME__DATA_DIR": str(tmp_path / "elsewhere")}
    settings = load_settings(DEFAULT_TOML, env=env)
    root = (tmp_path / "elsewhere").resolve()
    for path in (settings.sor_path, settings.projections_path, settings.kafka_dir):
        assert root in path.parents


def test_secret_from_environment_is_masked_in_dumps() -> None:
    env = {"OFFLOAD__KAFKA__SASL_PASSWORD": "hunter2"}
    settings = load_settings(DEFAULT_TOML, env=env)
    assert settings.kafka.client_config()["sasl.password"] == "hunter2"
    assert "hunter2" not in settings.model_dump_json()
    assert "hunter2" not in repr(settings)


def test_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError) as err:
        load_settings(missing, env={})
    assert str(err.value) == (
        f"config file {missing} does not exist (set --config or OFFLOAD_CONFIG)"
    )


def test_directory_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(tmp_path, env={})
    assert str(err.value) == f"config file {tmp_path} is a directory, expected a TOML file"


def test_unreadable_file(tmp_path: Path) -> None:
    path = _write(tmp_path, "")
    path.write_bytes(b"\xff\xfe not utf-8")
    with pytest.raises(ConfigError) as err:
        load_settings(path, env={})
    assert str(err.value).startswith(f"config file {path} cannot be read: ")


def test_invalid_toml_names_file_and_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "[kafka]\npartitions = = 3\n")
    with pytest.raises(ConfigError) as err:
        load_settings(path, env={})
    assert str(err.value).startswith(f"config file {path} is not valid TOML: ")
    assert "line 2" in str(err.value)


def test_unknown_key_in_file(tmp_path: Path) -> None:
    path = _write(tmp_path, "[kafka]\npartitons = 3\n")
    with pytest.raises(ConfigError) as err:
        load_settings(path, env={})
    assert str(err.value) == f"invalid configuration:\n  {path}: unknown key 'kafka.partitons'"


def test_unknown_section_in_file(tmp_path: Path) -> None:
    path = _write(tmp_path, "[kafak]\nport = 1\n")
    with pytest.raises(ConfigError) as err:
        load_settings(path, env={})
    assert str(err.value) == f"invalid configuration:\n  {path}: unknown key 'kafak'"


def test_wrong_type_in_file(tmp_path: Path) -> None:
    path = _write(tmp_path, '[kafka]\npartitions = "three"\n')
    with pytest.raises(ConfigError) as err:
        load_settings(path, env={})
    assert str(err.value) == (
        "invalid configuration:\n"
        f"  {path}: key 'kafka.partitions': Input should be a valid integer, unable to parse "
        "string as an integer, got 'three'"
    )


def test_wrong_type_from_environment_names_the_variable(tmp_path: Path) -> None:
    path = _write(tmp_path, "")
    with pytest.raises(ConfigError) as err:
        load_settings(path, env={"OFFLOAD__KAFKA__LOCAL__PORT": "70000"})
    assert str(err.value) == (
        "invalid configuration:\n"
        "  environment variable OFFLOAD__KAFKA__LOCAL__PORT: key 'kafka.local.port': "
        "Input should be less than or equal to 65535, got '70000'"
    )


def test_unknown_environment_key(tmp_path: Path) -> None:
    path = _write(tmp_path, "")
    with pytest.raises(ConfigError) as err:
        load_settings(path, env={"OFFLOAD__KAFKA__TOPIC_PREFX": "x"})
    assert str(err.value) == (
        "environment variable OFFLOAD__KAFKA__TOPIC_PREFX: unknown key 'kafka.topic_prefx' "
        "(expected OFFLOAD__<SECTION>__<KEY>, e.g. OFFLOAD__KAFKA__TOPIC_PREFIX)"
    )


def test_secret_in_file_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, '[kafka]\nsasl_password = "hunter2"\n')
    with pytest.raises(ConfigError) as err:
        load_settings(path, env={})
    assert str(err.value) == (
        f"{path}: key 'kafka.sasl_password' is a secret and may not be written in the config "
        "file; set the environment variable OFFLOAD__KAFKA__SASL_PASSWORD instead"
    )
    assert "hunter2" not in str(err.value)


def test_wrong_choice(tmp_path: Path) -> None:
    path = _write(tmp_path, '[source]\nkind = "oracle"\n')
    with pytest.raises(ConfigError) as err:
        load_settings(path, env={})
    assert "key 'source.kind': Input should be 'sqlite' or 'db2', got 'oracle'" in str(err.value)


@pytest.mark.parametrize(
    ("toml", "env", "expected"),
    [
        ("[kafka]\npartitions = 0\n", {}, "key 'kafka.partitions'"),
        ("", {"OFFLOAD__KAFKA__BOGUS": "1"}, "unknown key 'kafka.bogus'"),
        (None, {}, "does not exist"),
    ],
)
def test_cli_exits_2_with_one_clear_message(
    tmp_path: Path, toml: str | None, env: dict[str, str], expected: str
) -> None:
    path = tmp_path / "offload.toml"
    if toml is not None:
        path.write_text(toml, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "offload", "--config", str(path), "config", "check"],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), **env},
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert expected in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("offload: config error: ")


def test_environment_may_set_one_key_of_a_named_entry(tmp_path: Path) -> None:
    env = {"OFFLOAD__REFERENCE__JOBS__PRODUCTS__SOURCE": str(tmp_path / "products.dat")}
    settings = load_settings(DEFAULT_TOML, env=env)
    job = settings.reference.jobs["products"]
    assert job.source == tmp_path / "products.dat"
    assert job.format == "copybook"  # the rest of the entry still comes from the file


def test_a_logged_view_must_be_a_kept_view(tmp_path: Path) -> None:
    path = _write(tmp_path, '[projections]\nviews = ["cold_chain"]\n')
    assert load_settings(path, env={}).projections.logged_views() == ["cold_chain"]
    path = _write(tmp_path, '[projections]\nviews = ["order_tracking"]\n')
    assert load_settings(path, env={}).projections.logged_views() == []  # default: none
    path = _write(tmp_path, '[projections]\nviews = ["cold_chain"]\nchange_log_views = ["x"]\n')
    with pytest.raises(ConfigError) as err:
        load_settings(path, env={})
    assert str(err.value).endswith(
        "key 'projections': Value error, change_log_views names x, not among views (cold_chain)"
    )


def test_captures_transaction_timeout_is_a_setting_within_the_brokers_cap(tmp_path: Path) -> None:
    from cdc_ingest.transactional_producer import producer_config

    settings = load_settings(DEFAULT_TOML, env={})
    assert producer_config(settings, "default")["transaction.timeout.ms"] == 60_000
    env = {"OFFLOAD__CAPTURE__TRANSACTION_TIMEOUT_S": "300"}
    assert producer_config(load_settings(DEFAULT_TOML, env=env), "default")[
        "transaction.timeout.ms"
    ] == (300_000)
    with pytest.raises(ConfigError, match="transaction_timeout_s"):
        load_settings(DEFAULT_TOML, env={"OFFLOAD__CAPTURE__TRANSACTION_TIMEOUT_S": "901"})
