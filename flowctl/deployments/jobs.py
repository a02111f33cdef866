"""Kubernetes: the base job template, job manifests as the worker renders them, worker manifests.

No cluster is needed.

``render_job_manifest`` runs prefect-kubernetes' own code path (``KubernetesWorkerJobConfiguration
.from_template_and_values`` then ``prepare_for_flow_run``), so what is validated here is what the
worker would submit; ``validate_manifest`` checks it against the Kubernetes OpenAPI schema with
``kubernetes-validate``.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from string import Template
from typing import Any

import yaml

from flowlib import REPO_ROOT

BASE_JOB_TEMPLATE = REPO_ROOT / "infra" / "work-pool" / "kubernetes-base-job-template.json"
WORKER_MANIFESTS = REPO_ROOT / "infra" / "k8s"
KUBERNETES_VERSION = "1.31.0"  # AKS's supported line at the time of writing


INFRA_ENVS = ("dev", "prod")
IMAGE_VAR = "FLOWLIB_IMAGE"
# an immutable image reference: a digest, or a full :<major>.<minor>.<patch> release tag (with an
# optional variant suffix such as -prefect3); :0.1 or :latest move
_IMMUTABLE_IMAGE = re.compile(
    r"(@sha256:[0-9a-f]{64}|:\d+\.\d+\.\d+(-[A-Za-z0-9][A-Za-z0-9._-]*)?)$"
)
IMMUTABLE_ENVS = ("prod",)
"""Prefect environments whose deployments must name an immutable image."""


class ManifestError(ValueError):
    """A template or manifest is invalid; the message names the file, deployment or field."""


@dataclass(frozen=True)
class InfraPool:
    """One infrastructure's work pool in a Prefect environment: only its own lake's keys."""

    infra: str  # dev | prod: becomes FLOWLIB_INFRA_ENV in its flow runs
    name: str  # FLOWLIB_WORK_POOL_<INFRA>
    namespace: str  # FLOWLIB_NAMESPACE_<INFRA>
    secret_name: str | None  # FLOWLIB_SECRET_NAME_<INFRA> (Kubernetes pools)


def infra_pools(
    values: Mapping[str, str], where: str = "the env file", *, kubernetes: bool = True
) -> list[InfraPool]:
    """The dev and prod pools of one Prefect environment's values (``deployments/<env>.env``).

    Raises:
        ManifestError: A variable is unset or empty (named, with the file), or both pools share
            a name, namespace or secret.
    """
    suffixes = ("WORK_POOL", "NAMESPACE", *(("SECRET_NAME",) if kubernetes else ()))
    names = [f"FLOWLIB_{s}_{i.upper()}" for i in INFRA_ENVS for s in suffixes]
    missing = [n for n in names if not values.get(n, "").strip()]
    if missing:
        raise ManifestError(
            f"{where}: unset or empty variable(s) {', '.join(missing)}: each environment names a "
            "dev and a prod work pool, namespace and runtime secret (deployments/README.md)."
        )
    pools = [
        InfraPool(
            infra=i,
            name=values[f"FLOWLIB_WORK_POOL_{i.upper()}"],
            namespace=values[f"FLOWLIB_NAMESPACE_{i.upper()}"],
            secret_name=values.get(f"FLOWLIB_SECRET_NAME_{i.upper()}") if kubernetes else None,
        )
        for i in INFRA_ENVS
    ]
    dev, prod = pools
    shared = [
        f
        for f in ("name", "namespace", "secret_name")
        if getattr(dev, f) and getattr(dev, f) == getattr(prod, f)
    ]
    if kubernetes and shared:
        raise ManifestError(
            f"{where}: the dev and prod pools share their {', '.join(shared)}: give each "
            "infrastructure its own, so dev jobs never see prod's secret."
        )
    return pools


def pool_for(values: Mapping[str, str], pool_name: str, where: str) -> InfraPool:
    """The infrastructure pool a deployment's ``work_pool.name`` (resolved) names."""
    for pool in infra_pools(values, where):
        if pool.name == pool_name:
            return pool
    raise ManifestError(
        f"{where}: work pool {pool_name!r} is neither FLOWLIB_WORK_POOL_DEV nor "
        "FLOWLIB_WORK_POOL_PROD of the environment: put the deployment on one of them."
    )


def is_immutable_image(image: str) -> bool:
    """An image reference that always names the same bytes: ``@sha256:...`` or ``:X.Y.Z``."""
    return bool(_IMMUTABLE_IMAGE.search(image.strip()))


def check_image(env_name: str, image: str | None) -> None:
    """Refuse a moving image tag in prod: a retry must run the code of the run it retries.

    Raises:
        ManifestError: ``env_name`` is prod and ``image`` is not immutable.
    """
    if env_name in IMMUTABLE_ENVS and not is_immutable_image(image or ""):
        raise ManifestError(
            f"deployments/{env_name}.env: {IMAGE_VAR}={image!r} is a moving reference; "
            f"{env_name} deployments need an immutable one, a release tag "
            "<registry>/flowlib:<major>.<minor>.<patch> (make image-release) or "
            "<registry>/flowlib@sha256:<digest>, so a retry runs the same code (docs/image.md)."
        )


def pull_policy(image: str) -> str:
    """``IfNotPresent`` for an immutable image (nothing to refresh), ``Always`` for a moving tag."""
    return "IfNotPresent" if is_immutable_image(image) else "Always"


def pool_job_template(
    pool: InfraPool, image: str, base: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The base job template of one infrastructure's pool: the reviewed template, pinned.

    ``infra_env`` (FLOWLIB_INFRA_ENV in the container), ``namespace`` and ``secret_name`` become
    this pool's only allowed values (the Prefect server refuses a deployment's job variables that
    name the other infrastructure's), and ``image_pull_policy`` defaults to :func:`pull_policy`
    of the environment's ``FLOWLIB_IMAGE``.
    """
    template = json.loads(json.dumps(base or load_base_job_template()))
    properties = template["variables"]["properties"]

    def pin(name: str, value: str) -> None:
        properties[name] = {**properties[name], "default": value, "enum": [value]}
        properties[name].pop("pattern", None)
        properties[name].pop("maxLength", None)

    pin("infra_env", pool.infra)
    pin("namespace", pool.namespace)
    if pool.secret_name:
        pin("secret_name", pool.secret_name)
    properties["image_pull_policy"]["default"] = pull_policy(image)
    return dict(template)


def load_base_job_template(path: Path = BASE_JOB_TEMPLATE) -> dict[str, Any]:
    """The work pool's base job template (``job_configuration`` and ``variables``)."""
    try:
        template = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ManifestError(f"{path}: cannot read: {exc}") from exc
    if set(template) != {"job_configuration", "variables"}:
        raise ManifestError(f"{path}: expected the keys job_configuration and variables.")
    return dict(template)


def template_placeholders(template: Mapping[str, Any]) -> set[str]:
    """The variables ``job_configuration`` references (``{{ name }}``)."""
    from prefect.utilities.templating import find_placeholders

    return {p.name for p in find_placeholders(dict(template["job_configuration"]))}


def unused_job_variables(template: Mapping[str, Any], job_variables: Mapping[str, Any]) -> set[str]:
    """Job variables a deployment sets that the template declares not or never references.

    Such a variable does nothing: the worker only substitutes the placeholders of
    ``job_configuration``.
    """
    declared = set(template["variables"].get("properties", {}))
    used = template_placeholders(template)
    return {name for name in job_variables if name not in declared or name not in used}


def validate_job_variables(template: Mapping[str, Any], job_variables: Mapping[str, Any]) -> None:
    """Check job variables against the template's JSON schema, as the Prefect server does.

    Raises:
        ManifestError: A value does not match its schema (e.g. an empty image or env value).
    """
    import jsonschema

    schema = {**template["variables"], "required": []}  # the server ignores required here too
    errors = sorted(
        jsonschema.Draft7Validator(schema).iter_errors(dict(job_variables)), key=lambda e: e.path
    )
    if errors:
        details = "; ".join(f"{'/'.join(map(str, e.path)) or '.'}: {e.message}" for e in errors)
        raise ManifestError(f"job variables do not match the template's schema: {details}")


def render_job_manifest(
    job_variables: Mapping[str, Any],
    template: Mapping[str, Any] | None = None,
    flow_run_name: str = "example-flow-run",
    deployment_name: str | None = None,
) -> dict[str, Any]:
    """The Kubernetes Job the worker would create for a run of a deployment.

    Args:
        job_variables: The deployment's ``work_pool.job_variables``, placeholders resolved.
        template: The base job template (default: ``infra/work-pool/...json``).
        flow_run_name: The flow run's name (becomes the job's ``generateName``).
        deployment_name: Labels the job like a run of that deployment.

    Returns:
        The job manifest as the worker submits it.
    """
    from prefect.client.schemas.objects import FlowRun

    with warnings.catch_warnings():  # prefect-kubernetes 0.4 re-registers a block type on import
        warnings.simplefilter("ignore", UserWarning)
        from prefect_kubernetes.worker import KubernetesWorkerJobConfiguration

    template = json.loads(json.dumps(template or load_base_job_template()))  # the worker mutates
    flow_run = FlowRun(id=uuid.uuid4(), name=flow_run_name, flow_id=uuid.uuid4())  # type: ignore[call-arg,unused-ignore]
    deployment = None
    if deployment_name:
        from prefect.client.schemas.responses import DeploymentResponse

        deployment = DeploymentResponse(  # type: ignore[call-arg,unused-ignore]
            id=uuid.uuid4(), name=deployment_name, flow_id=flow_run.flow_id
        )

    async def build() -> Any:
        # no block or Prefect-variable placeholders here: the client is never called
        return await KubernetesWorkerJobConfiguration.from_template_and_values(
            template, dict(job_variables), client=_NoClient()
        )

    config = asyncio.run(build())
    config.prepare_for_flow_run(flow_run, deployment=deployment)
    return dict(config.job_manifest)


class _NoClient:
    """Stands in for the Prefect client: rendering must not need an API."""

    def __getattr__(self, name: str) -> Any:
        raise ManifestError(f"rendering needed the Prefect API ({name}); use plain values")


def validate_manifest(manifest: Mapping[str, Any], version: str = KUBERNETES_VERSION) -> None:
    """Validate a manifest against the Kubernetes schema (strict: unknown fields fail).

    Raises:
        ManifestError: The manifest is invalid; the message says where.
    """
    import kubernetes_validate

    try:
        kubernetes_validate.validate(dict(manifest), version, strict=True)
    except kubernetes_validate.ValidationError as exc:
        where = "/".join(str(p) for p in exc.path) or "."
        raise ManifestError(
            f"{manifest.get('kind')} {manifest.get('metadata', {}).get('name') or ''}: "
            f"{where}: {exc.message}"
        ) from exc
    except kubernetes_validate.SchemaNotFoundError as exc:
        raise ManifestError(f"no Kubernetes {version} schema for {manifest.get('kind')}") from exc


_SHELL_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def worker_manifest_vars(path: Path | None = None) -> set[str]:
    """The ``${VARS}`` the worker manifests reference."""
    files = [path] if path else sorted(WORKER_MANIFESTS.glob("*.yaml"))
    return {m for f in files for m in _SHELL_VAR.findall(f.read_text(encoding="utf-8"))}


def render_infra_worker_manifests(values: Mapping[str, str]) -> list[dict[str, Any]]:
    """Both infrastructures' workers (``infra/k8s/*.yaml``), each in its own namespace.

    The files' ``${FLOWLIB_WORK_POOL}``, ``${FLOWLIB_NAMESPACE}``, ``${FLOWLIB_INFRA_ENV}`` and
    ``${FLOWLIB_SECRET_NAME}`` take the dev pool's values, then the prod pool's.
    """
    documents: list[dict[str, Any]] = []
    for pool in infra_pools(values):
        documents += render_worker_manifests(
            {
                **values,
                "FLOWLIB_WORK_POOL": pool.name,
                "FLOWLIB_NAMESPACE": pool.namespace,
                "FLOWLIB_INFRA_ENV": pool.infra,
                "FLOWLIB_SECRET_NAME": pool.secret_name or "",
            }
        )
    return documents


def render_worker_manifests(
    env: Mapping[str, str], files: list[Path] | None = None
) -> list[dict[str, Any]]:
    """The worker's Kubernetes objects (``infra/k8s/*.yaml``) with ``${VARS}`` from ``env``.

    Files ending in ``.example.yaml`` are templates for secrets and are left out unless given.

    Raises:
        ManifestError: A referenced variable is unset or empty.
    """
    files = files or [
        f for f in sorted(WORKER_MANIFESTS.glob("*.yaml")) if not f.name.endswith(".example.yaml")
    ]
    documents: list[dict[str, Any]] = []
    for path in files:
        text = path.read_text(encoding="utf-8")
        missing = sorted(v for v in set(_SHELL_VAR.findall(text)) if not env.get(v, "").strip())
        if missing:
            raise ManifestError(f"{path}: unset or empty variable(s) {', '.join(missing)}.")
        rendered = Template(text).substitute(dict(env))
        documents.extend(d for d in yaml.safe_load_all(rendered) if d)
    return documents


def dump_manifests(documents: list[dict[str, Any]]) -> str:
    """Manifests as one YAML stream for ``kubectl apply -f -``."""
    return yaml.safe_dump_all(documents, sort_keys=False)
