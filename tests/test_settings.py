"""Settings: precedence, TOML, and refusal of unsafe production defaults."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from meterbill.cli_common import JsonFormatter
from meterbill.errors import ConfigurationError
from meterbill.settings import DEV_SECRET_KEY, Settings, load_settings
from meterbill.wiring import open_store, sqlite_path


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in Settings.model_fields:
        monkeypatch.delenv(f"MB_{name.upper()}", raising=False)
    monkeypatch.delenv("MB_CONFIG", raising=False)


def test_defaults_are_the_embedded_development_setup() -> None:
    s = load_settings()
    assert s.env == "development"
    assert s.store_url == "sqlite:///./meterbill-data/meterbill.db"
    assert s.mqtt_url is None
    assert s.secret_key.get_secret_value() == DEV_SECRET_KEY
    assert DEV_SECRET_KEY not in repr(s)


def test_precedence_overrides_then_env_then_toml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "meterbill.toml"
    config.write_text('api_port = 9001\nstore_url = "postgresql://db/meterbill"\nlog_level = "DEBUG"\n')
    assert load_settings(config).api_port == 9001
    monkeypatch.setenv("MB_API_PORT", "9002")
    s = load_settings(config)
    assert (s.api_port, s.store_url, s.log_level) == (9002, "postgresql://db/meterbill", "DEBUG")
    assert load_settings(config, api_port=9003).api_port == 9003
    monkeypatch.setenv("MB_CONFIG", str(config))
    assert load_settings().store_url == "postgresql://db/meterbill"


def test_missing_config_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"nope\.toml"):
        load_settings(tmp_path / "nope.toml")


def test_bad_values_name_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MB_API_PORT", "seventy")
    with pytest.raises(ConfigurationError, match="MB_API_PORT"):
        load_settings()


def test_unknown_keys_in_the_toml_file_are_refused(tmp_path: Path) -> None:
    config = tmp_path / "meterbill.toml"
    config.write_text("api_prot = 1\n")
    with pytest.raises(ConfigurationError, match="MB_API_PROT"):
        load_settings(config)


def test_production_refuses_the_development_secret_and_the_embedded_broker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MB_ENV", "production")
    monkeypatch.setenv("MB_MQTT_URL", "mqtt://broker:1883")
    with pytest.raises(ConfigurationError, match="MB_SECRET_KEY"):
        load_settings()
    monkeypatch.setenv("MB_SECRET_KEY", "short")
    with pytest.raises(ConfigurationError, match="at least 32"):
        load_settings()
    monkeypatch.setenv("MB_SECRET_KEY", "x" * 40)
    monkeypatch.delenv("MB_MQTT_URL")
    with pytest.raises(ConfigurationError, match="MB_MQTT_URL"):
        load_settings()
    monkeypatch.setenv("MB_MQTT_URL", "mqtt://broker:1883")
    assert load_settings().env == "production"


def test_store_urls() -> None:
    assert sqlite_path("sqlite:///./data/x.db") == "./data/x.db"
    assert sqlite_path("sqlite:////var/lib/x.db") == "/var/lib/x.db"
    with pytest.raises(ConfigurationError, match="sqlite:///PATH"):
        sqlite_path("sqlite://x.db")
    with pytest.raises(ConfigurationError, match="must start with"):
        open_store(load_settings(store_url="mysql://db/x"))


def test_readme_documents_every_setting() -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    for name in Settings.model_fields:
        assert f"`MB_{name.upper()}`" in readme, f"README.md's configuration table lacks MB_{name.upper()}"


def test_json_logs_are_one_object_per_line() -> None:
    record = logging.LogRecord("gateway.service", logging.WARNING, __file__, 1, "store down: %s", ("timeout",), None)
    line = JsonFormatter().format(record)
    assert json.loads(line) | {"ts": "x"} == {
        "ts": "x",
        "level": "WARNING",
        "logger": "gateway.service",
        "message": "store down: timeout",
    }
