"""A process worker on this machine for the local pool, with the sample API's demo credentials.

``make worker ENV=local`` runs it. Only the local environment runs its worker here (dev and prod
workers run in Kubernetes: ``make worker-manifests``); secrets come from this shell, and the
sample API's public demo tokens fill in ``SHOP_API_TOKEN`` and ``LEDGER_API_TOKEN`` when unset.
"""

from __future__ import annotations

import argparse
import os
import subprocess
from collections.abc import Sequence

from devtools.sample_api.config import DEFAULT_LEDGER_KEY, DEFAULT_SHOP_TOKEN
from flowctl.deployments.prefect_cli import WORK_POOL_VAR, load_environment, prefect_cli
from flowlib import REPO_ROOT


def main(argv: Sequence[str] | None = None) -> int:
    """Start ``prefect worker start --type process`` for the environment's pool."""
    parser = argparse.ArgumentParser(prog="python -m devtools.worker", description=__doc__)
    parser.add_argument("--env", default="local", help="deployments/<env>.env (default: local)")
    args = parser.parse_args(argv)
    values = load_environment(args.env)
    run_env = {**os.environ, **values}
    if args.env == "local":
        run_env.setdefault("SHOP_API_TOKEN", DEFAULT_SHOP_TOKEN)
        run_env.setdefault("LEDGER_API_TOKEN", DEFAULT_LEDGER_KEY)
    cmd = [prefect_cli(), "worker", "start", "--pool", values[WORK_POOL_VAR], "--type", "process"]
    return subprocess.call(cmd, cwd=REPO_ROOT, env=run_env)


if __name__ == "__main__":
    raise SystemExit(main())
