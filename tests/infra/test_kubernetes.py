"""The base job template and the worker manifests, rendered like the worker does, validated
against the Kubernetes schema (kubernetes-validate). No cluster."""

from __future__ import annotations

import json
import re

import pytest

from devtools.services import REPO_ROOT
from flowctl.deployments import jobs
from flowctl.deployments.envfile import load_env_file
from flowctl.deployments.prefect_cli import load_environment
from flowctl.deployments.prefect_yaml import deployments, resolve_env_placeholders

CLUSTER_ENVS = ("dev", "prod")
DEPLOYMENTS = [(d.project, d.name) for d in deployments()]


@pytest.fixture(scope="module")
def template():
    return jobs.load_base_job_template()


def job_variables(project, name, env_name):
    dep = next(d for d in deployments(project) if d.name == name)
    return resolve_env_placeholders(dep.job_variables, load_environment(env_name), dep.where)


def deployment_pool(project, name, env_name):
    """The infrastructure pool the deployment's work_pool.name names in that environment."""
    dep = next(d for d in deployments(project) if d.name == name)
    env = load_environment(env_name)
    pool_name = resolve_env_placeholders(dep.work_pool, env, dep.where)["name"]
    return jobs.pool_for(env, pool_name, dep.where)


def pool_template(pool, env_name):
    return jobs.pool_job_template(pool, load_environment(env_name)["FLOWLIB_IMAGE"])


@pytest.mark.parametrize("env_name", CLUSTER_ENVS)
@pytest.mark.parametrize(("project", "name"), DEPLOYMENTS)
def test_every_deployment_renders_a_valid_job(project, name, env_name):
    values = job_variables(project, name, env_name)
    pool = deployment_pool(project, name, env_name)
    template = pool_template(pool, env_name)
    assert jobs.unused_job_variables(template, values) == set()
    jobs.validate_job_variables(template, values)
    manifest = jobs.render_job_manifest(values, template, deployment_name=name)
    jobs.validate_manifest(manifest)

    env = load_environment(env_name)
    assert manifest["metadata"]["namespace"] == env["FLOWLIB_NAMESPACE"] == pool.namespace
    assert manifest["spec"]["backoffLimit"] == 0
    assert manifest["spec"]["ttlSecondsAfterFinished"] == 86400
    pod = manifest["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001
    (container,) = pod["containers"]
    assert container["image"] == env["FLOWLIB_IMAGE"]
    assert container["resources"] == {
        "requests": {"cpu": values["cpu_request"], "memory": values["memory_request"]},
        "limits": {"cpu": values["cpu_limit"], "memory": values["memory_limit"]},
    }
    assert container["envFrom"] == [{"secretRef": {"name": pool.secret_name}}]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    rendered_env = {e["name"]: e["value"] for e in container["env"]}
    assert {k: rendered_env[k] for k in values["env"]} == values["env"]
    assert rendered_env["FLOWLIB_INFRA_ENV"] == pool.infra
    assert rendered_env["PREFECT_HOME"].startswith("/tmp")  # the only writable path
    secrets = ("TOKEN", "CONNECTION_STRING", "ACCOUNT_KEY")
    assert not [k for k in rendered_env if k.endswith(secrets)], "secrets come from the secret"


def test_the_template_extends_prefect_kubernetes_default(template):
    from prefect_kubernetes.worker import KubernetesWorker

    default = KubernetesWorker.get_default_base_job_template()
    assert set(default["variables"]["properties"]) <= set(template["variables"]["properties"])
    declared = set(template["variables"]["properties"])
    # cpu/memory are variables of prefect-kubernetes >= 0.5's default too; 0.4.x lacks them
    assert declared >= {"cpu_request", "cpu_limit", "memory_request", "memory_limit", "secret_name"}
    # every declared variable is used by the job configuration, and the reverse
    assert jobs.template_placeholders(template) == set(template["variables"]["properties"])


def test_a_variable_the_template_does_not_use_is_reported(template):
    assert jobs.unused_job_variables(template, {"image": "x", "gpu": "1"}) == {"gpu"}


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"image": ""}, "image: '' should be non-empty"),
        ({"env": {"LAKE_DEV_ROOT": ""}}, "env/LAKE_DEV_ROOT: '' should be non-empty"),
        ({"namespace": ""}, "namespace: '' does not match"),
        ({"memory_limit": "lots"}, "memory_limit: 'lots' does not match"),
    ],
)
def test_empty_or_malformed_values_fail_the_schema_the_server_applies(template, override, message):
    values = {**job_variables("sales", "products-snapshot", "dev"), **override}
    with pytest.raises(jobs.ManifestError, match=message):
        jobs.validate_job_variables(template, values)


def test_validation_catches_what_the_schema_forbids(template):
    """The check bites: prefect-kubernetes 0.4's default puts Job fields into the pod spec."""
    from prefect_kubernetes.worker import KubernetesWorker

    default = KubernetesWorker.get_default_base_job_template()
    manifest = jobs.render_job_manifest({"image": "x"}, default)
    with pytest.raises(jobs.ManifestError, match="parallelism"):
        jobs.validate_manifest(manifest)


KINDS = ["Namespace", "ServiceAccount", "ServiceAccount", "Role", "RoleBinding"]
KINDS += ["ClusterRole", "ClusterRoleBinding", "Deployment"]


@pytest.mark.parametrize("env_name", CLUSTER_ENVS)
def test_worker_manifests_render_both_infrastructures_and_validate(env_name):
    env = load_environment(env_name)
    documents = jobs.render_infra_worker_manifests(env)
    for doc in documents:
        jobs.validate_manifest(doc)
    pools = jobs.infra_pools(env)
    assert [p.infra for p in pools] == ["dev", "prod"]
    assert len({p.namespace for p in pools}) == len({p.secret_name for p in pools}) == 2
    for pool in pools:
        mine = [d for d in documents if d["metadata"].get("namespace", "") == pool.namespace]
        mine += [
            d
            for d in documents
            if d["kind"] == "Namespace" and d["metadata"]["name"] == pool.namespace
        ]
        mine += [d for d in documents if d["metadata"]["name"].endswith(f"-{pool.namespace}")]
        assert sorted(d["kind"] for d in mine) == sorted(KINDS), pool
        (worker,) = [d for d in mine if d["kind"] == "Deployment"]
        assert worker["metadata"]["labels"]["flowlib.io/infra-env"] == pool.infra
        assert worker["metadata"]["annotations"]["flowlib.io/runtime-secret"] == pool.secret_name
        (container,) = worker["spec"]["template"]["spec"]["containers"]
        assert container["image"] == env["FLOWLIB_IMAGE"]
        assert container["args"][:4] == ["worker", "start", "--pool", pool.name]
        assert {"name": "FLOWLIB_INFRA_ENV", "value": pool.infra} in container["env"]
        assert worker["spec"]["template"]["spec"]["securityContext"]["runAsUser"] == 10001
        # the flow-run service account the template names exists in this namespace
        accounts = {d["metadata"]["name"] for d in mine if d["kind"] == "ServiceAccount"}
        template = pool_template(pool, env_name)
        assert template["variables"]["properties"]["service_account_name"]["default"] in accounts
        # the ClusterRoleBinding binds this namespace's worker only
        (binding,) = [d for d in mine if d["kind"] == "ClusterRoleBinding"]
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": "prefect-worker", "namespace": pool.namespace}
        ]
    assert len(documents) == 2 * len(KINDS)


@pytest.mark.parametrize("env_name", CLUSTER_ENVS)
def test_each_secret_example_holds_only_its_own_lake_and_matches_its_pool(env_name):
    env = load_environment(env_name)
    for pool in jobs.infra_pools(env):
        (secret,) = jobs.render_worker_manifests(
            env, files=[jobs.WORKER_MANIFESTS / f"runtime-secret-{pool.infra}.example.yaml"]
        )
        jobs.validate_manifest(secret)
        properties = pool_template(pool, env_name)["variables"]["properties"]
        assert (
            secret["metadata"]["name"] == pool.secret_name == properties["secret_name"]["default"]
        )
        assert (
            secret["metadata"]["namespace"] == pool.namespace == properties["namespace"]["default"]
        )
        lake_keys = {k for k in secret["stringData"] if k.startswith("LAKE_")}
        assert lake_keys == {f"LAKE_{pool.infra.upper()}_CONNECTION_STRING"}
    assert not (jobs.WORKER_MANIFESTS / "runtime-secret.example.yaml").exists()


@pytest.mark.parametrize("env_name", CLUSTER_ENVS)
def test_each_pool_template_pins_its_infrastructure(env_name):
    """A deployment cannot point a pool's jobs at the other infrastructure's namespace or secret."""
    env = load_environment(env_name)
    dev, prod = jobs.infra_pools(env)
    for pool, other in ((dev, prod), (prod, dev)):
        template = pool_template(pool, env_name)
        base = job_variables("sales", "products-snapshot", env_name)
        values = {**base, "namespace": pool.namespace}
        jobs.validate_job_variables(template, values)
        manifest = jobs.render_job_manifest(values, template)
        jobs.validate_manifest(manifest)
        (container,) = manifest["spec"]["template"]["spec"]["containers"]
        assert {"name": "FLOWLIB_INFRA_ENV", "value": pool.infra} in container["env"]
        assert container["envFrom"] == [{"secretRef": {"name": pool.secret_name}}]
        for override in (
            {"namespace": other.namespace},
            {"secret_name": other.secret_name},
            {"infra_env": other.infra},
            {"env": {**values["env"], "FLOWLIB_INFRA_ENV": other.infra}},
        ):
            with pytest.raises(jobs.ManifestError):
                jobs.validate_job_variables(template, {**values, **override})


def test_the_raw_template_defaults_to_dev_infrastructure(template):
    """Applied without `make work-pools`, a pool is dev infrastructure: it refuses prod writes."""
    manifest = jobs.render_job_manifest({"image": "x"}, template)
    (container,) = manifest["spec"]["template"]["spec"]["containers"]
    assert {"name": "FLOWLIB_INFRA_ENV", "value": "dev"} in container["env"]
    assert container["envFrom"] == [{"secretRef": {"name": "flowlib-runtime-dev"}}]


@pytest.mark.parametrize(
    ("image", "immutable"),
    [
        ("flowlibacr.azurecr.io/flowlib:0.1.0", True),
        ("localhost/flowlib:0.1.0-prefect3", True),
        ("registry:5000/flowlib@sha256:" + "a" * 64, True),
        ("flowlibacr.azurecr.io/flowlib:0.1", False),
        ("registry:5000/flowlib:latest", False),
        ("registry:5000/flowlib", False),
        ("registry:5000/flowlib@sha256:abc", False),
    ],
)
def test_immutable_image_references(image, immutable):
    assert jobs.is_immutable_image(image) is immutable
    assert jobs.pull_policy(image) == ("IfNotPresent" if immutable else "Always")


def test_prod_env_names_an_immutable_image_and_deploy_refuses_a_moving_one():
    image = load_environment("prod")["FLOWLIB_IMAGE"]
    assert re.search(r"(:\d+\.\d+\.\d+|@sha256:[0-9a-f]{64})$", image), image
    jobs.check_image("prod", image)
    with pytest.raises(jobs.ManifestError, match=r"FLOWLIB_IMAGE='r/flowlib:0.1' is a moving"):
        jobs.check_image("prod", "r/flowlib:0.1")
    jobs.check_image("dev", "r/flowlib:0.1")  # the moving tag stays possible in dev and local


@pytest.mark.parametrize(("project", "name"), DEPLOYMENTS)
def test_prod_jobs_never_pull_a_moving_tag_always(project, name):
    """On either prod-environment pool: an immutable image, pulled IfNotPresent."""
    env = load_environment("prod")
    values = job_variables(project, name, "prod")
    for pool in jobs.infra_pools(env):
        template = pool_template(pool, "prod")
        manifest = jobs.render_job_manifest({**values, "namespace": pool.namespace}, template)
        (container,) = manifest["spec"]["template"]["spec"]["containers"]
        assert jobs.is_immutable_image(container["image"])
        assert container["imagePullPolicy"] == "IfNotPresent"
        assert not (
            container["imagePullPolicy"] == "Always"
            and not jobs.is_immutable_image(container["image"])
        )


def test_dev_jobs_pull_the_moving_tag_always():
    env = load_environment("dev")
    values = job_variables("sales", "products-snapshot", "dev")
    manifest = jobs.render_job_manifest(values, pool_template(jobs.infra_pools(env)[0], "dev"))
    (container,) = manifest["spec"]["template"]["spec"]["containers"]
    assert not jobs.is_immutable_image(container["image"])
    assert container["imagePullPolicy"] == "Always"


def test_worker_manifests_refuse_unset_variables():
    without_api = {**load_environment("dev"), "FLOWLIB_PREFECT_API_URL": ""}
    with pytest.raises(jobs.ManifestError, match="FLOWLIB_PREFECT_API_URL"):
        jobs.render_infra_worker_manifests(without_api)
    with pytest.raises(jobs.ManifestError, match="local.env: unset or empty.*SECRET_NAME_DEV"):
        jobs.infra_pools(load_env_file(REPO_ROOT / "deployments" / "local.env"), "local.env")
    values = {**load_environment("dev"), "FLOWLIB_SECRET_NAME_PROD": ""}
    with pytest.raises(jobs.ManifestError, match=r"dev.env: unset or empty.*SECRET_NAME_PROD"):
        jobs.infra_pools(values, "deployments/dev.env")
    values = {**load_environment("dev"), "FLOWLIB_SECRET_NAME_PROD": "flowlib-runtime-dev"}
    with pytest.raises(jobs.ManifestError, match="share their secret_name"):
        jobs.infra_pools(values, "deployments/dev.env")


def test_the_server_accepts_the_template_and_its_defaults(template):
    """What the Prefect server checks on `prefect work-pool create`, offline."""
    import jsonschema
    from prefect.server.schemas.actions import WorkPoolCreate

    WorkPoolCreate(name="flowlib-dev", type="kubernetes", base_job_template=template)
    properties = template["variables"]["properties"]
    defaults = {k: v["default"] for k, v in properties.items() if "default" in v}
    jsonschema.validate(defaults, {**template["variables"], "required": []})
    assert template["variables"]["required"] == ["image"]
    assert json.loads(jobs.BASE_JOB_TEMPLATE.read_text()) == template
