"""Fixtures of the web tests: a seeded store, page clients logged in by role, a served app, Chromium."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api import create_app
from meterbill.settings import load_settings
from store.contract import Store
from store.sqlite import SQLiteStore
from tests.web.world import PASSWORD, World, build_world

CHROMIUM = Path("/usr/bin/chromium")
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found is not None, "the page has no CSRF input"
    return found.group(1)


def log_in(client: TestClient, email: str, password: str = PASSWORD) -> None:
    token = csrf_of(client.get("/login").text)
    response = client.post(
        "/login", data={"email": email, "password": password, "csrf_token": token}, follow_redirects=False
    )
    assert response.status_code == 303, response.text


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Store, World]]:
    """One SQLite store with the portal world for a whole test module (the tests only add to it)."""
    store = SQLiteStore(tmp_path_factory.mktemp("web") / "meterbill.db")
    store.upgrade()
    try:
        yield store, build_world(store)
    finally:
        store.close()


@pytest.fixture(scope="module")
def web_app(seeded: tuple[Store, World]) -> FastAPI:
    return create_app(load_settings(env="development", login_max_attempts=1000), seeded[0])


@pytest.fixture
def anonymous(web_app: FastAPI) -> TestClient:
    return TestClient(web_app)


def client_as(app: FastAPI, email: str) -> TestClient:
    client = TestClient(app)
    log_in(client, email)
    return client


class ServedApp:
    """An app served by uvicorn on a free loopback port in a thread (lifespan off, as in production)."""

    def __init__(self, app: FastAPI) -> None:
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="off", log_level="warning", access_log=False)
        )
        self.thread = threading.Thread(target=self.server.run, name="served-app", daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start within 30 s")
            time.sleep(0.02)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's Chromium: installed by the harness in CI when absent; elsewhere its absence skips."""
    if not CHROMIUM.exists():
        if os.environ.get("CI", "").lower() != "true":
            pytest.skip(f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)")
        apt = shutil.which("apt-get")
        if apt is None:
            pytest.fail("CI=true: Chromium is absent and apt-get is not available to install it", pytrace=False)
        install = [apt, "install", "-y", "--no-install-recommends", "chromium"]
        if subprocess.run(install, check=False).returncode != 0:  # a fresh image has no package lists yet
            subprocess.run([apt, "update"], check=True)
            subprocess.run(install, check=True)
        if not CHROMIUM.exists():
            pytest.fail(f"CI=true: apt-get install chromium left no {CHROMIUM}", pytrace=False)
    return CHROMIUM
