"""The operator side of each flow's migration: cutover, rollback, status, health, alerts.

One import for ``flowctl`` and the tests; the runtime half (phase record, fail-back, validation
records) lives in :mod:`flowlib.migration` and is re-exported here.

The public functions ``flowctl`` wires to commands (each returns data; ``flowctl`` prints it):

- :func:`status` / :func:`diff` / :func:`history` (``flowctl migration status|diff|history``;
  ``flowctl status`` and ``flowctl diff`` show the recorded and declared phases too)
- :func:`cutover`, :func:`rollback`, :func:`decommission`, :func:`set_phase`, :func:`init_phases`
  (``-> list[Outcome]``; :func:`exit_code` turns them into the command's exit code)
- :func:`fail_back` (by hand, for one failed run), :func:`watch` (one watcher pass)
- :func:`record_validation` / :func:`record_validations` / :func:`latest_validation`
- :func:`health` (``flowctl health``), :func:`write_textfile` / :func:`serve_metrics`
- :func:`apply_alerts` (``flowctl alerts``: server-side alerts from ``infra/alerts/alerts.yaml``)

See docs/cutover.md for the procedure and where each piece of state lives.
"""

from flowctl.migration.alerts import apply_alerts, list_alerts, load_alerts
from flowctl.migration.health import HealthReport, health, health_table
from flowctl.migration.metrics import serve as serve_metrics
from flowctl.migration.metrics import write_textfile
from flowctl.migration.operations import (
    cutover,
    decommission,
    init_phases,
    pools_from_environment,
    reconcile,
    rollback,
    set_phase,
)
from flowctl.migration.status import (
    FlowStatus,
    diff,
    diff_table,
    history,
    outcomes_table,
    status,
    status_table,
)
from flowlib.migration.failback import WatchResult, fail_back, failback_from_hook, watch
from flowlib.migration.manifest import FlowPlan, ManifestError, Manifests
from flowlib.migration.model import (
    PHASES,
    MigrationError,
    Outcome,
    Phase,
    PhaseEvent,
    PhaseRecord,
    ValidationRecord,
    exit_code,
)
from flowlib.migration.prefect1 import Prefect1Client, Prefect1Error
from flowlib.migration.services import Services, default_actor, default_services
from flowlib.migration.validations import latest_validation, record_validation, record_validations

__all__ = [
    "PHASES",
    "FlowPlan",
    "FlowStatus",
    "HealthReport",
    "ManifestError",
    "Manifests",
    "MigrationError",
    "Outcome",
    "Phase",
    "PhaseEvent",
    "PhaseRecord",
    "Prefect1Client",
    "Prefect1Error",
    "Services",
    "ValidationRecord",
    "WatchResult",
    "apply_alerts",
    "cutover",
    "decommission",
    "default_actor",
    "default_services",
    "diff",
    "diff_table",
    "exit_code",
    "fail_back",
    "failback_from_hook",
    "health",
    "health_table",
    "history",
    "init_phases",
    "latest_validation",
    "list_alerts",
    "load_alerts",
    "outcomes_table",
    "pools_from_environment",
    "reconcile",
    "record_validation",
    "record_validations",
    "rollback",
    "serve_metrics",
    "set_phase",
    "status",
    "status_table",
    "watch",
    "write_textfile",
]
