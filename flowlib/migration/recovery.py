"""The parameters of a legacy recovery run: the interval a failed new run missed.

Derived from the failed run's parameters and scheduled start through the flow's ``recovery``
section of the manifest (data, not code). The legacy run is also created with the failed run's
scheduled start as its ``scheduled_start_time``, so its default dates and its file names are
those of the missed slot.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from flowlib.migration.manifest import RecoveryParam, parse_recovery
from flowlib.windows import floor_hour, iso_z, local_date, previous_day


def derive(default: str, scheduled: datetime, timezone: str = "UTC") -> str:
    """One derivation of the scheduled start (see :class:`RecoveryParam`)."""
    if default == "scheduled_date":
        return local_date(scheduled, timezone).isoformat()
    if default == "previous_day":
        return previous_day(scheduled, timezone).isoformat()
    if default == "scheduled_hour":
        return iso_z(floor_hour(scheduled))
    if default == "scheduled_start":
        return iso_z(scheduled)
    raise ValueError(f"unknown recovery derivation {default!r}")


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso_z(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def recovery_parameters(
    spec: Mapping[str, RecoveryParam] | Mapping[str, Any],
    run_parameters: Mapping[str, Any],
    scheduled: datetime,
) -> dict[str, Any]:
    """The legacy flow's parameters for a run that covers what the failed run missed.

    Args:
        spec: The flow's ``recovery`` section, parsed or as a plain mapping (phase-record snapshot).
        run_parameters: The failed new run's parameters (deployment defaults merged in).
        scheduled: The failed run's scheduled (expected) start.

    Returns:
        JSON-ready parameters; a legacy parameter without a value is left out.
    """
    parsed: Mapping[str, RecoveryParam] = (
        spec
        if all(isinstance(v, RecoveryParam) for v in spec.values())
        else parse_recovery(dict(spec), "recovery snapshot")
    )
    params: dict[str, Any] = {}
    for name, rule in parsed.items():
        value = run_parameters.get(rule.param) if rule.param else None
        if value is None and rule.default:
            value = derive(rule.default, scheduled, rule.timezone)
        if value is not None:
            params[name] = _jsonable(value)
    return params
