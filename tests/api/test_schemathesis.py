"""schemathesis against the app's own OpenAPI document, authenticated as admin: no 5xx, and every
response matches its declared schema. The number of examples is bounded to keep this under a minute.

The operations are driven by hand (``as_strategy`` under hypothesis) rather than by the pytest
plugin, so the one world (a billed month on SQLite) is built once for every operation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings

from store.sqlite import SQLiteStore
from tests.api.world import build_world

_MAX_EXAMPLES = 5
# password grant (a slow argon2 per example) and background billing runs have their own tests
_SKIP = {("POST", "/api/v1/auth/token"), ("POST", "/api/v1/billing-runs")}


def test_api_conforms_to_its_openapi(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "meterbill.db")
    store.upgrade()
    world = build_world(store)
    auth = {"Authorization": f"Bearer {world.tokens['admin']}"}
    schema = schemathesis.openapi.from_asgi("/openapi.json", world.app)
    failures: list[str] = []  # 5xx answers, collected over every operation
    tested = 0
    for result in schema.get_all_operations():
        operation = result.ok()  # type: ignore[union-attr]  # an invalid operation fails here, loudly
        key = (operation.method.upper(), operation.path)
        if not operation.path.startswith("/api/v1/") or key in _SKIP:
            continue
        tested += 1

        @given(case=operation.as_strategy())
        @settings(
            max_examples=_MAX_EXAMPLES,
            deadline=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        def check(case: schemathesis.Case[Any]) -> None:
            case.headers.update(auth)
            response = case.call()
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path}: {response.status_code} {response.text[:300]}")
                return
            # Schema conformance, not business rules: a schema-valid body may still be refused (422)
            # for a reason the schema cannot say (a customer id for a staff role), and that is fine.
            case.validate_response(
                response,
                checks=[
                    schemathesis.checks.not_a_server_error,
                    schemathesis.checks.status_code_conformance,
                    schemathesis.checks.content_type_conformance,
                    schemathesis.checks.response_schema_conformance,
                ],
            )

        check()
    store.close()
    assert tested >= 40
    assert not failures, "\n".join(dict.fromkeys(failures))


pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
