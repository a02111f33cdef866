"""Fixtures for the migration tests: a Prefect 1 API stub, in-memory services, a fixed clock.

No Prefect 1 server can run here, so the legacy side is ``devtools.prefect1_stub``: a
local stand-in for the Prefect 1 GraphQL API that follows its documented mutations and queries
and records every call it receives.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from devtools.fakes import memory_services
from devtools.prefect1_stub import Prefect1Stub
from devtools.validation_reports import report_for
from flowlib.migration.manifest import Manifests
from flowlib.migration.prefect1 import Prefect1Client
from flowlib.migration.services import Services

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@dataclass
class Clock:
    now: datetime = NOW

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def stub() -> Iterator[Prefect1Stub]:
    """The Prefect 1 API stub with every manifest's legacy flow registered, schedules active."""
    with Prefect1Stub(token="p1-test-key") as p1:
        for plan in Manifests.load().plans:
            p1.add_flow(
                plan.legacy.name,
                plan.legacy.project,
                parameters=plan.legacy.parameters,
                legacy_path=f"{plan.project}/{plan.flow}",
            )
        yield p1


@pytest.fixture
def svc(stub: Prefect1Stub, clock: Clock) -> Services:
    """Services on memory stores and fake deployments, the stub as Prefect 1, a fixed clock."""
    return memory_services(
        lambda: Prefect1Client(stub.url, "p1-test-key", max_attempts=1), now=clock
    )


@pytest.fixture
def make_report() -> Any:
    """``make_report("sales/shop/products", status="fail")``: see :func:`report_for`."""
    return report_for


def validate(svc: Services, project: str, flow: str, passed: bool = True) -> None:
    from flowctl.migration import record_validation
    from flowlib.migration.validations import dataset_prefix

    prefix = dataset_prefix(project, flow).rstrip("/")
    record_validation(
        project, flow, report_for(prefix, status="pass" if passed else "fail"), services=svc
    )


@pytest.fixture
def validated() -> Any:
    """``validated(svc, project, flow, passed=True)``: record a validation of the flow."""
    return validate
