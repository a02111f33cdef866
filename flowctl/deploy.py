"""``flowctl deploy``: register the selected deployments, concurrently, as ``prefect deploy`` would.

The result on the server is the one of ``prefect --no-prompt deploy --all --prefect-file FILE``
(see :mod:`flowctl.spec`), but:

- everything that can be checked is checked before the first write: each file's ``{{ $VARS }}``
  (``flowctl.deployments.check_vars``), the build steps (run once per file, not once per
  deployment),
  each entrypoint, each parameter, each work pool;
- each deployment is compared with the server's first and written only when it differs
  (``unchanged`` costs no write, and keeps the server's scheduled runs);
- the writes run concurrently on one client (how many at once is found while writing, up to 16:
  :class:`flowctl.server.WriteLimiter`); each is one upsert call, so a deployment is either
  written whole or not at all, and one failure stops nothing else;
- a deployment paused with ``flowctl pause`` (tag ``paused``) keeps its tag and inactive schedules.

Exit codes: 0 all done; 1 a write failed; 2 bad input (file, line and deployment named) or an
unreachable API. ``--dry-run`` prints the plan field by field and writes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import io
import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from flowctl.common import (
    EnvFileOption,
    FlowctlError,
    FlowOption,
    JsonOption,
    PrefectFileOption,
    Problem,
    ProjectOption,
    ValuesOption,
    YesOption,
    deploy_values,
    err,
    exit_code,
    fail,
    out,
    patched_environ,
    print_json,
    working_directory,
)
from flowctl.deployments.envfile import MissingVariablesError, check_vars
from flowctl.deployments.guard import FOLLOWS_RECORD_VAR
from flowctl.deployments.prefect_yaml import required_vars
from flowctl.repo import FlowLoader, ProjectFile, RepoDeployment, Selection, load_repository, select
from flowctl.server import (
    WriteLimiter,
    api_url,
    connect,
    http_error_detail,
    read_deployments_by_name,
    watch_responses,
)
from flowctl.spec import Change, Desired, Prepared, changes, prepare, render, server_fields
from flowctl.spec import steps_key as _steps_key
from flowlib import REPO_ROOT

if TYPE_CHECKING:
    from prefect.client.orchestration import PrefectClient

MAX_CONCURRENCY = 16  # the Prefect client's own connection limit
STATUSES = ("created", "updated", "unchanged", "failed")
PLAN_WORDS = {"created": "create", "updated": "update", "unchanged": "unchanged", "failed": "error"}


@dataclass
class Outcome:
    """What happened (or, in a plan, would happen) to one deployment."""

    dep: RepoDeployment
    status: str  # created | updated | unchanged | failed
    changes: list[Change] = field(default_factory=list)
    problem: Problem | None = None
    kept_paused: bool = False
    desired: Desired | None = None

    def as_json(self, applied: bool) -> dict[str, Any]:
        """The outcome for ``--json``."""
        return {
            "project": self.dep.project,
            "file": self.dep.file.shown,
            "deployment": self.dep.name,
            "flow": self.dep.flow_name,
            "status": self.status if applied else PLAN_WORDS[self.status],
            "kept_paused": self.kept_paused,
            "changes": [
                {"field": c.path, "server": c.server, "repo": c.repo} for c in self.changes
            ],
            "error": str(self.problem) if self.problem else None,
        }


@dataclass
class Report:
    """The outcome of every selected deployment, and the problems not tied to one."""

    api_url: str
    applied: bool
    outcomes: list[Outcome] = field(default_factory=list)
    file_problems: list[Problem] = field(default_factory=list)
    writes: dict[str, int] = field(default_factory=dict)  # limit reached, peak, 503s retried
    trials: list[tuple[int, float]] = field(default_factory=list)  # (limit, writes/s) per window

    def __repr__(self) -> str:  # short: asyncio may repr the task holding it
        return f"Report({self.api_url!r}, {dict(self.counts())})"

    @property
    def problems(self) -> list[Problem]:
        """Every problem: the files' and the deployments'."""
        return self.file_problems + [o.problem for o in self.outcomes if o.problem]

    def counts(self, project: str | None = None) -> Counter[str]:
        """How many deployments ended in each status (a file problem counts as one failure)."""
        counts: Counter[str] = Counter(
            o.status for o in self.outcomes if project in (None, o.dep.project)
        )
        counts["failed"] += sum(
            1 for p in self.file_problems if project is None or p.project == project
        )
        return counts

    def as_json(self) -> dict[str, Any]:
        """The whole report for ``--json``."""
        return {
            "api_url": self.api_url,
            "dry_run": not self.applied,
            "summary": {s: self.counts()[s] for s in STATUSES},
            "writes": self.writes,
            "write_trials": [list(t) for t in self.trials],
            "deployments": [o.as_json(self.applied) for o in self.outcomes],
            "problems": [str(p) for p in self.problems],
        }


class _Captured:
    """Collects what build steps print (shown only when they fail)."""

    def __init__(self) -> None:
        self.buffer = io.StringIO()

    def __call__(self, *args: Any, **kwargs: Any) -> None:
        print(*args, file=self.buffer)


async def _run_build_steps(prep: Prepared) -> dict[str, Any] | Problem:
    """The build then push steps of a file (``prefect.deployments.steps.run_steps``)."""
    from prefect.deployments.steps.core import run_steps

    captured = _Captured()
    outputs: dict[str, Any] = {}
    try:
        with (
            contextlib.redirect_stdout(captured.buffer),
            contextlib.redirect_stderr(captured.buffer),
        ):
            if prep.build_steps:  # cut-over flows follow their record here: the guard passes
                with patched_environ({FOLLOWS_RECORD_VAR: "1"}):
                    steps = await run_steps(prep.build_steps, outputs, print_function=captured)
                outputs.update(steps)
            if prep.push_steps:
                outputs.update(await run_steps(prep.push_steps, outputs, print_function=captured))
    except Exception as exc:
        cause = exc.__cause__ or exc
        printed = captured.buffer.getvalue().strip()[-2000:]
        return Problem(
            f"{prep.dep.file.shown}:{_build_line(prep.dep.file)}",
            f"a build/push step failed, nothing of this file was deployed: {cause}"
            + (f"\n{printed}" if printed else ""),
            project=prep.dep.project,
        )
    return outputs


async def follow_records(client: PrefectClient, prepared: list[Prepared]) -> list[Prepared]:
    """Deployments of flows under migration take their phase tag and pool from the record.

    The files say ``phase:shadow`` and the dev pool; a cut-over flow's record says ``cutover``
    and keeps the prod pool it was moved to, so a deploy never moves it back (the record
    decides; ``flowctl migration reconcile`` shows what else disagrees).
    """
    from flowlib.migration.model import TARGET_ENV_OF_PHASE, MigrationError
    from flowlib.migration.prefect_api import pinned_variables
    from flowlib.migration.store import PHASE_PREFIX, parse_record, variables_with_prefix
    from flowlib.migration.transitions import phase_tags

    records = {}
    for name, text in (await variables_with_prefix(client, PHASE_PREFIX)).items():
        try:
            found = parse_record(name, text)
        except MigrationError:
            continue  # `flowctl migration status` names it; the file is deployed as written
        records[str(found.plan.get("deployment"))] = found
    followed = []
    pins: dict[str, dict[str, Any]] = {}
    for prep in prepared:
        record = records.get(f"{prep.dep.flow_name}/{prep.dep.name}")
        if record is None:
            followed.append(prep)
            continue
        config = dict(prep.config)  # anchors share nodes between deployments: copy, then set
        config["tags"] = phase_tags(config.get("tags") or [], record.phase)
        pool = (record.plan.get("pools") or {}).get(TARGET_ENV_OF_PHASE[record.phase] or "dev")
        if pool:
            work_pool = {**(config.get("work_pool") or {}), "name": pool}
            if pool not in pins:
                pins[pool] = pinned_variables((await client.read_work_pool(pool)).base_job_template)
            variables = dict(work_pool.get("job_variables") or {})
            # the job variables the pool pins (namespace, secret, infra env) move with it
            variables.update({k: v for k, v in pins[pool].items() if k in variables})
            if variables:
                work_pool["job_variables"] = variables
            config["work_pool"] = work_pool
        followed.append(dataclasses.replace(prep, config=config))
    return followed


def _build_line(file: ProjectFile) -> int | str:
    try:
        return int(file.lines.lc.data["build"][0]) + 1
    except (AttributeError, KeyError, TypeError):
        return "?"


def _check_env(files: list[ProjectFile]) -> dict[str, Problem]:
    """A problem per file whose ``{{ $VARS }}`` are unset or empty in this environment."""
    found: dict[str, Problem] = {}
    for file in files:
        try:
            check_vars(required_vars(file.doc), os.environ, file.shown)
        except MissingVariablesError as exc:
            found[file.shown] = Problem(
                file.shown,
                f"unset or empty variable(s) {', '.join(exc.missing)}: Prefect would register "
                "them as empty strings, nothing of this file was deployed. Load the Prefect "
                "environment's values: --values local|dev|prod or --env-file FILE (or export "
                "them).",
            )
    return found


async def _check_pools(client: PrefectClient, desired: list[Desired]) -> dict[str, str]:
    """A message per work pool name that does not exist or cannot take deployments."""
    from prefect.exceptions import ObjectNotFound

    bad: dict[str, str] = {}
    for name in sorted({d.work_pool_name for d in desired if d.work_pool_name}):
        try:
            pool = await client.read_work_pool(name)
        except ObjectNotFound:
            bad[name] = (
                f"work pool {name!r} does not exist on {api_url()}; nothing was written for "
                "this deployment. Create it (`make work-pools ENV=...`) or fix "
                "`work_pool: name:` (FLOWLIB_WORK_POOL)."
            )
            continue
        if pool.type == "prefect-agent":
            bad[name] = f"work pool {name!r} is a prefect-agent pool; use a worker pool."
    return bad


async def plan(
    selection: Selection,
    loader: FlowLoader,
    *,
    apply: bool,
    concurrency: int | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> Report:
    """Compare the selected deployments with the server; with ``apply``, write the differences.

    Args:
        selection: The selected deployments (flows loaded).
        loader: The loader that loaded them.
        apply: Run the build steps and write (``flowctl deploy``); else only plan (no build
            step runs; step-output placeholders stay as text).
        concurrency: Writes in flight at once; ``None``: found while writing
            (:class:`flowctl.server.WriteLimiter`).
        on_progress: Called with (done, total) as deployments finish.
    """
    report = Report(api_url=api_url(), applied=apply, file_problems=list(selection.problems))
    total = len(selection.deployments)
    done = 0

    def finish(outcome: Outcome) -> None:
        nonlocal done
        report.outcomes.append(outcome)
        done += 1
        if on_progress:
            on_progress(done, total)

    prepared: list[Prepared] = []
    for dep in selection.deployments:
        if dep.flow_name is None:
            finish(Outcome(dep, "failed", problem=loader.resolve(dep)))
            continue
        result = prepare(dep, loader)
        if isinstance(result, Problem):
            finish(Outcome(dep, "failed", problem=result))
        else:
            prepared.append(result)

    env_problems = _check_env(
        sorted({p.dep.file.shown: p.dep.file for p in prepared}.values(), key=lambda f: f.shown)
    )
    ready: list[Prepared] = []
    for prep in prepared:
        problem = env_problems.get(prep.dep.file.shown)
        if problem is not None:
            finish(Outcome(prep.dep, "failed", problem=prep.dep.problem(problem.message)))
        else:
            ready.append(prep)

    if not ready:  # nothing can be written: no need for the API
        return _sorted(report, selection)
    async with connect() as client:
        ready = await follow_records(client, ready)
        outputs: dict[tuple[str, str], dict[str, Any] | Problem] = {}
        reported: set[tuple[str, str]] = set()
        cache: dict[Any, Any] = {}
        desired: list[Desired] = []
        for prep in ready:
            key = (prep.dep.file.shown, _steps_key(prep))
            if apply and key not in outputs:
                outputs[key] = await _run_build_steps(prep)
            step_outputs = outputs.get(key, {})
            if isinstance(step_outputs, Problem):
                first = key not in reported
                reported.add(key)
                message = (
                    step_outputs.message
                    if first
                    else f"the build steps of {prep.dep.file.shown} failed (see above)."
                )
                finish(Outcome(prep.dep, "failed", problem=prep.dep.problem(message)))
                continue
            rendered = await render(
                prep, client, step_outputs, keep_placeholders=not apply, cache=cache
            )
            if isinstance(rendered, Problem):
                finish(Outcome(prep.dep, "failed", problem=rendered))
            else:
                desired.append(rendered)

        bad_pools = await _check_pools(client, desired)
        seen: dict[tuple[str, str], Desired] = {}
        checked: list[Desired] = []
        for want in desired:
            if want.work_pool_name in bad_pools:
                problem = want.dep.problem(bad_pools[want.work_pool_name], "work_pool")
                finish(Outcome(want.dep, "failed", problem=problem))
            elif want.key in seen:
                other = seen[want.key].dep
                message = (
                    f"{want.flow_name}/{want.name} is also deployed by {other.where()}; "
                    "deployment names must be unique per flow."
                )
                finish(Outcome(want.dep, "failed", problem=want.dep.problem(message, "name")))
            else:
                seen[want.key] = want
                checked.append(want)

        existing = await read_deployments_by_name(client, [d.key for d in checked])
        to_write: list[Outcome] = []
        for want in checked:
            have = server_fields(existing[want.key]) if want.key in existing else None
            kept = want.keep_paused(have)
            found = changes(have, want.fields)
            status = "unchanged" if have and not found else "updated" if have else "created"
            outcome = Outcome(want.dep, status, found, kept_paused=kept, desired=want)
            if status == "unchanged" or not apply:
                finish(outcome)
            else:
                to_write.append(outcome)

        if to_write:
            writer = _Writer(client, {k[0]: v.flow_id for k, v in existing.items()})
            limiter = WriteLimiter(concurrency, maximum=MAX_CONCURRENCY)
            watch_responses(client, limiter)

            async def write(outcome: Outcome) -> None:
                async with limiter:
                    await writer.write(outcome)
                finish(outcome)

            await asyncio.gather(*(write(o) for o in to_write))
            report.writes = {
                "at_once": limiter.limit,
                "peak": limiter.peak,
                "retried_503": limiter.conflicts,
            }
            report.trials = [(limit, round(rate, 1)) for limit, rate in limiter.trials]

    return _sorted(report, selection)


def _sorted(report: Report, selection: Selection) -> Report:
    order = {id(d): i for i, d in enumerate(selection.deployments)}
    report.outcomes.sort(key=lambda o: order.get(id(o.dep), 0))
    return report


class _Writer:
    """Writes deployments through one client; each flow is created once.

    The first write naming a work queue goes alone: Prefect's server (2.20.27) creates a missing
    queue with a check then an insert, so two deployments naming one new queue at once make one
    of them fail with 409 (``uq_work_queue__work_pool_id_name``) on PostgreSQL. SQLite, one write
    at a time, never shows it (benchmarks/README.md, bench-deploy on PostgreSQL).
    """

    def __init__(self, client: PrefectClient, flow_ids: dict[str, Any]) -> None:
        self.client = client
        self.flow_ids = dict(flow_ids)
        self.locks: dict[str, asyncio.Lock] = {}
        self.queue_locks: dict[tuple[Any, Any], asyncio.Lock] = {}
        self.queues_ready: set[tuple[Any, Any]] = set()

    async def flow_id(self, flow_name: str) -> Any:
        lock = self.locks.setdefault(flow_name, asyncio.Lock())
        async with lock:
            if flow_name not in self.flow_ids:
                self.flow_ids[flow_name] = await self.client.create_flow_from_name(flow_name)
        return self.flow_ids[flow_name]

    async def write(self, outcome: Outcome) -> None:
        want = outcome.desired
        assert want is not None
        queue = (want.work_pool_name, want.fields.get("work_queue_name"))
        if queue not in self.queues_ready:
            async with self.queue_locks.setdefault(queue, asyncio.Lock()):
                if queue not in self.queues_ready:
                    await self._write(outcome)
                    if outcome.status != "failed":
                        self.queues_ready.add(queue)
                    return
        await self._write(outcome)

    async def _write(self, outcome: Outcome) -> None:
        want = outcome.desired
        assert want is not None
        try:
            flow_id = None if want.runner is not None else await self.flow_id(want.flow_name)
            await want.write(self.client, flow_id)
        except Exception as exc:
            outcome.problem = want.dep.problem(
                f"the server refused the deployment ({http_error_detail(exc)}); it was not "
                "changed.",
                bad_input=False,
            )
            outcome.status = "failed"


def confirm_everything(selection: Selection, what: str, yes: bool) -> None:
    """Ask before acting on every deployment when no selector was given (unless ``--yes``)."""
    if not selection.everything or yes:
        return
    projects = sorted({d.project for d in selection.deployments})
    prompt = (
        f"{what} all {len(selection.deployments)} deployments of {', '.join(projects)} on "
        f"{api_url()}?"
    )
    if not typer.confirm(prompt, default=False, err=True):
        err().print("nothing done (select with --project/--flow, or confirm with --yes).")
        raise typer.Exit(1)


def print_report(report: Report, *, title: str) -> None:
    """The summary table (per project), the changes, the failures; plan wording for dry runs."""
    console = out()
    words = STATUSES if report.applied else tuple(PLAN_WORDS[s] for s in STATUSES)
    table = Table(title=f"{title} → {report.api_url}", title_justify="left")
    table.add_column("project")
    for word in words:
        table.add_column(word, justify="right")
    projects = sorted(
        {o.dep.project for o in report.outcomes} | {p.project for p in report.file_problems}
    )
    for project in projects:
        counts = report.counts(project)
        table.add_row(project, *(str(counts[s]) for s in STATUSES))
    counts = report.counts()
    table.add_row(
        Text("total", style="bold"), *(Text(str(counts[s]), style="bold") for s in STATUSES)
    )
    for outcome in report.outcomes:
        if outcome.status in ("updated", "created") and (
            not report.applied or outcome.status == "updated"
        ):
            verb = outcome.status if report.applied else PLAN_WORDS[outcome.status]
            console.print(
                Text.assemble((verb, "cyan"), f" {outcome.dep.full_name} ({outcome.dep.where()})"),
                highlight=False,
            )
            for change in outcome.changes:
                line = change.path if report.applied else change.describe()
                console.print(f"    {line}", highlight=False, markup=False)
        if outcome.kept_paused:
            console.print(
                f"kept paused: {outcome.dep.full_name} (tag paused: its schedules stay "
                "inactive; `flowctl resume` to undo)",
                highlight=False,
            )
    console.print(table)
    if report.writes:
        console.print(
            f"writes: {report.writes['at_once']} at once at the end (tried up to "
            f"{report.writes['peak']}), {report.writes['retried_503']} retried after a 503 "
            "(server busy)",
            highlight=False,
            style="dim",
        )
    for problem in report.problems:
        style = "red" if problem.bad_input else "yellow"
        console.print(Text.assemble(("✗ ", style), str(problem)), highlight=False)


def deploy_command(
    project: ProjectOption = None,
    flow: FlowOption = None,
    yes: YesOption = False,
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Print what would be created or changed, field by field."
    ),
    prefect_file: PrefectFileOption = None,
    env_file: EnvFileOption = None,
    values: ValuesOption = None,
    concurrency: int | None = typer.Option(
        None,
        "--concurrency",
        min=1,
        max=MAX_CONCURRENCY,
        help="Deployments written at once (default: found while writing, 1 up to 16).",
    ),
    as_json: JsonOption = False,
) -> None:
    """Register deployments from the prefect.yaml files, as `prefect deploy` would, concurrently.

    Exit codes: 0 done; 1 a write failed (the others were still made);
    2 bad input (file, line and deployment named; nothing written for it) or unreachable API.
    """
    try:
        env = deploy_values(env_file, values)
        with working_directory(REPO_ROOT), patched_environ(env):
            loader = FlowLoader()
            selection = select(load_repository(prefect_file), project, flow, loader)
            if not dry_run:
                confirm_everything(selection, "Deploy", yes)
            report = _run_with_progress(
                selection, loader, apply=not dry_run, concurrency=concurrency, quiet=as_json
            )
            if not dry_run:
                _sync_source_limits()
    except FlowctlError as exc:
        raise fail(exc) from exc
    if as_json:
        print_json(report.as_json())
    else:
        print_report(report, title="flowctl deploy" + (" --dry-run" if dry_run else ""))
    raise typer.Exit(exit_code(report.problems))


def _sync_source_limits() -> None:
    """Create or update the sources' global concurrency limits (``flowctl limits sync``).

    A flow run that reports to a server refuses to call a source whose limit is missing, so the
    deploy that brings a flow makes its source's limit too. Idempotent; said on stderr.
    """
    from flowctl.limits import sync_limits

    done = [o for o in sync_limits() if o.action in ("created", "updated")]
    if done:
        listed = ", ".join(f"{o.name} {o.action} (limit {o.limit})" for o in done)
        err().print(f"source limits: {listed}")


def _run_with_progress(
    selection: Selection, loader: FlowLoader, *, apply: bool, concurrency: int | None, quiet: bool
) -> Report:
    console = err()
    if quiet or not console.is_terminal or not selection.deployments:
        return asyncio.run(plan(selection, loader, apply=apply, concurrency=concurrency))
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task(
            "deploying" if apply else "planning", total=len(selection.deployments)
        )

        def update(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        return asyncio.run(
            plan(selection, loader, apply=apply, concurrency=concurrency, on_progress=update)
        )
