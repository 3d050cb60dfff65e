"""``meterbill users``: add (password piped or generated), list, api-key, run as a user would."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.fix_cli import meterbill


def _run(*args: str, env: dict[str, str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    if stdin is None:
        return meterbill(*args, env=env)
    return subprocess.run(
        [sys.executable, "-m", "meterbill", *args], env=env, input=stdin, capture_output=True, text=True, timeout=120
    )


def test_users_add_list_and_api_key(env: dict[str, str]) -> None:
    assert meterbill("db", "upgrade", env=env).returncode == 0
    piped = _run(
        "users", "add", "--role", "billing", "--email", "Bea@Example.test", env=env, stdin="a piped password\n"
    )
    assert piped.returncode == 0, piped.stderr
    assert "a piped password" not in piped.stdout + piped.stderr
    generated = _run("users", "add", "--role", "admin", "--email", "root@example.test", env=env, stdin="")
    assert generated.returncode == 0, generated.stderr
    password = generated.stdout.strip().splitlines()[-1]
    assert len(password) >= 12 and " " not in password

    again = _run(
        "users", "add", "--role", "support", "--email", "bea@example.test", env=env, stdin="another password\n"
    )
    assert again.returncode == 1 and "already exists" in again.stderr
    no_customer = _run("users", "add", "--role", "customer", "--email", "c@example.test", env=env, stdin="x" * 20)
    assert no_customer.returncode == 2 and "--customer" in no_customer.stderr

    listed = meterbill("users", "list", "--format", "json", env=env)
    assert listed.returncode == 0, listed.stderr
    users = json.loads(listed.stdout)
    assert {u["email"] for u in users} == {"Bea@Example.test", "root@example.test"}
    assert all("hash" not in key for u in users for key in u)
    assert "$argon2" not in listed.stdout

    key = meterbill("users", "api-key", "bea@example.test", env=env)
    assert key.returncode == 0, key.stderr
    assert key.stdout.strip().splitlines()[-1].startswith("mbk_")
    unknown = meterbill("users", "api-key", "nobody@example.test", env=env)
    assert unknown.returncode == 1 and "no account" in unknown.stderr
