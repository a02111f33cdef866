"""Every project file registered on a real Prefect server through the real CLI, checked through the
API; and an unset variable fails the deploy before anything is registered."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from devtools.fakes import reset_migration_state
from flowctl.deployments import (
    KUBERNETES_TEMPLATE,
    DeployError,
    deploy_project,
    deployments,
    ensure_work_pool,
    load_environment,
    project_files,
    required_vars,
    resolve_env_placeholders,
)
from flowctl.deployments.jobs import load_base_job_template

pytestmark = pytest.mark.integration

K8S_POOL = "flowlib-k8s-registration-test"
UNSET_POOL = "flowlib-unset-variable-test"


def api(call):
    """Run one async client call against the session server."""
    from prefect.client.orchestration import get_client

    async def run() -> Any:
        async with get_client() as client:
            return await call(client)

    return asyncio.run(run())


def deployments_in_pool(pool: str) -> list[Any]:
    from prefect.client.schemas.filters import WorkPoolFilter, WorkPoolFilterName

    pool_filter = WorkPoolFilter(name=WorkPoolFilterName(any_=[pool]))
    return api(lambda c: c.read_deployments(work_pool_filter=pool_filter))


@pytest.fixture(scope="module")
def registered(prefect_api) -> dict[str, str]:
    """The Kubernetes pool from infra/, then `prefect deploy --all` of every project (dev.env)."""
    reset_migration_state()  # no phase record left by another file's test on this server
    ensure_work_pool(K8S_POOL, "kubernetes", KUBERNETES_TEMPLATE, server_env=prefect_api.env())
    values = {**load_environment("dev"), "FLOWLIB_WORK_POOL": K8S_POOL}
    for project in project_files():
        deploy_project(project, values, server_env=prefect_api.env())
    return values


def test_the_pool_holds_the_repository_template(registered):
    pool = api(lambda c: c.read_work_pool(K8S_POOL))
    assert pool.type == "kubernetes"
    assert pool.base_job_template == load_base_job_template()


@pytest.mark.parametrize("dep", deployments(), ids=lambda d: f"{d.project}/{d.name}")
def test_every_flow_has_its_deployment_as_written(registered, dep):
    full_name = f"{dep.project}-{dep.name}/{dep.name}"
    found = api(lambda c: c.read_deployment_by_name(full_name))

    assert found.entrypoint == dep.entrypoint
    assert found.parameters == dep.parameters
    assert sorted(found.tags) == sorted(dep.tags)
    assert found.description == " ".join(dep.raw["description"].split())
    assert found.enforce_parameter_schema is True
    assert found.work_pool_name == K8S_POOL
    assert found.work_queue_name == dep.project
    expected = resolve_env_placeholders(dep.job_variables, registered, dep.where)
    assert found.job_variables == expected
    assert found.job_variables["image"] == registered["FLOWLIB_IMAGE"]
    assert found.pull_steps == [
        {"prefect.deployments.steps.set_working_directory": {"directory": "/opt/flowlib"}}
    ]
    written = [(s.cron, s.timezone, s.active) for s in dep.schedules]
    assert [(s.schedule.cron, s.schedule.timezone, s.active) for s in found.schedules] == written


def test_nothing_else_was_registered_in_the_pool(registered):
    names = sorted(d.name for d in deployments_in_pool(K8S_POOL))
    assert names == sorted(d.name for d in deployments())


def test_unset_or_empty_variables_fail_the_real_cli_before_anything_is_registered(prefect_api):
    """What `prefect deploy` does by itself, without flowlib's pre-check (check=False)."""
    from prefect.client.schemas.actions import WorkPoolCreate

    # the pool exists (through the API: quicker than the CLI, which the other tests cover)
    api(lambda c: c.create_work_pool(WorkPoolCreate(name=UNSET_POOL, type="process")))
    needed = required_vars(project_files()["sales"])
    server_env = {k: v for k, v in prefect_api.env().items() if k not in needed}
    values = {**load_environment("local"), "FLOWLIB_WORK_POOL": UNSET_POOL, "FLOWLIB_NAMESPACE": ""}
    del values["FLOWLIB_IMAGE"]

    with pytest.raises(DeployError) as info:
        deploy_project("sales", values, server_env=server_env, check=False)

    assert "check-env: unset or empty: FLOWLIB_IMAGE FLOWLIB_NAMESPACE" in str(info.value)
    assert deployments_in_pool(UNSET_POOL) == []


def test_an_unset_work_pool_variable_fails_the_real_cli(prefect_api):
    values = load_environment("local")
    del values["FLOWLIB_WORK_POOL"]
    server_env = {k: v for k, v in prefect_api.env().items() if k != "FLOWLIB_WORK_POOL"}
    with pytest.raises(DeployError, match=r"work pool '\{\{ \$FLOWLIB_WORK_POOL \}\}'"):
        deploy_project("finance", values, server_env=server_env, check=False)
