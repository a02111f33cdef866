"""Each environment's two pools on a real Prefect server: dev and prod infrastructure, each pinned
to its own namespace, secret and FLOWLIB_INFRA_ENV, so no deployment crosses the line."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from devtools.fakes import reset_migration_state
from devtools.worker import worker_environment
from flowctl.deployments import DeployError, deploy_project, load_environment
from flowctl.deployments.jobs import infra_pools, render_job_manifest
from flowctl.deployments.prefect_cli import ensure_infra_work_pools

pytestmark = pytest.mark.integration


def api(call):
    """Run one async client call against the session server."""
    from prefect.client.orchestration import get_client

    async def run() -> Any:
        async with get_client() as client:
            return await call(client)

    return asyncio.run(run())


@pytest.fixture(scope="module")
def dev_values(prefect_api) -> dict[str, str]:
    """deployments/dev.env with this test's own pool names; both pools created as make does."""
    reset_migration_state()  # no phase record left by another file's test on this server
    values = {
        **load_environment("dev"),
        "FLOWLIB_WORK_POOL_DEV": "keys-test-k8s-dev",
        "FLOWLIB_WORK_POOL_PROD": "keys-test-k8s-prod",
    }
    values["FLOWLIB_WORK_POOL"] = values["FLOWLIB_WORK_POOL_DEV"]
    names = ensure_infra_work_pools(values, server_env=prefect_api.env())
    assert names == ["keys-test-k8s-dev", "keys-test-k8s-prod"]
    return values


def test_each_pool_on_the_server_is_pinned_to_its_infrastructure(dev_values):
    for pool in infra_pools(dev_values):
        stored = api(lambda c, name=pool.name: c.read_work_pool(name))
        properties = stored.base_job_template["variables"]["properties"]
        assert properties["infra_env"]["enum"] == [pool.infra]
        assert properties["namespace"]["enum"] == [pool.namespace]
        assert properties["secret_name"]["enum"] == [pool.secret_name]
        assert properties["image_pull_policy"]["default"] == "Always"  # dev.env: the moving tag
        manifest = render_job_manifest({"image": "x"}, stored.base_job_template)
        (container,) = manifest["spec"]["template"]["spec"]["containers"]
        assert {"name": "FLOWLIB_INFRA_ENV", "value": pool.infra} in container["env"]
        assert container["envFrom"] == [{"secretRef": {"name": pool.secret_name}}]


def test_the_server_refuses_a_deployment_pointing_the_prod_pool_at_dev_infrastructure(
    dev_values, prefect_api
):
    """`prefect deploy` onto the prod pool with the dev namespace (a stale value) is refused."""
    deploy_project("sales", dev_values, server_env=prefect_api.env())  # dev pool, dev namespace
    stale = {**dev_values, "FLOWLIB_WORK_POOL": dev_values["FLOWLIB_WORK_POOL_PROD"]}
    # the server's schema check (2.20: 422, 3.x: 409): the dev namespace is not the prod pool's
    with pytest.raises(DeployError, match=r"flowlib-dev\S* is not one of \S*flowlib-prod"):
        deploy_project("sales", stale, server_env=prefect_api.env())
    moved = {
        **stale,
        "FLOWLIB_NAMESPACE": dev_values["FLOWLIB_NAMESPACE_PROD"],
    }
    deploy_project("sales", moved, server_env=prefect_api.env())  # pool and namespace agree
    found = api(lambda c: c.read_deployment_by_name("sales-products-snapshot/products-snapshot"))
    assert found.work_pool_name == "keys-test-k8s-prod"
    assert found.job_variables["namespace"] == "flowlib-prod"


def test_local_env_creates_two_process_pools(prefect_api):
    values = {
        **load_environment("local"),
        "FLOWLIB_WORK_POOL_DEV": "keys-test-local-dev",
        "FLOWLIB_WORK_POOL_PROD": "keys-test-local-prod",
    }
    assert ensure_infra_work_pools(values, server_env=prefect_api.env()) == [
        "keys-test-local-dev",
        "keys-test-local-prod",
    ]
    for name in ("keys-test-local-dev", "keys-test-local-prod"):
        assert api(lambda c, n=name: c.read_work_pool(n)).type == "process"


def test_a_local_worker_holds_only_its_own_lake_keys():
    base = {
        "PATH": "/bin",
        "LAKE_DEV_CONNECTION_STRING": "dev-secret",
        "LAKE_PROD_CONNECTION_STRING": "prod-secret",
        "LAKE_PROD_ACCOUNT_KEY": "prod-key",
        "LAKE_DEV_CREDENTIALS_BLOCK": "dev-block",
    }
    values = load_environment("local")
    dev = worker_environment(base, values, "dev")
    assert dev["FLOWLIB_INFRA_ENV"] == "dev"
    assert dev["LAKE_DEV_CONNECTION_STRING"] == "dev-secret"
    assert dev["LAKE_DEV_CREDENTIALS_BLOCK"] == "dev-block"
    assert not [k for k in dev if k.startswith("LAKE_PROD_") and k != "LAKE_PROD_ROOT"]
    prod = worker_environment(base, values, "prod")
    assert prod["FLOWLIB_INFRA_ENV"] == "prod"
    assert prod["LAKE_PROD_ACCOUNT_KEY"] == "prod-key"
    assert not [k for k in prod if k.startswith("LAKE_DEV_") and k != "LAKE_DEV_ROOT"]


def test_cutover_and_rollback_move_the_namespace_with_the_pool(
    dev_values, prefect_api, monkeypatch
):
    """Kubernetes pools pin their namespace and secret: both move with the deployment.

    A cutover that moved only the pool would leave the dev namespace on the prod pool (refused
    by the server, or a prod job in the dev namespace); the rendered job says where it runs.
    """
    from devtools.fakes import reset_migration_state
    from devtools.prefect1_stub import Prefect1Stub
    from devtools.validation_reports import report_for
    from flowctl.migration import cutover, init_phases, record_validation, rollback

    deploy_project("sales", dev_values, server_env=prefect_api.env())  # dev pool, dev namespace
    dev, prod = infra_pools(dev_values)
    name = "sales-products-snapshot/products-snapshot"
    reset_migration_state()
    with Prefect1Stub() as stub:
        stub.add_flow("sales-products-snapshot", "sales", parameters=["as_of", "sample"])
        monkeypatch.setenv("PREFECT1_API_URL", stub.url)
        init_phases("sales", actor="test")
        record_validation("sales", "products_snapshot", report_for("sales/shop/products"))
        pools = {"dev": dev.name, "prod": prod.name}
        [done] = cutover("sales", "products_snapshot", actor="user:test", pools=pools)
        assert done.status == "done" and "reconcile" not in done.message, done.message
        found = api(lambda c: c.read_deployment_by_name(name))
        assert found.work_pool_name == prod.name
        assert found.job_variables["namespace"] == prod.namespace
        template = api(lambda c: c.read_work_pool(prod.name)).base_job_template
        manifest = render_job_manifest(found.job_variables, template)
        assert manifest["metadata"]["namespace"] == prod.namespace
        (container,) = manifest["spec"]["template"]["spec"]["containers"]
        assert container["envFrom"] == [{"secretRef": {"name": prod.secret_name}}]

        [back] = rollback("sales", "products_snapshot", actor="user:test")
        assert back.status == "done", back.message
        found = api(lambda c: c.read_deployment_by_name(name))
        assert found.work_pool_name == dev.name
        assert found.job_variables["namespace"] == dev.namespace
    reset_migration_state()
