"""``python -m flowctl.deployments COMMAND``: the deployment tooling behind ``make/deployments.mk``.

A typer app, so ``flowctl`` can mount it (``app.add_typer(flowctl.deployments.cli.app, name=...)``).
Every command runs from the repository root and takes the Prefect environment's name (``--env``):
its values come from ``deployments/<env>.env``.
"""

from __future__ import annotations

import sys
from datetime import datetime, timedelta
from pathlib import Path

import typer

from flowctl.deployments import jobs, schedules
from flowctl.deployments.envfile import EnvFileError, MissingVariablesError, check_vars
from flowctl.deployments.prefect_cli import (
    WORK_POOL_TYPE_VAR,
    WORK_POOL_VAR,
    DeployError,
    deploy_project,
    ensure_infra_work_pools,
    load_environment,
    selected_projects,
)
from flowctl.deployments.prefect_yaml import deployments, prefect_file, required_vars
from flowlib import REPO_ROOT

app = typer.Typer(
    name="deploy",
    help="Deployments, work pools, schedules and Kubernetes manifests of the flow library.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)

ENV_OPTION = typer.Option("local", "--env", "-e", help="Prefect environment: deployments/<env>.env")
PROJECT_OPTION = typer.Option("all", "--project", "-p", help="A project, or all")
GAP_OPTION = typer.Option(15, "--gap-minutes", help="Minimum minutes between two starts on an API")
START_OPTION = typer.Option(None, "--start", help="First day of the horizon (ISO 8601)")
PICTURE_OPTION = typer.Option(Path("deployments/schedule.svg"), "--out", help=".svg or .png")
WEEKS_OPTION = typer.Option(schedules.DEFAULT_WEEKS, "--weeks", help="Horizon length in weeks")


def _fail(message: str) -> typer.Exit:
    typer.secho(message, fg=typer.colors.RED, err=True)
    return typer.Exit(1)


def _environment(env: str) -> dict[str, str]:
    try:
        return load_environment(env)
    except EnvFileError as exc:
        raise _fail(str(exc)) from exc


def _start(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


@app.command("check-env")
def check_env_command(env: str = ENV_OPTION, project: str = PROJECT_OPTION) -> None:
    """Check that deployments/<env>.env sets every {{ $VAR }} of the project files."""
    values = _environment(env)
    try:
        for proj in selected_projects(project):
            path = prefect_file(proj)
            check_vars(
                required_vars(path), values, f"deployments/{env}.env for {path.name} of {proj}"
            )
            typer.echo(f"{proj}: deployments/{env}.env sets all of {sorted(required_vars(path))}")
    except (MissingVariablesError, ValueError) as exc:
        raise _fail(str(exc)) from exc


@app.command("deploy")
def deploy_command(env: str = ENV_OPTION, project: str = PROJECT_OPTION) -> None:
    """Load deployments/<env>.env, check it, and run `prefect deploy --all` per project file."""
    values = _environment(env)
    try:
        jobs.check_image(env, values.get(jobs.IMAGE_VAR))
        for proj in selected_projects(project):
            typer.secho(f"== {proj}: prefect deploy --all ({env})", bold=True)
            deploy_project(proj, values, stream=True)
    except (MissingVariablesError, DeployError, ValueError) as exc:
        raise _fail(str(exc)) from exc


@app.command("work-pool")
def work_pool_command(env: str = ENV_OPTION) -> None:
    """Create or update the environment's dev and prod pools (kubernetes: infra/work-pool/)."""
    values = _environment(env)
    where = f"deployments/{env}.env"
    try:
        check_vars([WORK_POOL_VAR, WORK_POOL_TYPE_VAR], values, where)
        names = ensure_infra_work_pools(values, where=where, stream=True)
    except (MissingVariablesError, DeployError, jobs.ManifestError) as exc:
        raise _fail(str(exc)) from exc
    typer.echo(f"work pools {', '.join(names)} (dev, prod infrastructure) are up to date")


LEGACY_OPTION = typer.Option(
    schedules.LEGACY_SCHEDULES,
    "--legacy",
    help="The legacy schedules: legacy/schedules.json, or `flowctl legacy inventory`'s file",
)


@app.command("schedule-check")
def schedule_check_command(
    gap_minutes: int = GAP_OPTION,
    start: str | None = START_OPTION,
    weeks: int = WEEKS_OPTION,
    legacy: Path = LEGACY_OPTION,
) -> None:
    """Fail when two starts on one source API (legacy or new) are less than the gap apart."""
    try:
        plan = schedules.Plan.load(legacy)
    except schedules.ScheduleError as exc:
        raise _fail(str(exc)) from exc
    try:
        schedules.validate_plan(plan)
    except schedules.ScheduleError as exc:
        raise _fail(str(exc)) from exc
    found = schedules.check(plan, timedelta(minutes=gap_minutes), _start(start), weeks)
    block = schedules.blocking(found)
    legacy_only = [c for c in found if c.legacy_only]
    first, _last = schedules.horizon(_start(start), weeks)
    span = f"{weeks} week(s) from {first:%Y-%m-%d}, gap {gap_minutes} min"
    if legacy_only:
        typer.secho(
            f"note: {len(legacy_only)} collision(s) between legacy flows (Prefect 1 schedules, "
            "not changed by the migration; they end at cutover):",
            fg=typer.colors.YELLOW,
        )
        typer.echo(schedules.summarize(legacy_only, examples=1))
    if block:
        typer.echo(schedules.summarize(block))
        raise _fail(f"{len(block)} collision(s) caused by the new schedules over {span}.")
    typer.secho(f"no collision caused by the new schedules over {span}", fg=typer.colors.GREEN)


@app.command("schedule-propose")
def schedule_propose_command(
    write: bool = typer.Option(
        False, "--write", help="Write the slots into the prefect.yaml files"
    ),
    gap_minutes: int = GAP_OPTION,
    start: str | None = START_OPTION,
    weeks: int = WEEKS_OPTION,
    legacy: Path = LEGACY_OPTION,
) -> None:
    """Propose a deterministic staggered slot for every flow (and optionally write it)."""
    try:
        plan = schedules.Plan.load(legacy)
        proposals = schedules.propose(plan, timedelta(minutes=gap_minutes), _start(start), weeks)
    except (schedules.ScheduleError, ValueError) as exc:
        raise _fail(str(exc)) from exc
    for p in proposals:
        typer.echo(p.describe())
    if write:
        for path in schedules.apply_proposals(proposals):
            typer.echo(f"wrote {path.relative_to(REPO_ROOT)}")
    elif any(p.changed for p in proposals):
        typer.echo("(not written: add --write, or run `make schedule-write`)")


@app.command("schedule-picture")
def schedule_picture_command(
    out: Path = PICTURE_OPTION,
    gap_minutes: int = GAP_OPTION,
    start: str | None = START_OPTION,
) -> None:
    """Draw a week of starts per source API, legacy and new side by side."""
    from flowctl.deployments.picture import render_schedule_picture

    written = render_schedule_picture(out, None, timedelta(minutes=gap_minutes), _start(start))
    typer.echo(f"wrote {written}")


@app.command("render-job")
def render_job_command(
    deployment: str = typer.Argument(
        ..., help="<project>/<deployment>, e.g. sales/products-snapshot"
    ),
    env: str = typer.Option(
        "dev", "--env", "-e", help="Prefect environment: deployments/<env>.env"
    ),
) -> None:
    """Print the Kubernetes Job the worker would create for a run of a deployment (validated)."""
    from flowctl.deployments.prefect_yaml import resolve_env_placeholders

    project, _, name = deployment.partition("/")
    values = _environment(env)
    found = [d for d in deployments(project) if d.name == name]
    if not found:
        raise _fail(f"no deployment {name!r} in {prefect_file(project)}")
    dep = found[0]
    try:
        job_variables = resolve_env_placeholders(dep.job_variables, values, dep.where)
        pool_name = resolve_env_placeholders(dep.work_pool, values, dep.where).get("name", "")
        pool = jobs.pool_for(values, pool_name, f"{dep.where} (deployments/{env}.env)")
        template = jobs.pool_job_template(pool, values.get(jobs.IMAGE_VAR, ""))
        jobs.validate_job_variables(template, job_variables)
        manifest = jobs.render_job_manifest(job_variables, template, deployment_name=dep.name)
        jobs.validate_manifest(manifest)
    except (MissingVariablesError, jobs.ManifestError) as exc:
        raise _fail(str(exc)) from exc
    typer.echo(jobs.dump_manifests([manifest]))


@app.command("worker-manifests")
def worker_manifests_command(
    env: str = typer.Option(
        "dev", "--env", "-e", help="Prefect environment: deployments/<env>.env"
    ),
) -> None:
    """Print both workers' Kubernetes objects, dev and prod infrastructure, for `kubectl apply`."""
    values = _environment(env)
    try:
        documents = jobs.render_infra_worker_manifests(values)
        for doc in documents:
            jobs.validate_manifest(doc)
    except jobs.ManifestError as exc:
        raise _fail(str(exc)) from exc
    sys.stdout.write(jobs.dump_manifests(documents))


def main() -> None:
    """Entry point of ``python -m flowctl.deployments``."""
    app()
