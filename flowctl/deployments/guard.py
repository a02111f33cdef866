"""A ``prefect.yaml`` build step: a stale file cannot move a cut-over flow back across the line.

``prefect deploy --all`` (Prefect's own CLI, unchanged) runs this step before it registers
anything. The files carry no ``target_env`` for flows under migration (every run asks the phase
record which lake it writes, :mod:`flowlib.migration.ownership`), so what a stale file could
still undo is the rest of a cutover: the work pool (prod credentials live only on the prod
pool) and the ``phase:`` tag. So the step refuses when a flow of the file is cut over, naming
the flow, its phase and the command that deploys it following its record (``flowctl deploy``).

Why a refusal and not ``{{ prefect.variables.* }}`` templating: Prefect resolves variables before
any build step runs and turns a missing one into an empty string without a word, so a template
cannot be guarded; and the pool of a phase is a choice between two names, which a template
cannot make.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

FOLLOWS_RECORD_VAR = "FLOWLIB_DEPLOY_FOLLOWS_RECORD"
"""Set by ``flowctl deploy``, which places cut-over flows from their record: the step passes."""


class MigrationGuardError(RuntimeError):
    """A deploy would undo a cutover; the message names the flows and the command to run."""


def check_migration(prefect_file: str) -> dict[str, Any]:
    """Refuse to deploy ``prefect_file`` over a flow its phase record says is cut over."""
    if os.environ.get(FOLLOWS_RECORD_VAR) == "1":
        return {"migration_guard": "flowctl deploy: cut-over flows follow their record"}
    from flowctl.deployments.prefect_yaml import load_prefect_yaml
    from flowlib.migration.manifest import Manifests
    from flowlib.migration.store import VariableStore

    path = Path(prefect_file)
    project = path.parent.name
    names = [str(d.get("name")) for d in load_prefect_yaml(path).get("deployments") or []]
    plans = {p.deployment.split("/", 1)[1]: p for p in Manifests.load().select(project)}
    store = VariableStore()
    refused = []
    for name in names:
        plan = plans.get(name)
        record = store.read(plan.project, plan.flow) if plan else None
        if plan and record and record.phase in ("cutover", "decommissioned"):
            refused.append(
                f"{prefect_file} deployment {name}: {plan.key} is {record.phase} (phase record "
                f"since {record.since}, handover slot {record.handover or record.since}); this "
                "file would put it back on the dev work pool with a stale phase tag"
            )
    if refused:
        raise MigrationGuardError(
            "; ".join(refused)
            + f". Nothing was deployed. Deploy with `flowctl deploy --project {project}`, which "
            "keeps cut-over flows on their record's pool and tag (or roll the flow back first: "
            f"`flowctl rollback -p {project}`)."
        )
    return {"migration_guard": f"{len(names)} deployment(s) checked"}
