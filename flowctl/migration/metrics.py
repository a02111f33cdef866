"""Prometheus metrics of the migration: phase, validation, run outcomes and durations per flow.

Two ways out, both from a fresh :class:`~prometheus_client.CollectorRegistry` (nothing global):

- :func:`write_textfile`: for node-exporter's textfile collector
  (``--collector.textfile.directory``), written atomically; e.g. from a cron job or
  ``flowctl metrics --textfile``;
- :func:`serve`: an HTTP endpoint that recomputes the health on each scrape (cached for
  ``refresh_seconds``), e.g. ``flowctl metrics --port 9108``.

Metrics (labels ``project``, ``flow``; runs also ``side`` = ``legacy`` | ``new``):

- ``flowlib_migration_phase{phase}``: 1 for the flow's recorded phase, 0 for the others;
- ``flowlib_migration_phase_since_timestamp_seconds``;
- ``flowlib_migration_validation_passed``, ``..._validation_timestamp_seconds``;
- ``flowlib_migration_runs{side,outcome}`` (succeeded / failed / other, in the window);
- ``flowlib_migration_run_success_ratio{side}``;
- ``flowlib_migration_run_duration_seconds{side,stat}`` (mean / max);
- ``flowlib_migration_run_lateness_seconds{side}`` (mean);
- ``flowlib_migration_last_run_timestamp_seconds{side}``;
- ``flowlib_migration_side_up{side}``: 0 when that side's API could not be read;
- ``flowlib_migration_window_days``, ``flowlib_migration_generated_timestamp_seconds``.

``infra/grafana/migration-dashboard.json`` is a dashboard on these.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, start_http_server, write_to_textfile
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from flowctl.migration.health import HealthReport, RunStats
from flowlib.migration.model import PHASES, parse_time

PREFIX = "flowlib_migration"


def _ts(value: str | None) -> float | None:
    moment = parse_time(value)
    return moment.timestamp() if moment else None


def families(report: HealthReport) -> list[GaugeMetricFamily]:
    """The metric families of one health report."""
    flow = ["project", "flow"]
    side = [*flow, "side"]
    phase = GaugeMetricFamily(
        f"{PREFIX}_phase", "1 for the flow's recorded phase", labels=[*flow, "phase"]
    )
    since = GaugeMetricFamily(
        f"{PREFIX}_phase_since_timestamp_seconds", "When the current phase began", labels=flow
    )
    passed = GaugeMetricFamily(
        f"{PREFIX}_validation_passed", "1 when the latest validation passed", labels=flow
    )
    validated_at = GaugeMetricFamily(
        f"{PREFIX}_validation_timestamp_seconds", "When the latest validation ran", labels=flow
    )
    runs = GaugeMetricFamily(
        f"{PREFIX}_runs", "Runs in the window by outcome", labels=[*side, "outcome"]
    )
    ratio = GaugeMetricFamily(
        f"{PREFIX}_run_success_ratio", "Succeeded / finished runs in the window", labels=side
    )
    duration = GaugeMetricFamily(
        f"{PREFIX}_run_duration_seconds", "Run duration in the window", labels=[*side, "stat"]
    )
    lateness = GaugeMetricFamily(
        f"{PREFIX}_run_lateness_seconds", "Mean start minus scheduled start", labels=side
    )
    last = GaugeMetricFamily(
        f"{PREFIX}_last_run_timestamp_seconds", "Scheduled start of the latest run", labels=side
    )
    up = GaugeMetricFamily(f"{PREFIX}_side_up", "1 when that side's API answered", labels=side)
    for row in report.flows:
        labels = [row.project, row.flow]
        for name in PHASES:
            phase.add_metric([*labels, name], 1.0 if row.phase == name else 0.0)
        if (value := _ts(row.phase_since)) is not None:
            since.add_metric(labels, value)
        if row.validation is not None:
            passed.add_metric(labels, 1.0 if row.validation.passed else 0.0)
            if (value := _ts(row.validation.at)) is not None:
                validated_at.add_metric(labels, value)
        for side_name, stats in (("legacy", row.legacy), ("new", row.new)):
            _side([*labels, side_name], stats, runs, ratio, duration, lateness, last, up)
    window = GaugeMetricFamily(f"{PREFIX}_window_days", "The window of the run metrics")
    window.add_metric([], float(report.days))
    generated = GaugeMetricFamily(
        f"{PREFIX}_generated_timestamp_seconds", "When these metrics were computed"
    )
    generated.add_metric([], _ts(report.generated_at) or time.time())
    return [
        phase,
        since,
        passed,
        validated_at,
        runs,
        ratio,
        duration,
        lateness,
        last,
        up,
        window,
        generated,
    ]


def _side(
    labels: list[str],
    stats: RunStats,
    runs: GaugeMetricFamily,
    ratio: GaugeMetricFamily,
    duration: GaugeMetricFamily,
    lateness: GaugeMetricFamily,
    last: GaugeMetricFamily,
    up: GaugeMetricFamily,
) -> None:
    up.add_metric(labels, 0.0 if stats.error else 1.0)
    if stats.error:
        return
    for outcome, count in (
        ("succeeded", stats.succeeded),
        ("failed", stats.failed),
        ("other", stats.other),
    ):
        runs.add_metric([*labels, outcome], float(count))
    if stats.success_rate is not None:
        ratio.add_metric(labels, stats.success_rate)
    if stats.mean_duration_s is not None:
        duration.add_metric([*labels, "mean"], stats.mean_duration_s)
    if stats.max_duration_s is not None:
        duration.add_metric([*labels, "max"], stats.max_duration_s)
    if stats.mean_lateness_s is not None:
        lateness.add_metric(labels, stats.mean_lateness_s)
    if (value := _ts(stats.last_run_at)) is not None:
        last.add_metric(labels, value)


class HealthCollector(Collector):
    """Collects from a health report, recomputed at most every ``refresh_seconds``."""

    def __init__(self, compute: Callable[[], HealthReport], refresh_seconds: float = 60) -> None:
        self.compute = compute
        self.refresh_seconds = refresh_seconds
        self._report: HealthReport | None = None
        self._at = 0.0
        self._lock = threading.Lock()

    def report(self) -> HealthReport:
        """The cached report, recomputed when older than ``refresh_seconds``."""
        with self._lock:
            if self._report is None or time.monotonic() - self._at >= self.refresh_seconds:
                self._report = self.compute()
                self._at = time.monotonic()
            return self._report

    def collect(self) -> Iterator[Any]:
        """Prometheus' collector protocol."""
        yield from families(self.report())


def registry_for(report: HealthReport) -> CollectorRegistry:
    """A fresh registry holding one report's metrics."""
    registry = CollectorRegistry(auto_describe=True)
    registry.register(HealthCollector(lambda: report, refresh_seconds=float("inf")))
    return registry


def write_textfile(path: str | Path, report: HealthReport) -> Path:
    """Write the metrics for node-exporter's textfile collector (atomically: temp, rename)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    write_to_textfile(str(target), registry_for(report))
    return target


def serve(
    port: int,
    compute: Callable[[], HealthReport],
    addr: str = "0.0.0.0",  # noqa: S104 - a metrics endpoint is scraped from outside
    refresh_seconds: float = 60,
) -> tuple[Any, Any]:
    """Serve ``/metrics`` on ``port`` in a background thread; returns (server, thread).

    ``compute`` is e.g. ``lambda: health(project, days)``; it runs on a scrape when the cached
    report is older than ``refresh_seconds``.
    """
    registry = CollectorRegistry(auto_describe=False)
    registry.register(HealthCollector(compute, refresh_seconds))
    return start_http_server(port, addr=addr, registry=registry)
