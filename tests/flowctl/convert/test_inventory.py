"""``flowctl legacy inventory`` against the Prefect 1 API double, seeded with what Prefect 1.4.1
itself serialises for the legacy flows; then ``flowctl convert --inventory``."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime

import httpx
import pytest
import yaml
from typer.testing import CliRunner

from devtools.legacy import legacy_python as flowlib_legacy_python
from flowctl.cli import app

from .conftest import REPO_ROOT
from .inventory_double import InventoryStub, StubFlowGroup

LEGACY = {
    "sales-products-snapshot": ("sales", "legacy.sales.products_snapshot"),
    "sales-orders-incremental": ("sales", "legacy.sales.orders_incremental"),
    "finance-transactions-daily": ("finance", "legacy.finance.transactions_daily"),
    "finance-fx-rates": ("finance", "legacy.finance.fx_rates"),
}


@pytest.fixture(scope="module")
def serialized():
    """``flow.serialize()`` of each legacy flow, by Prefect 1.4.1 in .venv-legacy."""
    legacy_python = flowlib_legacy_python()  # fails (never skips) with the command to run
    code = (
        "import importlib, json, sys\n"
        "out = {}\n"
        "for name in sys.argv[1:]:\n"
        "    out[name] = importlib.import_module(name).flow.serialize()\n"
        "print(json.dumps(out, default=str))\n"
    )
    proc = subprocess.run(
        [str(legacy_python), "-c", code, *(m for _, m in LEGACY.values())],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={"PYTHONPATH": str(REPO_ROOT), "PATH": "/usr/bin:/bin", "HOME": str(REPO_ROOT)},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    data = json.loads(proc.stdout.strip().splitlines()[-1])
    return {name: data[module] for name, (_, module) in LEGACY.items()}


@pytest.fixture
def server(serialized):
    stub = InventoryStub(token="inv-token")
    zurich_7 = {
        "clocks": [
            {
                "type": "CronClock",
                "cron": "0 7 * * 1-5",
                "parameter_defaults": {},
                "start_date": {"dt": "2026-01-01T00:00:00", "tz": "Europe/Zurich"},
            }
        ],
    }
    for name, (project, _) in LEGACY.items():
        flow = serialized[name]
        group = StubFlowGroup(id=f"group-{name}", name=name)
        if name == "finance-transactions-daily":
            group.default_parameters = {"shards": 4}
        if name == "finance-fx-rates":
            group.schedule = zurich_7  # the group's schedule wins over the flow's
        if name == "sales-orders-incremental":
            group.labels = ["k8s", "prod"]
        run_config = None
        if name == "sales-orders-incremental":
            run_config = {
                "type": "KubernetesRun",
                "image": "legacy/orders:3",
                "cpu_request": "250m",
            }
        # an archived first version with an older schedule, then the live one
        stub.add_version(name, project, 1, group=group, schedule=None, archived=True)
        stub.add_version(
            name,
            project,
            2,
            group=group,
            schedule=flow["schedule"],
            parameters=flow["parameters"],
            run_config=run_config,
        )
    stub.add_run("sales-products-snapshot", "Success", datetime(2026, 11, 25, 2, tzinfo=UTC))
    stub.add_run("sales-products-snapshot", "Failed", datetime(2026, 11, 26, 2, tzinfo=UTC))
    with stub.start() as running:
        yield running


@pytest.mark.integration  # the double is seeded by Prefect 1.4.1 in .venv-legacy
def test_unknown_queries_fail_loudly(server):
    headers = {"Authorization": "Bearer inv-token"}
    body = {"query": "query { flow_schedule { id } }", "variables": "null"}
    answer = httpx.post(server.url, json=body, headers=headers, timeout=10).json()
    assert "errors" in answer and "flow_schedule" in answer["errors"][0]["message"]
    body = {"query": "query { flow_group { id no_such_column } }", "variables": "null"}
    answer = httpx.post(server.url, json=body, headers=headers, timeout=10).json()
    assert "errors" in answer and "no_such_column" in answer["errors"][0]["message"]


@pytest.mark.integration
def test_inventory_reads_the_server_and_convert_uses_it(server, tmp_path, monkeypatch):
    monkeypatch.setenv("PREFECT1_API_URL", server.url)
    monkeypatch.setenv("PREFECT1_API_TOKEN", "inv-token")
    target = tmp_path / "inventory.json"
    result = CliRunner().invoke(app, ["legacy", "inventory", "--output", str(target)])
    assert result.exit_code == 0, result.output
    data = json.loads(target.read_text())
    flows = {f["name"]: f for f in data["flows"]}
    assert set(flows) == set(LEGACY)
    orders = flows["sales-orders-incremental"]
    assert orders["project"] == "sales" and orders["version"] == 2 and orders["versions"] == [2, 1]
    assert orders["archived"] is False and orders["schedule_active"] is True
    assert orders["clocks"] == [
        {
            "anchor": "2026-01-01T00:05:00+00:00",
            "timezone": "UTC",
            "parameter_defaults": {},
            "kind": "interval",
            "interval_seconds": 3600.0,
        }
    ]
    assert orders["labels"] == ["k8s", "prod"]
    assert orders["run_config"]["image"] == "legacy/orders:3"
    assert set(orders["parameters"]) == {"window_start", "window_end", "sample"}
    assert flows["finance-fx-rates"]["clocks"][0]["cron"] == "0 7 * * 1-5"
    assert flows["finance-transactions-daily"]["default_parameters"] == {"shards": 4}
    assert flows["sales-products-snapshot"]["last_run"]["state"] == "Failed"
    assert any(c.field == "flow_run" for c in server.calls)

    out = tmp_path / "repo"
    converted = CliRunner().invoke(
        app,
        [
            "convert",
            str(REPO_ROOT / "legacy"),
            "--inventory",
            str(target),
            "--out",
            str(out),
            "--write",
        ],
    )
    assert converted.exit_code == 1, converted.output  # legacy/ has flagged constructs
    finance = yaml.safe_load((out / "deployments/finance/prefect.yaml").read_text())
    deps = {d["name"]: d for d in finance["deployments"]}
    fx = deps["fx-rates"]["schedules"][0]
    assert fx["cron"].split()[1:] == ["7", "*", "*", "1-5"] and fx["timezone"] == "Europe/Zurich"
    assert deps["transactions-daily"]["parameters"]["shards"] == 4
    sales = yaml.safe_load((out / "deployments/sales/prefect.yaml").read_text())
    orders_dep = next(d for d in sales["deployments"] if d["name"] == "orders-incremental")
    assert orders_dep["tags"] == ["project:sales", "k8s", "prod", "phase:shadow"]
    assert orders_dep["work_pool"]["job_variables"] == {
        "image": "legacy/orders:3",
        "cpu_request": "250m",
    }
    manifest = yaml.safe_load((out / "migration/finance.yaml").read_text())
    fx_entry = next(f for f in manifest["flows"] if f["flow"] == "fx_rates")
    assert fx_entry["legacy"]["slot"] == {"cron": "0 7 * * 1-5", "timezone": "Europe/Zurich"}


def test_inventory_without_an_api_url_says_what_to_set(tmp_path, monkeypatch):
    monkeypatch.delenv("PREFECT1_API_URL", raising=False)
    result = CliRunner().invoke(app, ["legacy", "inventory", "--output", str(tmp_path / "x.json")])
    assert result.exit_code == 2
    assert "PREFECT1_API_URL" in result.output
    assert not (tmp_path / "x.json").exists()


def test_convert_refuses_a_file_that_is_not_an_inventory(tmp_path):
    bogus = tmp_path / "inv.json"
    bogus.write_text('{"flows": []}')
    result = CliRunner().invoke(
        app, ["convert", str(REPO_ROOT / "legacy"), "--inventory", str(bogus)]
    )
    assert result.exit_code == 2 and "flowctl legacy inventory" in result.output
