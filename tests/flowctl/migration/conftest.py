"""The migration fixtures (clock, Prefect 1 double, in-memory services) shared with the runtime's
tests in ``tests/flowlib/migration``."""

from tests.flowlib.migration.conftest import (  # noqa: F401 (fixtures)
    clock,
    make_report,
    stub,
    svc,
    validated,
)
