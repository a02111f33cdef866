"""The corpus: 36 Prefect 1 files laid out like real repositories, converted as one run."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from flowctl.convert import convert_paths
from flowctl.convert.plan import plan_changes
from flowlib.migration.manifest import parse_manifest

from .conftest import CORPUS, import_all, prefect1_leftovers, ruff_problems


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    conversion = convert_paths([CORPUS / "acme_etl", CORPUS / "analytics"], project="acme")
    root = tmp_path_factory.mktemp("corpus-out")
    plan = plan_changes(conversion, root)
    plan.write(root)
    return conversion, plan, root


def _module(conversion, rel):
    return next(m for m in conversion.modules if m.rel == rel)


def test_the_corpus_is_big_and_varied_enough():
    files = list(CORPUS.rglob("*.py"))
    assert len(files) >= 30
    text = "\n".join(f.read_text() for f in files)
    for construct in (
        "class AcmeFlow(Flow)",
        "ShellTask(",
        "StartFlowRun(",
        "create_flow_run(",
        "class Multiply(Task)",
        "with case(",
        "state_handlers=",
        "KubernetesRun(",
        "DockerRun(",
        "GitHub(",
        "S3(",
        "GCS(",
        "Azure(",
        "Local(",
        "LocalDaskExecutor(",
        "DaskExecutor(",
        "PrefectSecret(",
        "Secret(",
        "from acme_etl.common.schedules import",
    ):
        assert construct in text, construct


def test_an_unparsable_file_is_reported_and_skipped(converted):
    conversion, _plan, root = converted
    broken = _module(conversion, "flows/broken.py")
    assert broken.code is None and "cannot parse" in (broken.error or "")
    assert not (root / broken.path_out).exists()
    assert len([m for m in conversion.modules if m.code is not None]) == len(conversion.modules) - 1


def test_every_converted_module_is_ruff_clean_and_free_of_prefect1_outside_flags(converted):
    conversion, _plan, root = converted
    assert ruff_problems(root / "flows") == ""
    leftovers = {
        m.path_out: prefect1_leftovers(m.code) for m in conversion.modules if m.code is not None
    }
    assert {k: v for k, v in leftovers.items() if v} == {}


def test_every_converted_module_imports_in_the_prefect2_venv(converted):
    conversion, _plan, root = converted
    modules = [m.module_out for m in conversion.modules if m.code is not None]
    proc = import_all(root, modules)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_every_flag_is_a_todo_at_its_line_with_a_pointer(converted):
    conversion, _plan, root = converted
    assert len(conversion.flags) >= 30
    for flag in conversion.flags:
        line = (root / flag.file).read_text().splitlines()[flag.line - 1]
        assert line.strip().startswith("# TODO(flowctl convert):"), flag
        assert (
            "MIGRATION.md" in flag.action
            or "docs.prefect.io" in flag.action
            or "README" in flag.action
        )


def test_names_resolve_across_files(converted):
    conversion, _plan, _root = converted
    flows = {i.legacy_name: i for m in conversion.modules for i in m.flows}
    # schedule from acme_etl/common/schedules.py, run config and storage from common/config.py
    orders = flows["orders-daily"]
    assert [(c.cron, c.timezone) for c in orders.clocks] == [("30 1 * * *", "Europe/Berlin")]
    assert orders.run_config["image"] == "registry.acme.example/etl:2024.05"
    assert orders.labels == ["k8s", "etl"]
    assert orders.storage == {
        "type": "GitHub",
        "repo": "acme/etl-flows",
        "path": "acme_etl/flows/orders_daily.py",
        "ref": "main",
    }
    # the custom Flow subclass from common/flows.py is recognised as a flow
    assert flows["customers-sync"].clocks[0].interval_seconds == 900
    customers = _module(conversion, "flows/customers_sync.py")
    assert any("custom Flow class AcmeFlow" in f.construct for f in customers.flags)
    # imports of moved modules follow them
    assert "from flows.acme.common.helpers import chunk" in customers.code
    # flow-of-flows targets the converted deployment of the flow in another file
    parent = _module(conversion, "flows/parent_pipeline.py").code
    assert 'run_deployment(name="orders-daily/orders-daily"' in parent
    assert 'name="report-email/report-email", parameters=parameters or {}' in parent


def test_flows_get_the_house_shape(converted):
    conversion, _plan, _root = converted
    for module in conversion.modules:
        for info in module.flows:
            code = module.code
            assert f"def {info.function}(" in code
            assert "target_env: TargetEnv | None = None" in code and "sample: bool" in code
            assert "on_failure=" in code and "on_crashed=FAILURE_HOOKS" in code
        if module.flows:
            first = module.flows[0].function
            assert (
                f"raise SystemExit(run_cli({first}))" in module.code
                or "return_state=True" in module.code
            )


def test_deployments_and_migration_entries(converted):
    _conversion, _plan, root = converted
    doc = yaml.safe_load((root / "deployments/acme/prefect.yaml").read_text())
    deps = {d["name"]: d for d in doc["deployments"]}
    # two clocks with different parameter defaults: one deployment per clock
    assert deps["multi-clock-1"]["parameters"]["region"] == "eu"
    assert deps["multi-clock-2"]["parameters"]["region"] == "us"
    assert deps["multi-clock-2"]["schedules"][0]["timezone"] == "America/New_York"
    orders = deps["orders-daily"]
    assert orders["work_pool"]["job_variables"] == {
        "image": "registry.acme.example/etl:2024.05",
        "env": {"LOG_LEVEL": "INFO"},
        "cpu_request": "500m",
        "memory_request": "1Gi",
    }
    assert orders["tags"] == ["project:acme", "k8s", "etl", "phase:shadow"]
    assert orders["pull"] == [
        {
            "prefect.deployments.steps.git_clone": {
                "repository": "https://github.com/acme/etl-flows.git",
                "branch": "main",
            }
        }
    ]
    assert orders["parameters"] == {"target_env": "dev", "pages": 5}
    assert orders["schedules"][0]["timezone"] == "Europe/Berlin"
    assert orders["schedules"][0]["cron"] != "30 1 * * *"  # staggered off the legacy slot
    assert deps["shell-backup"]["work_pool"]["job_variables"]["image"] == "acme/backup:1.2"
    assert "prefect_aws.deployments.steps.pull_from_s3" in deps["dask-cluster"]["pull"][0]
    assert "prefect_gcp.deployments.steps.pull_from_gcs" in deps["gcs-export"]["pull"][0]
    assert deps["interval-flow"]["schedules"][0]["interval"] == 420
    assert deps["hourly-sync"]["schedules"][0]["cron"].endswith(" * * * *")
    for dep in doc["deployments"]:
        path, _, function = dep["entrypoint"].partition(":")
        assert (root / path).exists() and f"def {function}(" in (root / path).read_text()
    manifest = yaml.safe_load((root / "migration/acme.yaml").read_text())
    plans = parse_manifest(manifest, Path("acme.yaml"))
    assert {p.legacy.name for p in plans} >= {"orders-daily", "customers-sync", "multi-clock"}
    orders_plan = next(p for p in plans if p.legacy.name == "orders-daily")
    assert orders_plan.legacy.slot == {"cron": "30 1 * * *", "timezone": "Europe/Berlin"}
    assert orders_plan.recovery["pages"].param == "pages"


def test_test_skeletons_pass(converted):
    conversion, _plan, root = converted
    tests = sorted((root / "tests").rglob("test_*.py"))
    assert len(tests) == len([m for m in conversion.modules if m.flows])
    import subprocess
    import sys

    from .conftest import REPO_ROOT

    picked = [str(t) for t in tests if "orders_daily" in t.name or "task_classes" in t.name]
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(root),
            *picked,
        ],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={"PYTHONPATH": f"{root}:{REPO_ROOT}", "PATH": "/usr/bin:/bin", "HOME": str(root)},
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "2 passed" in proc.stdout
