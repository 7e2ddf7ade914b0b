"""Schemathesis generates requests from the server's own /openapi.json (bounded number
of examples per route): no request may get a 5xx, and every error is JSON. Driven through
schemathesis' Python API with hypothesis directly (its pytest plugin breaks with newer
pytest releases)."""

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402


def _check_operation(operation) -> None:
    @given(case=operation.as_strategy())
    @settings(
        max_examples=15,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    def check(case):
        response = case.call(timeout=30)
        assert response.status_code < 500, (case.method, case.path, response.text[:500])
        if response.status_code >= 400:
            assert isinstance(response.json()["error"], str)

    check()


def test_no_server_errors(server):
    schema = schemathesis.openapi.from_url(server.url + "/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 10  # every route of the v2 and /v1 APIs is in the schema
    for operation in operations:
        _check_operation(operation)
