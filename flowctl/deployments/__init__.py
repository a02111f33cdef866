"""Deployment tooling: env files, deploys, work pools, schedules, Kubernetes rendering.

``prefect deploy`` runs through the real CLI; the staggered schedules have a checker, a generator
and a picture; Kubernetes job manifests render the way the worker renders them.

The functions the demo and ``flowctl`` reuse, importable from here:

- :func:`load_env_file` / :func:`env_file_path`: ``deployments/<env>.env`` as a dict.
- :func:`required_vars`: the ``{{ $VARS }}`` of a ``prefect.yaml``; :func:`check_vars` fails on
  unset ones.
- :func:`deploy_project`: ``prefect --no-prompt deploy --all --prefect-file ...`` for one project.
- :func:`ensure_work_pool`: ``prefect work-pool create NAME --type T --base-job-template F
  --overwrite``.
- :mod:`flowctl.deployments.schedules`, :mod:`flowctl.deployments.picture`,
  :mod:`flowctl.deployments.jobs`.

Submodules import Prefect lazily where they can; this package imports only what these names need.
"""

from flowctl.deployments.envfile import (
    ENVIRONMENTS,
    EnvFileError,
    MissingVariablesError,
    check_vars,
    env_file_path,
    load_env_file,
    missing_vars,
)
from flowctl.deployments.prefect_cli import (
    KUBERNETES_TEMPLATE,
    DeployError,
    deploy_project,
    ensure_work_pool,
    load_environment,
    pool_template,
)
from flowctl.deployments.prefect_yaml import (
    DeploymentConfig,
    deployments,
    prefect_file,
    project_files,
    required_vars,
    resolve_env_placeholders,
)

__all__ = [
    "ENVIRONMENTS",
    "KUBERNETES_TEMPLATE",
    "DeployError",
    "DeploymentConfig",
    "EnvFileError",
    "MissingVariablesError",
    "check_vars",
    "deploy_project",
    "deployments",
    "ensure_work_pool",
    "env_file_path",
    "load_env_file",
    "load_environment",
    "missing_vars",
    "pool_template",
    "prefect_file",
    "project_files",
    "required_vars",
    "resolve_env_placeholders",
]
