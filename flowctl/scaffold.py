"""``flowctl new flow <project>/<flow> --source <api>``: a new flow in the house shape.

Writes, in one go and only if none of them exists yet:

- ``flows/<project>/<flow>.py``: contract, pure transforms, the ``@flow`` with ``target_env``, the
  date it loads and ``sample``, the failure hooks and ``run_cli`` (the shape of every flow module,
  README "The shape of a flow module");
- its deployment in ``deployments/<project>/prefect.yaml``, reusing the file's shared
  ``definitions:`` (work pool, pull step), with a slot the schedule generator staggers from every
  other start on the same source API;
- its entry in ``migration/<project>.yaml`` (phase ``shadow``, the next wave, recovery rules for
  the parameters it has);
- its test at the mirrored path, ``tests/flows/<project>/test_<flow>.py``.

The project must exist (``flows/<project>/sources.py`` declaring the source API, its
``prefect.yaml`` and its migration manifest): a new project is a reviewed decision, not a flag.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, replace
from pathlib import Path
from string import Template
from typing import Any

import typer
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import DoubleQuotedScalarString, FoldedScalarString

from flowctl.common import FlowctlError, fail, out
from flowctl.deployments import yaml_edit
from flowlib import REPO_ROOT

new_app = typer.Typer(name="new", help="Start something new from the house templates.")

_NAME = re.compile(r"[a-z][a-z0-9_]*")

FLOW_TEMPLATE = Template('''"""$title from the ``$source`` API (page-number pagination).

Legacy: ``$legacy_name`` (Prefect 1), slot ``$cron`` $timezone.
Output: Parquet at ``$project/$source/$entity/<as_of>/${entity}_<as_of + slot>.parquet``, one
partition per day named from its legacy slot.
"""

from __future__ import annotations

from datetime import date, timedelta

import pyarrow as pa
from prefect import flow

from flowlib.arrow import records_to_table
from flowlib.hooks import FAILURE_HOOKS
from flowlib.http import PageNumber, Record
from flowlib.lake import Dataset
from flowlib.migration.ownership import writer_env
from flowlib.runtime import run_cli, run_logger, scheduled_start
from flowlib.settings import TargetEnv
from flowlib.windows import local_date
from flows.$project.sources import $source_const
from tasks.extract import fetch_records
from tasks.lake import write_partition

# --- contract -------------------------------------------------------------------------------
DATASET = Dataset(  # the partition of day D is the legacy run's at D + slot_offset
    project="$project",
    source="$source",
    entity="$entity",
    slot_offset=timedelta(hours=$slot_hours, minutes=$slot_minutes),
    slot_timezone="$timezone",
)
ENDPOINT = "$endpoint"
PAGINATOR = PageNumber(page_size=500)
# The columns the legacy flow wrote, in its order (docs/sources.md has the API's fields).
SCHEMA = pa.schema(
    [
        ("id", pa.int64()),
    ]
)


# --- transforms (pure) ----------------------------------------------------------------------
def to_table(records: list[Record]) -> pa.Table:
    """Records in API order, columns exactly as the legacy flow wrote them."""
    return records_to_table(records, SCHEMA)


# --- flow -----------------------------------------------------------------------------------
@flow(
    name="$flow_name",
    retries=1,
    retry_delay_seconds=300,
    on_failure=FAILURE_HOOKS,
    on_crashed=FAILURE_HOOKS,
)
def $flow(
    target_env: TargetEnv | None = None, as_of: date | None = None, sample: bool = False
) -> dict[str, object]:
    """Load $entity as of a date (default: the scheduled start's UTC date)."""
    day = as_of or local_date(scheduled_start(), DATASET.slot_timezone)
    partition = DATASET.daily(day, sample=sample)
    env = writer_env(target_env, partition.slot)
    if env is None:  # the legacy flow loads this slot in prod: nothing to write here
        return {"target_env": None, "files": [], "rows": 0}
    run_logger().info("$entity %s into %s", partition.describe(), env)
    records = fetch_records(
        $source_const,
        ENDPOINT,
        {"as_of": day.isoformat()},
        PAGINATOR,
        max_pages=1 if sample else None,
    )
    written = write_partition(env, partition, to_table(records))
    return {"target_env": env, "files": [f.path for f in written.files], "rows": written.rows}


if __name__ == "__main__":
    raise SystemExit(run_cli($flow))
''')

TEST_TEMPLATE = Template("""from flows.$project import $flow as mod


def test_to_table_keeps_the_legacy_columns_in_order():
    table = mod.to_table([{"id": 1}, {"id": 2}])
    assert table.schema.names == [field.name for field in mod.SCHEMA]
    assert table.column("id").to_pylist() == [1, 2]


def test_the_flow_lands_in_its_own_dataset():
    assert mod.DATASET.prefix == "$project/$source/$entity"
    assert mod.$flow.name == "$flow_name"
""")


class ScaffoldError(ValueError):
    """The scaffold cannot write: the message names the file and what to do."""


@dataclass(frozen=True)
class NewFlow:
    """What the templates are filled with."""

    project: str
    flow: str
    source: str
    source_const: str
    entity: str
    endpoint: str
    cron: str
    timezone: str
    legacy_name: str
    slot: tuple[str, str] = ("", "")  # the staggered (cron, timezone) of the new deployment

    @property
    def flow_name(self) -> str:
        """The ``@flow`` name: ``<project>-<flow with dashes>`` (the legacy flow's name)."""
        return f"{self.project}-{self.flow.replace('_', '-')}"

    @property
    def deployment_name(self) -> str:
        """The deployment's name: the flow's with dashes."""
        return self.flow.replace("_", "-")

    def values(self) -> dict[str, str]:
        """The template values."""
        title = self.flow.replace("_", " ").capitalize()
        plain = {k: v for k, v in vars(self).items() if isinstance(v, str)}
        minute, hour = [*self.cron.split(), "0", "0"][:2]
        hours, minutes = (h if h.isdigit() else "0" for h in (hour, minute))
        slot = {"slot_hours": hours, "slot_minutes": minutes}
        return {**plain, **slot, "flow_name": self.flow_name, "title": title}

    @property
    def files(self) -> dict[str, Path]:
        """Every file the scaffold writes or edits, by role."""
        return {
            "module": REPO_ROOT / "flows" / self.project / f"{self.flow}.py",
            "test": REPO_ROOT / "tests" / "flows" / self.project / f"test_{self.flow}.py",
            "prefect.yaml": REPO_ROOT / "deployments" / self.project / "prefect.yaml",
            "manifest": REPO_ROOT / "migration" / f"{self.project}.yaml",
        }


def source_constant(project: str, source: str) -> str:
    """The name under which ``flows/<project>/sources.py`` declares ``SourceSpec(name=source)``."""
    path = REPO_ROOT / "flows" / project / "sources.py"
    if not path.is_file():
        raise ScaffoldError(
            f"{path} does not exist: project {project!r} is new. Create flows/{project}/ with "
            f"sources.py, deployments/{project}/prefect.yaml and migration/{project}.yaml first "
            "(copy the shape of an existing project)."
        )
    found = {}
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
            names = {k.arg: k.value for k in node.value.keywords}
            name = names.get("name")
            if isinstance(name, ast.Constant) and isinstance(node.targets[0], ast.Name):
                found[str(name.value)] = node.targets[0].id
    if source not in found:
        known = ", ".join(sorted(found)) or "none"
        raise ScaffoldError(
            f"{path}: no SourceSpec(name={source!r}); sources of {project}: {known}. Declare it "
            "there (and its contract in docs/sources.md) or pick one of those."
        )
    return found[source]


def plan_flow(
    spec: str, source: str, entity: str | None, endpoint: str | None, cron: str, timezone: str
) -> NewFlow:
    """Check the request against the repository; nothing is written."""
    project, _, flow = spec.partition("/")
    if not _NAME.fullmatch(project) or not _NAME.fullmatch(flow):
        raise ScaffoldError(
            f"{spec!r}: write <project>/<flow> in snake_case, e.g. sales/refunds_daily."
        )
    new = NewFlow(
        project=project,
        flow=flow,
        source=source,
        source_const=source_constant(project, source),
        entity=entity or flow,
        endpoint=endpoint or f"/{source}/v1/{entity or flow}",
        cron=cron,
        timezone=timezone,
        legacy_name=f"{project}-{flow.replace('_', '-')}",
    )
    for role, path in new.files.items():
        exists = path.exists()
        if role in ("module", "test") and exists:
            raise ScaffoldError(f"{path} exists already: nothing was written.")
        if role in ("prefect.yaml", "manifest") and not exists:
            raise ScaffoldError(f"{path} does not exist: project {project!r} is not set up.")
    return replace(new, slot=staggered(new))


def folded(text: str, width: int = 94) -> FoldedScalarString:
    """``text`` as a ``>-`` block folded at spaces, as the hand-written descriptions are."""
    block = FoldedScalarString(text)
    block.fold_pos = []  # type: ignore[attr-defined]
    line_start = 0
    for index, char in enumerate(text):
        if char == " " and index - line_start > width - 20:
            block.fold_pos.append(index)  # type: ignore[attr-defined]
            line_start = index + 1
    return block


def _deployment(new: NewFlow, doc: Any) -> CommentedMap:
    """The new ``deployments:`` entry, sharing the file's anchored work pool and pull step."""
    entries = doc.get("deployments") or []
    if any(str(d.get("name")) == new.deployment_name for d in entries):
        raise ScaffoldError(f"deployment {new.deployment_name!r} exists already.")
    definitions = doc.get("definitions") or {}
    entry = CommentedMap()
    entry["name"] = new.deployment_name
    entry["description"] = folded(
        f"{new.flow.replace('_', ' ').capitalize()} from the {new.source} API as Parquet under "
        f"{new.project}/{new.source}/{new.entity}/. Shadow of the legacy Prefect 1 flow "
        f"{new.legacy_name}, writing the dev lake during the dual run."
    )
    entry["entrypoint"] = f"flows/{new.project}/{new.flow}.py:{new.flow}"
    entry["parameters"] = CommentedMap()  # no target_env: each run asks its phase record
    entry["enforce_parameter_schema"] = True
    entry["tags"] = CommentedSeq([f"project:{new.project}", f"source:{new.source}", "phase:shadow"])
    for key, anchored in (("work_pool", "work_pool"), ("pull", "pull_from_image")):
        if anchored not in definitions:
            raise ScaffoldError(f"no `definitions: {anchored}:` to share; add it first.")
        entry[key] = definitions[anchored]
    schedule = CommentedMap()
    schedule["cron"] = DoubleQuotedScalarString(new.slot[0])
    schedule["timezone"] = new.slot[1]
    schedule["active"] = True
    entry["schedules"] = CommentedSeq([schedule])
    return entry


def _manifest_entry(new: NewFlow, doc: Any) -> CommentedMap:
    """The new ``flows:`` entry of ``migration/<project>.yaml``."""
    flows = doc.get("flows") or []
    if any(str(f.get("flow")) == new.flow for f in flows):
        raise ScaffoldError(f"flow {new.flow!r} is listed already.")
    entry = CommentedMap()
    entry["flow"] = new.flow
    parameters = CommentedSeq(["as_of", "sample"])
    slot = CommentedMap(cron=new.cron, timezone=new.timezone)
    entry["legacy"] = CommentedMap(
        name=new.legacy_name, project=new.project, parameters=parameters, slot=slot
    )
    entry["deployment"] = f"{new.flow_name}/{new.deployment_name}"
    entry["source_api"] = new.source
    entry["criticality"] = "low"
    entry["wave"] = max([int(f.get("wave") or 1) for f in flows] + [0]) + 1
    entry["phase"] = "shadow"
    rules = [("as_of", CommentedMap(param="as_of", default="scheduled_date"))]
    rules.append(("sample", CommentedMap(param="sample")))
    entry["recovery"] = CommentedMap(rules)
    for node in (parameters, slot, *entry["recovery"].values()):
        node.fa.set_flow_style()  # the manifests' own style: {param: as_of, default: ...}
    return entry


def write_flow(new: NewFlow) -> list[Path]:
    """Write the four files; returns them. The YAML files go through the one YAML writer."""
    files = new.files
    values = new.values()
    yaml_edit.append_entry(files["prefect.yaml"], "deployments", lambda d: _deployment(new, d))
    yaml_edit.append_entry(files["manifest"], "flows", lambda d: _manifest_entry(new, d))
    files["module"].write_text(FLOW_TEMPLATE.substitute(values), encoding="utf-8")
    files["test"].parent.mkdir(parents=True, exist_ok=True)
    files["test"].write_text(TEST_TEMPLATE.substitute(values), encoding="utf-8")
    return list(files.values())


def staggered(new: NewFlow) -> tuple[str, str]:
    """The new deployment's slot: the generator's, from the legacy slot (``--cron``).

    Computed before anything is written: the generator sees the new deployment (in memory) with
    its legacy twin, and places it away from every other start on the same source API.
    """
    from flowctl.deployments import prefect_yaml, schedules

    plan = schedules.Plan.load()
    twin = schedules.LegacySchedule(
        project=new.project,
        flow=new.flow,
        legacy_name=new.legacy_name,
        source=new.source,
        schedule=schedules.Schedule(cron=new.cron, timezone=new.timezone),
    )
    raw = {
        "name": new.deployment_name,
        "entrypoint": f"flows/{new.project}/{new.flow}.py:{new.flow}",
        "tags": [f"project:{new.project}", f"source:{new.source}", "phase:shadow"],
        "schedules": [{"cron": new.cron, "timezone": new.timezone, "active": True}],
    }
    mine = prefect_yaml.DeploymentConfig(new.project, new.files["prefect.yaml"], raw)
    plan = schedules.Plan((*plan.deployments, mine), {**plan.legacy, (new.project, new.flow): twin})
    try:
        proposal = next(p for p in schedules.propose(plan) if p.deployment is mine)
    except schedules.ScheduleError as exc:
        raise ScaffoldError(f"no slot for {new.flow_name}: {exc}") from exc
    cron = proposal.proposed.as_cron()
    assert cron.cron is not None
    return cron.cron, cron.timezone


@new_app.command("flow")
def new_flow_command(
    spec: str = typer.Argument(..., help="<project>/<flow>, e.g. sales/refunds_daily"),
    source: str = typer.Option(..., "--source", help="The source API (flows/<project>/sources.py)"),
    entity: str | None = typer.Option(None, "--entity", help="Lake entity (default: the flow)"),
    endpoint: str | None = typer.Option(None, "--endpoint", help="API path (default: guessed)"),
    cron: str = typer.Option("0 4 * * *", "--cron", help="The legacy flow's slot"),
    timezone: str = typer.Option("UTC", "--timezone", help="The slot's time zone"),
) -> None:
    """Write a new flow module, its deployment, its migration entry and its test."""
    try:
        new = plan_flow(spec, source, entity, endpoint, cron, timezone)
        written = write_flow(new)
    except (ScaffoldError, yaml_edit.YamlEditError) as exc:
        raise fail(FlowctlError(str(exc))) from exc
    console = out()
    for path in written:
        console.print(f"wrote {path.relative_to(REPO_ROOT)}")
    slot = " ".join(new.slot)
    console.print(f"schedule: {slot} (staggered on the {source} API; `make schedule-check`)")
    console.print(
        f"next: fill SCHEMA and to_table in flows/{new.project}/{new.flow}.py, then "
        f"`.venv/bin/pytest tests/flows/{new.project}/test_{new.flow}.py` and "
        f"`flowctl deploy --project {new.project}`"
    )
