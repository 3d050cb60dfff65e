"""The deployment files (Dockerfile, docker-compose.yml, deploy/mosquitto) agree with the code.

Static checks only, no Docker needed: compose uses only MB_* variables that are settings, the
services point at each other by the right names, and the broker keeps what a stopped gateway
has not acknowledged yet.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from meterbill.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
MOSQUITTO_CONF_IN_CONTAINER = "/mosquitto/config/mosquitto.conf"
METERBILL_SERVICES = ("migrate", "gateway", "api")

# ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?message}, ${VAR?message} as compose reads them.
_INTERPOLATION = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")
# What a required compose variable stands for in these tests: long enough for MB_SECRET_KEY, URL-safe.
_DUMMY_SECRET = "x" * 48


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    result = compose["services"]
    assert isinstance(result, dict)
    return result


def _environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):  # the KEY=VALUE list form
        return dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(key): str(value) for key, value in env.items()}


def _interpolate(value: str) -> str:
    """Substitute ``${...}`` as compose would, with a dummy value for required variables."""

    def substitute(match: re.Match[str]) -> str:
        op = match.group("op") or ""
        if "?" in op or not op:
            return _DUMMY_SECRET
        return match.group("arg")

    return _INTERPOLATION.sub(substitute, value.replace("$$", "\0")).replace("\0", "$")


def _command(service: dict[str, Any]) -> list[str]:
    command = service.get("command", [])
    return shlex.split(command) if isinstance(command, str) else [str(part) for part in command]


def _container_ports(service: dict[str, Any]) -> set[int]:
    """Container-side ports of ``ports:`` in short ("[IP:]HOST:CONTAINER[/proto]") or long syntax."""
    result: set[int] = set()
    for entry in service.get("ports", []):
        if isinstance(entry, dict):
            result.add(int(entry["target"]))
        else:
            result.add(int(str(entry).split("/", 1)[0].rsplit(":", 1)[-1]))
    return result


def _mosquitto_conf_path(services: dict[str, dict[str, Any]]) -> Path:
    for volume in services["mosquitto"].get("volumes", []):
        source, target = (volume["source"], volume["target"]) if isinstance(volume, dict) else volume.split(":")[:2]
        if target == MOSQUITTO_CONF_IN_CONTAINER:
            return ROOT / str(source)
    raise AssertionError(f"mosquitto mounts nothing at {MOSQUITTO_CONF_IN_CONTAINER}")


def _mosquitto_options(path: Path) -> dict[str, list[str]]:
    """``option value`` lines of a mosquitto.conf, comments and blank lines left out."""
    options: dict[str, list[str]] = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, _, value = line.partition(" ")
        options.setdefault(name, []).append(value.strip())
    return options


def test_compose_has_every_service(services: dict[str, dict[str, Any]]) -> None:
    assert {"db", "mosquitto", "migrate", "gateway", "api"} <= services.keys()


def test_gateway_runs_two_replicas(services: dict[str, dict[str, Any]]) -> None:
    gateway = services["gateway"]
    assert gateway["deploy"]["replicas"] == 2
    assert _command(gateway) == ["meterbill", "gateway", "run"]
    # Replicas cannot share a fixed container name.
    assert "container_name" not in gateway


def test_every_mb_variable_is_a_setting(services: dict[str, dict[str, Any]]) -> None:
    fields = set(Settings.model_fields)
    used = {name for service in services.values() for name in _environment(service) if name.startswith("MB_")}
    assert used, "no service sets any MB_* variable"
    unknown = sorted(name for name in used if name.removeprefix("MB_").lower() not in fields)
    assert not unknown, f"MB_* variables that are not fields of Settings: {unknown}"


@pytest.mark.parametrize("name", METERBILL_SERVICES)
def test_meterbill_services_get_a_valid_production_configuration(
    services: dict[str, dict[str, Any]], name: str
) -> None:
    env = {key: _interpolate(value) for key, value in _environment(services[name]).items()}
    assert env.get("MB_ENV") == "production"
    # Settings refuses production with the dev secret or without a broker: this is what the container would get.
    settings = Settings.model_validate({key.removeprefix("MB_").lower(): value for key, value in env.items()})
    assert settings.env == "production"
    assert not settings.store_is_sqlite


def test_store_url_points_at_the_db_service(services: dict[str, dict[str, Any]]) -> None:
    db_env = _environment(services["db"])
    for name in METERBILL_SERVICES:
        url = urlsplit(_interpolate(_environment(services[name])["MB_STORE_URL"]))
        assert url.scheme in ("postgresql", "postgres")
        assert url.hostname == "db"
        assert url.port in (None, 5432)
        assert url.username == db_env["POSTGRES_USER"]
        assert url.path.lstrip("/") == db_env["POSTGRES_DB"]
    # The database and its clients take the password from the same compose variable.
    password_var = _INTERPOLATION.search(db_env["POSTGRES_PASSWORD"])
    assert password_var is not None
    assert f"${{{password_var.group('name')}" in _environment(services["api"])["MB_STORE_URL"]


def test_mqtt_url_points_at_the_mosquitto_service(services: dict[str, dict[str, Any]]) -> None:
    for name in METERBILL_SERVICES:
        url = urlsplit(_interpolate(_environment(services[name])["MB_MQTT_URL"]))
        assert url.scheme == "mqtt"
        assert url.hostname == "mosquitto"
        assert url.port in (None, 1883)
        assert url.username, "the broker allows no anonymous clients"
    assert 1883 in _container_ports(services["mosquitto"])


def test_startup_order(services: dict[str, dict[str, Any]]) -> None:
    assert services["migrate"]["depends_on"]["db"]["condition"] == "service_healthy"
    assert _command(services["migrate"]) == ["meterbill", "db", "upgrade"]
    for name in ("gateway", "api"):
        depends_on = services[name]["depends_on"]
        assert depends_on["migrate"]["condition"] == "service_completed_successfully"
    assert "mosquitto" in services["gateway"]["depends_on"]


def test_api_publishes_the_port_it_listens_on(services: dict[str, dict[str, Any]]) -> None:
    api = services["api"]
    command = _command(api)
    assert command[:3] == ["meterbill", "api", "run"]
    port = int(command[command.index("--port") + 1])
    assert command[command.index("--host") + 1] == "0.0.0.0"
    assert port in _container_ports(api)
    healthcheck = " ".join(api["healthcheck"]["test"])
    assert f":{port}/health" in healthcheck


def test_db_is_timescaledb_on_postgres_16(services: dict[str, dict[str, Any]]) -> None:
    db = services["db"]
    image, _, tag = db["image"].partition(":")
    assert image == "timescale/timescaledb"
    assert tag.endswith("pg16")
    assert "pg_isready" in " ".join(db["healthcheck"]["test"])
    # Required, never defaulted: ${VAR:?message}.
    assert re.fullmatch(r"\$\{\w+:\?[^}]+\}", db["environment"]["POSTGRES_PASSWORD"])


def test_state_lives_in_named_volumes(compose: dict[str, Any], services: dict[str, dict[str, Any]]) -> None:
    named = set(compose.get("volumes") or {})
    for service, target in (("db", "/var/lib/postgresql/data"), ("mosquitto", "/mosquitto/data")):
        sources = {str(v).split(":")[0] for v in services[service]["volumes"] if str(v).split(":")[1] == target}
        assert sources & named, f"{service} keeps {target} outside a named volume"


def test_bind_mounts_exist_in_the_repository(services: dict[str, dict[str, Any]]) -> None:
    for service in services.values():
        for volume in service.get("volumes", []):
            source = volume["source"] if isinstance(volume, dict) else str(volume).split(":")[0]
            if source.startswith("."):
                assert (ROOT / source).exists(), f"bind mount source {source} is missing"


def test_mosquitto_keeps_what_a_stopped_gateway_has_not_acknowledged(services: dict[str, dict[str, Any]]) -> None:
    conf = _mosquitto_conf_path(services)
    assert conf.is_file()
    options = _mosquitto_options(conf)
    # The default (1000) drops QoS 1 messages queued for a disconnected persistent session.
    assert int(options["max_queued_messages"][-1]) > 1000
    assert options["persistence"] == ["true"]
    assert options["persistence_location"] == ["/mosquitto/data/"]
    assert int(options["autosave_interval"][-1]) <= 60
    assert options["allow_anonymous"] == ["false"]
    assert options["password_file"] == ["/mosquitto/auth/passwd"]
    assert options["acl_file"] == ["/mosquitto/auth/acl"]
    # The generated credentials are mounted where the config reads them, and never committed.
    mounts = [str(v) for v in services["mosquitto"]["volumes"]]
    assert any(v.startswith("./deploy/mosquitto/auth:/mosquitto/auth") for v in mounts)
    ignored = (ROOT / "deploy/mosquitto/auth/.gitignore").read_text(encoding="utf-8").split()
    assert {"passwd", "acl"} <= set(ignored)


def test_dockerfile_runs_the_console_script_as_non_root() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    instructions = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    froms = [line.split()[1] for line in instructions if line.upper().startswith("FROM ")]
    assert froms, "no FROM"
    assert "python:3.11-slim" in text
    # The console script [project.scripts] defines, in exec form so signals reach it.
    exec_forms = [line for line in instructions if line.split()[0].upper() in ("CMD", "ENTRYPOINT")]
    assert exec_forms, "no CMD or ENTRYPOINT"
    argv = [arg for line in exec_forms for arg in json.loads(line.split(None, 1)[1])]
    assert argv[0] == "meterbill"
    assert argv[1:3] == ["api", "run"]
    users = [line.split()[1] for line in instructions if line.upper().startswith("USER ")]
    assert users, "the image runs as root"
    assert users[-1].split(":")[0] not in ("root", "0")
    assert any("pip install" in line and " ." in line for line in instructions)


def test_dockerignore_keeps_local_state_out_of_the_image() -> None:
    ignored = {
        line.strip()
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".venv", ".git", "meterbill-data"} <= ignored
