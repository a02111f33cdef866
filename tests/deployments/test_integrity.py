"""Integrity of deployments/, with no server: the prefect.yaml files against the flow modules.

Every entrypoint imports; every parameter exists in the flow's signature and validates against it;
every flow module has exactly one deployment; every schedule states ``active:``; and the
conventions of the issue (tags, pull step, pool, job variables, env check) hold for each one.
"""

from __future__ import annotations

import os
import subprocess
from collections import Counter
from pathlib import Path

import pytest
from prefect.flows import Flow, load_flow_from_entrypoint

from devtools.services import REPO_ROOT
from flowctl.deployments.envfile import ENVIRONMENTS, env_file_path, load_env_file
from flowctl.deployments.prefect_yaml import (
    PHASES,
    deployments,
    env_check_vars,
    load_prefect_yaml,
    project_files,
    required_vars,
)
from flowctl.deployments.schedules import load_legacy
from flowlib.catalog import flow_modules, projects
from flowlib.migration.manifest import Manifests

ALL = deployments()
IDS = [f"{d.project}/{d.name}" for d in ALL]
CODE_DIR = "/opt/flowlib"


@pytest.fixture(scope="module")
def catalog():
    return {(m.project, m.name): m.module for m in flow_modules()}


@pytest.fixture(scope="module")
def loaded():
    """Each entrypoint loaded the way `prefect deploy` loads it, from the repository root."""
    cwd = Path.cwd()
    os.chdir(REPO_ROOT)  # entrypoints are relative to the directory prefect deploy runs in
    try:
        return {d.entrypoint: load_flow_from_entrypoint(d.entrypoint) for d in ALL}
    finally:
        os.chdir(cwd)


def test_every_project_has_a_prefect_file():
    assert sorted(project_files()) == projects()


def test_every_flow_module_has_exactly_one_deployment(catalog):
    counts = Counter((d.project, d.module_name) for d in ALL)
    assert {key: n for key, n in counts.items() if n != 1} == {}
    assert set(counts) == set(catalog), "a flow module without deployment, or the reverse"


@pytest.mark.parametrize("dep", ALL, ids=IDS)
def test_entrypoint_imports_the_module_flow(dep, catalog, loaded):
    path, _, function = dep.entrypoint.partition(":")
    assert path == f"flows/{dep.project}/{dep.module_name}.py"
    flow = loaded[dep.entrypoint]
    assert isinstance(flow, Flow), f"{dep.where}: {dep.entrypoint} is not a @flow"
    module_flow = getattr(catalog[(dep.project, dep.module_name)], function)
    assert isinstance(module_flow, Flow) and module_flow.name == flow.name
    # deployment name = module name with dashes; flow name = <project>-<deployment name>
    assert dep.name == dep.module_name.replace("_", "-")
    assert flow.name == f"{dep.project}-{dep.name}"


@pytest.mark.parametrize("dep", ALL, ids=IDS)
def test_parameters_exist_in_the_signature_and_validate(dep, loaded):
    flow = loaded[dep.entrypoint]
    migrating = {p.deployment for p in Manifests.load().plans}
    if f"{flow.name}/{dep.name}" in migrating:  # the phase record decides, never the file
        assert "target_env" not in dep.parameters, f"{dep.where}: remove target_env"
    elif "target_env" in flow.parameters.properties:
        assert "target_env" in dep.parameters, "each deployment states its target lake"
    assert set(dep.parameters) <= set(flow.parameters.properties), dep.where
    flow.validate_parameters(dep.parameters)  # raises ParameterTypeError with the field
    assert dep.raw.get("enforce_parameter_schema") is True


@pytest.mark.parametrize("dep", ALL, ids=IDS)
def test_every_schedule_states_active_cron_and_timezone(dep):
    assert dep.schedules, f"{dep.where}: no schedule"
    for schedule in dep.schedules:
        assert isinstance(schedule.active, bool), f"{dep.where}: write active: true|false"
        assert schedule.cron and schedule.timezone, f"{dep.where}: cron and timezone"
        assert set(schedule.raw) == {"cron", "timezone", "active"}, "Prefect 2 and 3 keys only"


@pytest.mark.parametrize("dep", ALL, ids=IDS)
def test_tags_name_project_source_and_phase(dep, catalog):
    """project:<p> always; source:<api> and phase:<phase> for the flows that read an API."""
    assert dep.tag_value("project") == dep.project
    dataset = getattr(catalog[(dep.project, dep.module_name)], "DATASET", None)
    legacy = load_legacy().get((dep.project, dep.module_name))
    if dataset is not None:
        assert dep.source_api == dataset.source
    if legacy is not None:
        assert dep.source_api == legacy.source
        assert dep.phase in PHASES
    assert dep.raw.get("description", "").strip()


@pytest.mark.parametrize("dep", ALL, ids=IDS)
def test_pool_queue_job_variables_and_pull_step(dep):
    pool = dep.work_pool
    assert pool["name"] == "{{ $FLOWLIB_WORK_POOL }}"
    assert pool["work_queue_name"] == dep.project
    variables = dep.job_variables
    assert variables["image"] == "{{ $FLOWLIB_IMAGE }}"
    assert variables["namespace"] == "{{ $FLOWLIB_NAMESPACE }}"
    assert {"cpu_request", "cpu_limit", "memory_request", "memory_limit", "env"} <= set(variables)
    assert variables["env"]["LAKE_DEV_ROOT"] == "{{ $LAKE_DEV_ROOT }}"
    assert dep.raw["pull"] == [
        {
            "prefect.deployments.steps.set_working_directory": {
                "directory": "{{ $FLOWLIB_CODE_DIR }}"
            }
        }
    ]


@pytest.mark.parametrize("project", sorted(project_files()))
def test_the_build_step_checks_every_variable_the_file_uses(project):
    """The check-env list is kept in step with the file's {{ $VARS }} by this test."""
    path = project_files()[project]
    doc = load_prefect_yaml(path)
    listed = env_check_vars(doc)
    assert listed is not None, f"{path}: no build step running deployments/check-env.sh"
    assert sorted(listed) == sorted(required_vars(doc)), (
        f"{path}: set the build step's list to {' '.join(sorted(required_vars(doc)))}"
    )
    assert "push" not in doc and "pull" not in doc  # pulls are explicit per deployment


@pytest.mark.parametrize("env_name", ENVIRONMENTS)
def test_every_env_file_sets_every_variable_of_every_project(env_name):
    values = load_env_file(env_file_path(env_name), base={}, cwd=REPO_ROOT)
    needed = set().union(*(required_vars(p) for p in project_files().values()))
    assert sorted(v for v in needed if not values.get(v)) == []
    expected_dir = str(REPO_ROOT) if env_name == "local" else CODE_DIR
    assert values["FLOWLIB_CODE_DIR"] == expected_dir
    assert values["FLOWLIB_WORK_POOL_TYPE"] == ("process" if env_name == "local" else "kubernetes")
    secrets = ("TOKEN", "KEY", "CONNECTION_STRING", "PASSWORD", "SECRET")
    assert [k for k in values if k.endswith(secrets)] == [], "secrets never live in env files"


def run_check_env(args, env):
    return subprocess.run(
        ["sh", "deployments/check-env.sh", *args],
        cwd=REPO_ROOT,
        env={"PATH": os.environ["PATH"], **env},
        capture_output=True,
        text=True,
        check=False,
    )


def test_check_env_script_fails_on_unset_and_empty_variables():
    result = run_check_env(["A", "B", "C"], {"A": "1", "B": ""})
    assert result.returncode == 1
    assert "check-env: unset or empty: B C" in result.stderr
    assert "make deploy ENV=<local|dev|prod>" in result.stderr
    ok = run_check_env(["A"], {"A": "1"})
    assert ok.returncode == 0, ok.stderr


def test_no_secret_placeholder_in_any_prefect_file():
    for path in project_files().values():
        names = required_vars(path)
        assert not [n for n in names if "TOKEN" in n or "KEY" in n or "CONNECTION" in n], path


def test_the_committed_picture_shows_the_committed_schedules(tmp_path):
    from flowctl.deployments.picture import render_schedule_picture

    committed = REPO_ROOT / "deployments" / "schedule.svg"
    fresh = render_schedule_picture(tmp_path / "schedule.svg")
    assert committed.is_file() and committed.read_text() == fresh.read_text(), (
        "deployments/schedule.svg is stale: run `make schedule-picture`"
    )
