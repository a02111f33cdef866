"""Notification messages, health aggregation, Prometheus metrics (offline)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import httpx
from prometheus_client import generate_latest
from rich.console import Console

from flowctl.migration import cutover, health, health_table, init_phases, write_textfile
from flowctl.migration.health import HealthReport, RunSample, RunStats
from flowctl.migration.metrics import registry_for, serve
from flowlib.migration.notify import BlockNotifier, error_summary, flow_run_message

T0 = datetime(2026, 11, 20, 2, tzinfo=UTC)


def test_flow_run_message_has_flow_deployment_env_error_and_link():
    subject, body = flow_run_message(
        flow_name="sales-products-snapshot",
        flow_run_name="able-quail",
        flow_run_id="123",
        state="FAILED",
        state_message="Flow run encountered an exception. SourceError: source 'shop': HTTP 500",
        target_env="prod",
        deployment="sales-products-snapshot/products-snapshot",
        run_url="http://prefect/flow-runs/flow-run/123",
    )
    assert subject == "[flowlib] FAILED sales-products-snapshot (prod)"
    assert body.splitlines() == [
        "Flow run sales-products-snapshot/able-quail ended FAILED.",
        "flow: sales-products-snapshot",
        "deployment: sales-products-snapshot/products-snapshot",
        "target env: prod",
        "error: SourceError: source 'shop': HTTP 500",
        "run: http://prefect/flow-runs/flow-run/123",
    ]


def test_error_summary_is_one_bounded_line():
    text = error_summary("line one\n  line two " + "x" * 2000, limit=50)
    assert "\n" not in text and len(text) == 50 and text.endswith("…")
    assert error_summary(None) == "no message"


def test_without_a_block_the_notification_is_logged(caplog):
    with caplog.at_level(logging.WARNING, "flowlib.notify"):
        assert BlockNotifier.from_env({}).send("subject", "body") == []
    assert "set FLOWLIB_NOTIFY_BLOCK" in caplog.text
    notifier = BlockNotifier.from_env({"FLOWLIB_NOTIFY_BLOCK": "slack-webhook/a, custom-webhook/b"})
    assert notifier.refs == ["slack-webhook/a", "custom-webhook/b"]
    # a reference without its block type cannot be loaded: the error says the format
    [error] = BlockNotifier(["just-a-name"]).send("s", "b")
    assert "<block-type-slug>/<name>" in error


def test_run_stats_rate_duration_lateness():
    samples = [
        RunSample(
            "Completed", True, False, T0, T0 + timedelta(seconds=30), T0 + timedelta(seconds=90)
        ),
        RunSample(
            "Failed",
            False,
            True,
            T0 + timedelta(days=1),
            T0 + timedelta(days=1),
            T0 + timedelta(days=1, seconds=30),
        ),
        RunSample("Running", False, False, T0 + timedelta(days=2), T0 + timedelta(days=2), None),
    ]
    stats = RunStats.of(samples)
    assert (stats.runs, stats.succeeded, stats.failed, stats.other) == (3, 1, 1, 1)
    assert stats.success_rate == 0.5
    assert (stats.mean_duration_s, stats.max_duration_s) == (45.0, 60.0)
    assert stats.mean_lateness_s == 10.0
    assert (stats.last_state, stats.last_run_at) == ("Running", "2026-11-22T02:00:00+00:00")
    assert RunStats.of([]).success_rate is None


def _report(svc, stub, validated, clock):
    init_phases(actor="user:ops", services=svc)
    validated(svc, "sales", "products_snapshot")
    cutover("sales", "products_snapshot", actor="user:ops", services=svc)
    for day in range(5):
        slot = T0 + timedelta(days=day)
        stub.add_run(
            "sales-products-snapshot",
            "Success" if day else "Failed",
            slot,
            duration=timedelta(minutes=2),
            lateness=timedelta(seconds=20),
        )
        svc.deployments.add_run(
            "sales-products-snapshot/products-snapshot",
            "COMPLETED",
            slot + timedelta(minutes=20),
            start=slot + timedelta(minutes=20),
            end=slot + timedelta(minutes=21),
        )
    return health("sales", days=7, services=svc)


def test_health_puts_both_sides_next_to_each_other(svc, stub, validated, clock):
    report = _report(svc, stub, validated, clock)
    products = next(f for f in report.flows if f.flow == "products_snapshot")
    assert (products.phase, products.validation.verdict) == ("cutover", "PASSED")
    assert (products.legacy.runs, products.legacy.success_rate) == (5, 0.8)
    assert products.legacy.mean_lateness_s == 20.0 and products.legacy.mean_duration_s == 120.0
    assert (products.new.runs, products.new.success_rate, products.new.mean_duration_s) == (
        5,
        1.0,
        60.0,
    )
    orders = next(f for f in report.flows if f.flow == "orders_incremental")
    assert orders.new.runs == 0 and orders.validation is None
    data = report.to_dict()
    assert data["days"] == 7 and data["flows"][0]["legacy"]["success_rate"] == 0.8
    console = Console(width=200, record=True)
    console.print(health_table(report))
    assert "80% 4/5 ok" in console.export_text()


def test_a_side_that_cannot_be_read_shows_its_error(svc, stub):
    stub.token = "rotated"
    report = health("sales", services=svc)
    assert all("UNAUTHENTICATED" in (f.legacy.error or "") for f in report.flows)
    text = generate_latest(registry_for(report)).decode()
    assert (
        'flowlib_migration_side_up{flow="products_snapshot",project="sales",side="legacy"} 0.0'
        in text
    )


def test_metrics_textfile_and_http(svc, stub, validated, clock, tmp_path):
    report = _report(svc, stub, validated, clock)
    text = generate_latest(registry_for(report)).decode()
    for line in (
        'flowlib_migration_phase{flow="products_snapshot",phase="cutover",project="sales"} 1.0',
        'flowlib_migration_phase{flow="products_snapshot",phase="shadow",project="sales"} 0.0',
        'flowlib_migration_validation_passed{flow="products_snapshot",project="sales"} 1.0',
        'flowlib_migration_runs{flow="products_snapshot",outcome="failed",project="sales",'
        'side="legacy"} 1.0',
        'flowlib_migration_run_success_ratio{flow="products_snapshot",project="sales",'
        'side="new"} 1.0',
        'flowlib_migration_run_duration_seconds{flow="products_snapshot",project="sales",'
        'side="legacy",stat="mean"} 120.0',
        "flowlib_migration_window_days 7.0",
    ):
        assert line in text, line
    path = write_textfile(tmp_path / "textfile" / "flowlib_migration.prom", report)
    assert path.read_text() == text
    calls = []

    def compute() -> HealthReport:
        calls.append(1)
        return report

    server, _thread = serve(0, compute, addr="127.0.0.1", refresh_seconds=3600)
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/metrics"
        for _ in range(2):
            body = httpx.get(url, timeout=10).text
        assert "flowlib_migration_phase" in body and len(calls) == 1  # cached between scrapes
    finally:
        server.shutdown()
        server.server_close()


def test_the_grafana_dashboard_uses_only_exported_metrics(svc, stub, validated, clock):
    import json
    import re

    from devtools.services import REPO_ROOT

    dashboard = json.loads((REPO_ROOT / "infra/grafana/migration-dashboard.json").read_text())
    used = set(re.findall(r"flowlib_migration_\w+", json.dumps(dashboard)))
    exported = generate_latest(registry_for(_report(svc, stub, validated, clock))).decode()
    assert used and all(f"\n{name}" in exported or exported.startswith(name) for name in used)
