"""A process worker on this machine for one local pool, with the sample API's demo credentials.

``make worker ENV=local`` runs it for the dev infrastructure's pool (``FLOWLIB_WORK_POOL_DEV``),
``make worker ENV=local INFRA=prod`` for the prod one. Like a Kubernetes pool's jobs, its flow
runs get ``FLOWLIB_INFRA_ENV=<infra>`` and only that lake's credentials (the other lake's
``LAKE_<ENV>_CONNECTION_STRING`` / ``_ACCOUNT_KEY`` / ``_CREDENTIALS_BLOCK`` are dropped from the
worker's environment). Only the local environment runs its workers here (dev and prod workers
run in Kubernetes: ``make worker-manifests``); secrets come from this shell, and the sample API's
public demo tokens fill in ``SHOP_API_TOKEN`` and ``LEDGER_API_TOKEN`` when unset.
"""

from __future__ import annotations

import argparse
import os
import subprocess
from collections.abc import Mapping, Sequence

from devtools.sample_api.config import DEFAULT_LEDGER_KEY, DEFAULT_SHOP_TOKEN
from flowctl.deployments.jobs import INFRA_ENVS, infra_pools
from flowctl.deployments.prefect_cli import load_environment, prefect_cli
from flowlib import REPO_ROOT
from flowlib.settings import INFRA_ENV_VAR

LAKE_SECRET_SUFFIXES = ("CONNECTION_STRING", "ACCOUNT_KEY", "CREDENTIALS_BLOCK")


def worker_environment(
    base: Mapping[str, str], values: Mapping[str, str], infra: str
) -> dict[str, str]:
    """The worker's environment: ``base`` and the env file, ``FLOWLIB_INFRA_ENV``, no other keys."""
    others = [
        f"LAKE_{e.upper()}_{s}" for e in INFRA_ENVS if e != infra for s in LAKE_SECRET_SUFFIXES
    ]
    env = {k: v for k, v in {**base, **values}.items() if k not in others}
    env[INFRA_ENV_VAR] = infra
    return env


def main(argv: Sequence[str] | None = None) -> int:
    """Start ``prefect worker start --type process`` for one infrastructure's pool."""
    parser = argparse.ArgumentParser(prog="python -m devtools.worker", description=__doc__)
    parser.add_argument("--env", default="local", help="deployments/<env>.env (default: local)")
    parser.add_argument("--infra", default="dev", choices=INFRA_ENVS, help="whose pool (dev)")
    args = parser.parse_args(argv)
    values = load_environment(args.env)
    (pool,) = [
        p
        for p in infra_pools(values, f"deployments/{args.env}.env", kubernetes=False)
        if p.infra == args.infra
    ]
    run_env = worker_environment(os.environ, values, args.infra)
    if args.env == "local":
        run_env.setdefault("SHOP_API_TOKEN", DEFAULT_SHOP_TOKEN)
        run_env.setdefault("LEDGER_API_TOKEN", DEFAULT_LEDGER_KEY)
    cmd = [prefect_cli(), "worker", "start", "--pool", pool.name, "--type", "process"]
    return subprocess.call(cmd, cwd=REPO_ROOT, env=run_env)


if __name__ == "__main__":
    raise SystemExit(main())
