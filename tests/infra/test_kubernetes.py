"""The base job template and the worker manifests, rendered like the worker does, validated
against the Kubernetes schema (kubernetes-validate). No cluster."""

from __future__ import annotations

import json

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


@pytest.mark.parametrize("env_name", CLUSTER_ENVS)
@pytest.mark.parametrize(("project", "name"), DEPLOYMENTS)
def test_every_deployment_renders_a_valid_job(template, project, name, env_name):
    values = job_variables(project, name, env_name)
    assert jobs.unused_job_variables(template, values) == set()
    jobs.validate_job_variables(template, values)
    manifest = jobs.render_job_manifest(values, template, deployment_name=name)
    jobs.validate_manifest(manifest)

    env = load_environment(env_name)
    assert manifest["metadata"]["namespace"] == env["FLOWLIB_NAMESPACE"]
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
    assert container["envFrom"] == [{"secretRef": {"name": "flowlib-runtime"}}]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    rendered_env = {e["name"]: e["value"] for e in container["env"]}
    assert {k: rendered_env[k] for k in values["env"]} == values["env"]
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


@pytest.mark.parametrize("env_name", CLUSTER_ENVS)
def test_worker_manifests_render_and_validate(env_name):
    env = load_environment(env_name)
    documents = jobs.render_worker_manifests(env)
    kinds = sorted(d["kind"] for d in documents)
    assert kinds == sorted(
        [
            "Namespace",
            "ServiceAccount",
            "ServiceAccount",
            "Role",
            "RoleBinding",
            "ClusterRole",
            "ClusterRoleBinding",
            "Deployment",
        ]
    )
    for doc in documents:
        jobs.validate_manifest(doc)
    (worker,) = [d for d in documents if d["kind"] == "Deployment"]
    (container,) = worker["spec"]["template"]["spec"]["containers"]
    assert container["image"] == env["FLOWLIB_IMAGE"]
    assert container["args"][:4] == ["worker", "start", "--pool", env["FLOWLIB_WORK_POOL"]]
    assert worker["spec"]["template"]["spec"]["securityContext"]["runAsUser"] == 10001
    # the flow-run service account the template names exists
    accounts = {d["metadata"]["name"] for d in documents if d["kind"] == "ServiceAccount"}
    template = jobs.load_base_job_template()
    assert template["variables"]["properties"]["service_account_name"]["default"] in accounts


def test_the_secret_example_matches_the_template_and_validates():
    (secret,) = jobs.render_worker_manifests(
        {"FLOWLIB_NAMESPACE": "flowlib-dev"},
        files=[jobs.WORKER_MANIFESTS / "runtime-secret.example.yaml"],
    )
    jobs.validate_manifest(secret)
    properties = jobs.load_base_job_template()["variables"]["properties"]
    assert secret["metadata"]["name"] == properties["secret_name"]["default"]


def test_worker_manifests_refuse_unset_variables():
    with pytest.raises(jobs.ManifestError, match="FLOWLIB_PREFECT_API_URL"):
        jobs.render_worker_manifests(load_env_file(REPO_ROOT / "deployments" / "local.env"))


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
