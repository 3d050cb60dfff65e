"""Settings: one pydantic-settings class, read from ``MB_*`` variables and an optional TOML file.

Precedence, highest first: explicit keyword arguments (CLI flags), ``MB_*`` environment variables,
the TOML file named by ``MB_CONFIG`` (or passed to :func:`load_settings`), then the defaults below.
The defaults are made for a laptop; :class:`Settings` refuses to start in ``production`` with any
default that would be unsafe there (the development secret key, the embedded broker).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from meterbill.errors import ConfigurationError

__all__ = ["DEV_SECRET_KEY", "Settings", "load_settings"]

# Deliberately recognisable: production refuses to run with it.
DEV_SECRET_KEY = "dev-insecure-secret-key-change-me-in-production"  # noqa: S105
_MIN_SECRET_LEN = 32


class Settings(BaseSettings):
    """Everything an operator can configure; each field is the ``MB_<NAME>`` variable."""

    model_config = SettingsConfigDict(env_prefix="MB_", extra="forbid", frozen=True)

    env: Literal["development", "production"] = Field(
        "development", description="deployment environment; production refuses unsafe defaults"
    )
    store_url: str = Field(
        "sqlite:///./meterbill-data/meterbill.db",
        description="sqlite:///PATH (embedded) or postgresql://USER@HOST:PORT/DB",
    )
    mqtt_url: str | None = Field(
        None, description="mqtt://[USER:PASS@]HOST:PORT of the broker; unset: embedded broker (demo)"
    )
    secret_key: SecretStr = Field(
        SecretStr(DEV_SECRET_KEY), description="signs session cookies and tokens; >= 32 characters"
    )
    seller_file: Path | None = Field(
        None, description="seller settings (TOML or JSON, docs/billing.md); unset: a made-up seller, development only"
    )
    api_host: str = Field("127.0.0.1", description="address the API binds to")
    api_port: int = Field(8000, ge=0, le=65535, description="API port; 0 picks a free one")
    access_token_ttl_s: int = Field(900, ge=30, le=86_400, description="lifetime of an API bearer token [s]")
    refresh_token_ttl_s: int = Field(
        1_209_600, ge=300, description="lifetime of a refresh token [s]; each refresh rotates it"
    )
    session_ttl_s: int = Field(
        3600, ge=60, le=86_400, description="web session cookie lifetime [s], renewed on each page"
    )
    login_max_attempts: int = Field(
        5, ge=1, description="failed logins per e-mail and client within the window before 429"
    )
    login_window_s: int = Field(300, ge=1, description="login rate-limit window [s]")
    pg_pool_min_size: int = Field(1, ge=0, description="PostgreSQL pool: connections kept open")
    pg_pool_max_size: int = Field(8, ge=1, description="PostgreSQL pool: most connections open")
    gateway_group: str = Field(
        "meterbill", pattern=r"^[A-Za-z0-9_-]+$", description="shared-subscription group: gateways in it split the load"
    )
    gateway_shared: bool = Field(True, description="subscribe as $share/<group>/...; false: plain subscriptions")
    gateway_client_id: str | None = Field(
        None, description="MQTT client id; unset: meterbill-<group>-<n>, the lowest slot free in the store"
    )
    gateway_batch_max_readings: int = Field(10_000, ge=1, description="commit when a batch holds this many readings")
    gateway_batch_max_delay_ms: int = Field(200, ge=1, description="commit a batch at the latest after this delay")
    gateway_receive_maximum: int = Field(
        5000, ge=1, le=65535, description="unacknowledged messages the broker may send us: bounds gateway memory"
    )
    gateway_metrics_port: int = Field(9108, ge=0, le=65535, description="gateway Prometheus port; 0 picks a free one")
    gateway_metrics_host: str = Field("127.0.0.1", description="address the gateway's metrics endpoint binds to")
    gateway_clock_skew_s: int = Field(300, ge=0, description="how far ahead of our clock a device timestamp may be")
    gateway_backfill_days: int = Field(400, ge=1, description="how old a reading may still be accepted")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="logging level of every component"
    )
    log_format: Literal["text", "json"] = Field(
        "text", description="text for people; json: one object per line for log collectors"
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The TOML source reads model_config["toml_file"], which load_settings() sets per call.
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> Settings:
        if self.env != "production":
            return self
        secret = self.secret_key.get_secret_value()
        if secret == DEV_SECRET_KEY or len(secret) < _MIN_SECRET_LEN:
            raise ValueError(
                "MB_SECRET_KEY must be set to a random value of at least 32 characters when "
                "MB_ENV=production (for example: python -c 'import secrets; print(secrets.token_urlsafe(48))')"
            )
        if self.mqtt_url is None:
            raise ValueError(
                "MB_MQTT_URL must name a broker when MB_ENV=production; the embedded broker is for development"
            )
        return self

    @property
    def store_is_sqlite(self) -> bool:
        return self.store_url.startswith("sqlite:")


def load_settings(config_file: str | Path | None = None, **overrides: object) -> Settings:
    """Build the settings: ``overrides`` > ``MB_*`` env > TOML ``config_file`` (or ``MB_CONFIG``) > defaults."""
    path = config_file if config_file is not None else os.environ.get("MB_CONFIG")
    if path is not None and not Path(path).is_file():
        raise FileNotFoundError(f"configuration file {path} does not exist (named by MB_CONFIG or --config)")

    class _Settings(Settings):
        model_config = SettingsConfigDict(toml_file=path, title="Settings")

    try:
        return _Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = "; ".join(
            f"MB_{'_'.join(str(p) for p in err['loc']).upper() or 'CONFIG'}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigurationError(f"invalid configuration: {problems}") from exc
