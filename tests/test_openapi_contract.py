"""The OpenAPI schema matches the code: Schemathesis generates requests from it (every check on)
against the app in process, with a bundle loaded. A bounded number of cases per operation."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.config import SchemathesisConfig
from schemathesis.generation.modes import GenerationMode

from service.app import create_app
from service.settings import Settings
from training.trainer import TrainResult

CASES_PER_OPERATION = 40  # per operation and mode (valid, invalid)
# Statuses that valid data may get: 413 past the body or candidate limits (settings, not schema),
# 422 for candidates the bundle does not know under "strict": true. The contract points that a
# loose status would hide (integer ids, 84.0 as k) have tests of their own
# (test_service_validation).
CONFIG = SchemathesisConfig.from_dict({"checks": {"positive_data_acceptance": {
    "expected-statuses": ["2xx", "413", "422"]}}})


@pytest.fixture(scope="module")
def api_schema(trained: TrainResult, trained_artifacts: Path) -> schemathesis.BaseSchema:
    app = create_app(Settings(artifacts=trained_artifacts))
    return schemathesis.openapi.from_asgi("/openapi.json", app, config=CONFIG)


def test_every_operation_answers_as_its_schema_says(api_schema: schemathesis.BaseSchema) -> None:
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert {op.path for op in operations} >= {"/score", "/recommend", "/model", "/readyz"}
    for operation, mode in itertools.product(operations, GenerationMode):  # valid and invalid
        if mode is GenerationMode.NEGATIVE and not len(operation.body):
            continue  # nothing to make invalid in a GET without parameters
        @given(case=operation.as_strategy(mode))
        @settings(max_examples=CASES_PER_OPERATION, deadline=None, derandomize=True,
                  suppress_health_check=list(HealthCheck), database=None)
        def answers_as_documented(case: schemathesis.Case) -> None:
            case.call_and_validate()

        answers_as_documented()
