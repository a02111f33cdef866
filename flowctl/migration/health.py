"""Migration health: legacy and new run outcomes side by side, validation and phase per flow.

``flowctl health [--project P] [--days N]`` prints :func:`health_table` or the JSON of
:meth:`HealthReport.to_dict`; :mod:`flowctl.migration.metrics` exports the same numbers to
Prometheus. The new side comes from the Prefect API (runs of each flow's deployment), the legacy
side from the Prefect 1 API (``flow_run`` query); a side that cannot be read shows its error.

Per side: runs finished in the window, succeeded / failed, success rate (of finished runs),
mean and max duration, mean lateness (start minus scheduled start), the last run's state and time.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from rich.table import Table

from flowctl.migration.status import PHASE_STYLE
from flowlib.migration.model import ValidationRecord, iso
from flowlib.migration.services import Services, default_services, describe


@dataclass(frozen=True)
class RunSample:
    """One run, either side, reduced to what health needs."""

    state: str
    succeeded: bool
    failed: bool
    scheduled: datetime | None
    start: datetime | None
    end: datetime | None
    duration_s: float | None = None

    def duration(self) -> float | None:
        """The run's duration in seconds: the API's run time, else end minus start."""
        if self.duration_s is not None:
            return self.duration_s
        if self.end is not None and self.start is not None:
            return (self.end - self.start).total_seconds()
        return None

    @property
    def lateness_s(self) -> float | None:
        """Start minus scheduled start, in seconds (never negative)."""
        if self.scheduled is None or self.start is None:
            return None
        return max(0.0, (self.start - self.scheduled).total_seconds())


@dataclass(frozen=True)
class RunStats:
    """Run outcomes of one side of one flow over the window."""

    runs: int = 0
    succeeded: int = 0
    failed: int = 0
    other: int = 0
    success_rate: float | None = None
    mean_duration_s: float | None = None
    max_duration_s: float | None = None
    mean_lateness_s: float | None = None
    last_state: str | None = None
    last_run_at: str | None = None
    error: str | None = None

    @classmethod
    def of(cls, samples: Iterable[RunSample]) -> RunStats:
        """Aggregate runs (in any order)."""
        runs = sorted(samples, key=lambda s: s.scheduled or s.start or datetime.min)
        succeeded = sum(s.succeeded for s in runs)
        failed = sum(s.failed for s in runs)
        durations = [
            d for s in runs if (s.succeeded or s.failed) and (d := s.duration()) is not None
        ]
        lateness = [x for s in runs if (x := s.lateness_s) is not None]
        last = runs[-1] if runs else None
        return cls(
            runs=len(runs),
            succeeded=succeeded,
            failed=failed,
            other=len(runs) - succeeded - failed,
            success_rate=succeeded / (succeeded + failed) if succeeded + failed else None,
            mean_duration_s=statistics.fmean(durations) if durations else None,
            max_duration_s=max(durations) if durations else None,
            mean_lateness_s=statistics.fmean(lateness) if lateness else None,
            last_state=last.state if last else None,
            last_run_at=iso(last.scheduled or last.start) if last else None,
        )


@dataclass(frozen=True)
class FlowHealth:
    """One flow's health."""

    project: str
    flow: str
    wave: int
    criticality: str
    phase: str | None
    phase_since: str | None
    declared_phase: str
    legacy: RunStats
    new: RunStats
    validation: ValidationRecord | None = None

    @property
    def key(self) -> str:
        """``<project>/<flow>``."""
        return f"{self.project}/{self.flow}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        data = asdict(self)
        data["validation"] = self.validation.to_dict() if self.validation else None
        return data


@dataclass(frozen=True)
class HealthReport:
    """Every flow's health over the last ``days`` days, as of ``generated_at``."""

    generated_at: str
    days: int
    flows: list[FlowHealth] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The JSON of ``flowctl health --json``."""
        return {
            "generated_at": self.generated_at,
            "days": self.days,
            "flows": [f.to_dict() for f in self.flows],
        }


def new_samples(svc: Services, deployment: str, since: datetime) -> list[RunSample]:
    """The new deployment's runs expected since ``since`` (scheduled future runs left out)."""
    dep = svc.deployments.deployment(deployment)
    now = svc.now()
    out = []
    for run in svc.deployments.flow_runs(dep.id, since=since):
        if run.state_type == "SCHEDULED" and (run.expected_start_time or now) > now:
            continue
        out.append(
            RunSample(
                state=run.state_name or run.state_type,
                succeeded=run.state_type == "COMPLETED",
                failed=run.state_type in ("FAILED", "CRASHED"),
                scheduled=run.expected_start_time,
                start=run.start_time,
                end=run.end_time,
                duration_s=run.total_run_time_s if run.end_time else None,
            )
        )
    return out


def legacy_samples(svc: Services, name: str, project: str, since: datetime) -> list[RunSample]:
    """The legacy flow's runs scheduled since ``since``, from the Prefect 1 API."""
    now = svc.now()
    return [
        RunSample(
            state=r.state,
            succeeded=r.succeeded,
            failed=r.failed,
            scheduled=r.scheduled_start_time,
            start=r.start_time,
            end=r.end_time,
        )
        for r in svc.legacy.flow_runs(name, project, since)
        if not (r.state == "Scheduled" and (r.scheduled_start_time or now) > now)
    ]


def _stats(fetch: Any) -> RunStats:
    try:
        return RunStats.of(fetch())
    except Exception as exc:
        return RunStats(error=describe(exc))


def health(
    project: str | None = None,
    days: int = 7,
    services: Services | None = None,
) -> HealthReport:
    """Legacy and new run outcomes, latest validation and phase of every flow (or one project)."""
    svc = services or default_services()
    try:
        now = svc.now()
        since = now - timedelta(days=days)
        flows = []
        for plan in svc.manifests.select(project):
            record = svc.store.read(plan.project, plan.flow)
            flows.append(
                FlowHealth(
                    project=plan.project,
                    flow=plan.flow,
                    wave=plan.wave,
                    criticality=plan.criticality,
                    phase=record.phase if record else None,
                    phase_since=record.since if record else None,
                    declared_phase=plan.phase,
                    legacy=_stats(
                        lambda p=plan: legacy_samples(svc, p.legacy.name, p.legacy.project, since)
                    ),
                    new=_stats(lambda p=plan: new_samples(svc, p.deployment, since)),
                    validation=svc.store.read_validation(plan.project, plan.flow),
                )
            )
        return HealthReport(generated_at=iso(now) or "", days=days, flows=flows)
    finally:
        if services is None:
            svc.close()


def _side(stats: RunStats) -> str:
    if stats.error:
        return f"[red]error[/] {stats.error[:80]}"
    if not stats.runs:
        return "[dim]no runs[/]"
    rate = f"{stats.success_rate:.0%}" if stats.success_rate is not None else "-"
    style = "green" if stats.success_rate == 1 else ("red" if stats.failed else "yellow")
    duration = f"{stats.mean_duration_s:.0f}s" if stats.mean_duration_s is not None else "-"
    late = f"{stats.mean_lateness_s:.0f}s" if stats.mean_lateness_s is not None else "-"
    return (
        f"[{style}]{rate}[/] {stats.succeeded}/{stats.succeeded + stats.failed} ok\n"
        f"⌀ {duration}, late ⌀ {late}\nlast {stats.last_state}"
    )


def health_table(report: HealthReport) -> Table:
    """Legacy and new side by side, one row per flow, sections by wave."""
    table = Table(title=f"migration health, last {report.days} days (as of {report.generated_at})")
    for column in ("wave", "flow", "phase", "legacy (Prefect 1)", "new (Prefect 2)", "validation"):
        table.add_column(column, overflow="fold")
    wave = None
    for row in sorted(report.flows, key=lambda r: (r.wave, r.project, r.flow)):
        if wave is not None and row.wave != wave:
            table.add_section()
        wave = row.wave
        phase = row.phase or "no record"
        validation = (
            f"[{'green' if row.validation.passed else 'red'}]{row.validation.verdict}[/]\n"
            f"{row.validation.at[:16]}"
            if row.validation
            else "[yellow]none[/]"
        )
        table.add_row(
            str(row.wave),
            row.key,
            f"[{PHASE_STYLE.get(phase, 'yellow')}]{phase}[/]",
            _side(row.legacy),
            _side(row.new),
            validation,
        )
    return table
