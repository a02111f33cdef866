"""What ``prefect deploy`` would register for one ``prefect.yaml`` deployment, without the CLI.

This follows Prefect 2.20's ``prefect.cli.deploy._run_single_deploy`` step by step, with
Prefect's own helpers where they are public and shared by 2.20 and 3.x:

1. the entry merged with the CLI's defaults; a legacy ``schedule:`` becomes ``schedules:``;
2. ``work_pool.job_variables`` set aside; block and variable references resolved
   (``resolve_block_document_references``, ``resolve_variables``); ``{{ $VAR }}`` placeholders
   replaced from the environment (``apply_values(config, os.environ, remove_notset=False)``);
3. the flow loaded from its entrypoint (``load_flow_from_entrypoint``), its name and parameter
   schema (``parameter_schema``) taken from it, the ``schedules:`` list turned into
   ``DeploymentScheduleCreate`` objects (``active`` defaults to true);
4. the build and push steps' outputs (``run_steps``, run by the caller once per file) applied to
   everything but the schema and schedules (``apply_values(config, step_outputs)``: unresolved
   placeholders are dropped, as in the CLI), and to the pull steps (kept when unresolved);
   a missing ``description`` becomes the flow's docstring; missing ``pull`` steps become
   ``set_working_directory`` to the current directory;
5. ``create_flow_from_name`` and ``create_deployment`` with exactly the CLI's arguments.

Prefect 3's CLI ends differently: it builds a ``RunnerDeployment`` and calls its ``apply()``
(create, or a partial update of an existing deployment; the version from git). There,
:func:`_render_v3` builds the same object with 3.x's own helpers and ``Desired.write`` calls
``apply()``.

flowctl adds checks before anything is written: the entrypoint must import (``prefect deploy``
falls back to a placeholder flow parsed from the source), every parameter must be one the flow
takes and valid for its schema, and the work pool must exist (the caller reads it).
"""

from __future__ import annotations

import inspect
import json
import os
from copy import deepcopy
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from flowctl.common import Problem
from flowctl.repo import FlowLoader, RepoDeployment
from flowctl.server import PAUSED_TAG, jsonable, parameter_schema_json, prefect_major

if TYPE_CHECKING:
    from prefect import Flow
    from prefect.client.orchestration import PrefectClient

# _merge_with_default_deploy_config of prefect.cli.deploy
_DEFAULTS: dict[str, Any] = {
    "name": None,
    "version": None,
    "tags": [],
    "concurrency_limit": None,
    "description": None,
    "flow_name": None,
    "entrypoint": None,
    "parameters": {},
    "work_pool": {"name": None, "work_queue_name": None, "job_variables": {}},
}
# DeploymentResponse fields ``prefect deploy`` sets; compared to decide "unchanged"
COMPARED = (
    "description",
    "version",
    "entrypoint",
    "path",
    "parameters",
    "parameter_openapi_schema",
    "enforce_parameter_schema",
    "tags",
    "work_pool_name",
    "work_queue_name",
    "job_variables",
    "pull_steps",
    "schedules",
    "storage_document_id",
    "infrastructure_document_id",
)
DEFAULT_QUEUE = "default"  # the queue a deployment without work_queue_name lands in


def merged_config(raw: dict[str, Any]) -> dict[str, Any]:
    """The entry with the CLI's defaults filled in and legacy schedule keys handled."""
    config = deepcopy(raw)
    for key, value in _DEFAULTS.items():
        if key not in config:
            config[key] = deepcopy(value)
        if isinstance(value, dict):
            if not isinstance(config[key], dict):
                config[key] = {}
            for k, v in value.items():
                config[key].setdefault(k, deepcopy(v))
    legacy = config.get("schedule")
    if legacy and "schedules" in config:
        raise ValueError("both `schedule:` and `schedules:`; keep only `schedules:`.")
    if legacy and isinstance(legacy, dict):
        config["schedules"] = [legacy]
    config.pop("schedule", None)
    config.pop("is_schedule_active", None)
    return config


def schedule_create(entry: dict[str, Any]) -> Any:
    """One ``schedules:`` entry as ``DeploymentScheduleCreate`` (as the CLI builds it)."""
    from prefect.client.schemas.actions import DeploymentScheduleCreate
    from prefect.client.schemas.schedules import CronSchedule, IntervalSchedule, RRuleSchedule

    cron, interval, rrule = entry.get("cron"), entry.get("interval"), entry.get("rrule")
    timezone, anchor = entry.get("timezone"), entry.get("anchor_date")
    schedule: Any
    if cron:
        schedule = CronSchedule(
            **{k: v for k, v in {"cron": cron, "timezone": timezone}.items() if v is not None}
        )
    elif interval:
        values = {
            "interval": timedelta(seconds=interval),
            "anchor_date": anchor,
            "timezone": timezone,
        }
        schedule = IntervalSchedule(**{k: v for k, v in values.items() if v is not None})  # type: ignore[arg-type]
    elif rrule:
        try:
            schedule = RRuleSchedule(**json.loads(rrule))
            if timezone:
                schedule.timezone = timezone
        except json.JSONDecodeError:
            schedule = RRuleSchedule(rrule=rrule, timezone=timezone)
    else:
        raise ValueError(f"unknown schedule type in {dict(entry)}: give cron, interval or rrule.")
    return DeploymentScheduleCreate(schedule=schedule, active=entry.get("active", True))


@dataclass
class Prepared:
    """A deployment after the steps that need no server: flow loaded, schema built."""

    dep: RepoDeployment
    config: dict[str, Any]
    flow: Flow[Any, Any]
    schema: dict[str, Any]
    build_steps: list[Any]
    push_steps: list[Any]
    pull_steps: list[Any]
    checks: dict[Any, Any] = field(default_factory=dict, repr=False)  # shared by one run


def prepare(dep: RepoDeployment, loader: FlowLoader) -> Prepared | Problem:
    """Merge defaults, load the flow and build its parameter schema (no server needed)."""
    try:
        config = merged_config(dep.raw)
    except ValueError as exc:
        return dep.problem(str(exc), "schedules")
    if config.get("triggers"):
        return dep.problem(
            "`triggers:` are not supported by flowctl deploy (Prefect Cloud only); use "
            "`prefect deploy` for this deployment.",
            "triggers",
        )
    problem = loader.resolve(dep)
    if problem is not None:
        return problem
    flow = loader.load(dep.entrypoint)
    actions = dep.file.actions
    return Prepared(
        dep=dep,
        config=config,
        flow=flow,
        schema=loader.memo(("schema", dep.entrypoint), lambda: parameter_schema_json(flow)),
        build_steps=list(config.get("build", actions.get("build")) or []),
        push_steps=list(config.get("push", actions.get("push")) or []),
        pull_steps=list(config.get("pull", actions.get("pull")) or []),
        checks=loader.memo(("checks",), dict),
    )


def steps_key(prep: Prepared) -> str:
    """Deployments with the same build and push steps share one run of them."""
    return json.dumps([prep.build_steps, prep.push_steps], sort_keys=True, default=str)


@dataclass
class Desired:
    """What ``create_deployment`` is called with, and the same as comparable JSON.

    On Prefect 3 the CLI registers through ``RunnerDeployment.apply``; ``runner`` is that object,
    built as the CLI builds it, ``schedule_specs`` what it passes to ``apply`` and ``kwargs``
    the payload ``apply`` sends when it creates the deployment.
    """

    dep: RepoDeployment
    flow_name: str
    name: str
    kwargs: dict[str, Any]
    fields: dict[str, Any] = field(default_factory=dict)
    runner: Any = None
    schedule_specs: list[dict[str, Any]] | None = None
    version_info: Any = None

    @property
    def key(self) -> tuple[str, str]:
        """``(flow name, deployment name)``: how the server identifies a deployment."""
        return (self.flow_name, self.name)

    @property
    def work_pool_name(self) -> str | None:
        """The (templated) work pool name."""
        return self.kwargs.get("work_pool_name")

    def keep_paused(self, existing: dict[str, Any] | None) -> bool:
        """Keep a ``flowctl pause`` of the server's deployment: tag kept, schedules off.

        Returns:
            True when the server's deployment is paused (and ``self`` was adjusted).
        """
        if not existing or PAUSED_TAG not in (existing.get("tags") or []):
            return False
        tags = list(self.kwargs["tags"] or [])
        if PAUSED_TAG not in tags:
            tags.append(PAUSED_TAG)
        if self.runner is not None:
            self.runner.tags = tags
            self.schedule_specs = [{**s, "active": False} for s in self.schedule_specs or []]
            self.kwargs = _runner_payload(self.runner, self.schedule_specs)
        else:
            from prefect.client.schemas.actions import DeploymentScheduleCreate

            self.kwargs["tags"] = tags
            self.kwargs["schedules"] = [
                DeploymentScheduleCreate(schedule=s.schedule, active=False)
                for s in self.kwargs["schedules"]
            ]
        self.fields = comparable(self.kwargs)
        return True

    async def write(self, client: PrefectClient, flow_id: Any) -> None:
        """Register it: ``create_deployment`` (2.20's CLI), ``RunnerDeployment.apply`` (3.x)."""
        if self.runner is not None:
            await self.runner.aapply(schedules=self.schedule_specs, version_info=self.version_info)
        else:
            await client.create_deployment(flow_id=flow_id, **self.kwargs)


def comparable(kwargs: dict[str, Any]) -> dict[str, Any]:
    """``create_deployment`` arguments as the server's JSON shows them."""
    fields = {k: jsonable(kwargs.get(k)) for k in COMPARED if k in kwargs}
    fields.setdefault("path", None)
    fields.setdefault("storage_document_id", None)
    fields.setdefault("infrastructure_document_id", None)
    fields["schedules"] = [
        {"schedule": _schedule_json(s["schedule"]), "active": s["active"]}
        for s in fields.get("schedules") or []
    ]
    if fields.get("work_queue_name") is None:
        fields["work_queue_name"] = DEFAULT_QUEUE
    if kwargs.get("paused") is not None:
        fields["paused"] = bool(kwargs["paused"])
    return fields


def _schedule_json(schedule: dict[str, Any]) -> dict[str, Any]:
    out = dict(schedule)
    if "timezone" in out and out["timezone"] is None:
        out["timezone"] = "UTC"  # the server's default
    return out


def server_fields(existing: Any) -> dict[str, Any]:
    """A server deployment (``DeploymentResponse``) reduced to the compared fields."""
    data = jsonable(existing)
    fields = {k: data.get(k) for k in COMPARED}
    fields["schedules"] = [
        {"schedule": _schedule_json(s.get("schedule") or {}), "active": bool(s.get("active"))}
        for s in data.get("schedules") or []
    ]
    fields["paused"] = bool(data.get("paused"))
    fields["tags"] = data.get("tags") or []
    return fields


def _default_pull_steps() -> list[dict[str, Any]]:
    return [
        {
            "prefect.deployments.steps.set_working_directory": {
                "directory": str(Path.cwd().absolute().resolve())
            }
        }
    ]


def _missing_work_pool(dep: RepoDeployment, config: dict[str, Any]) -> Problem | None:
    """The problem of a templated deployment that names no work pool (both lines refuse it)."""
    from prefect.utilities.collections import get_from_dict

    if get_from_dict(config, "work_pool.name"):
        return None
    return dep.problem(
        "no work pool: set `work_pool: name:` (FLOWLIB_WORK_POOL in this repository).",
        "work_pool",
    )


async def render(
    prep: Prepared,
    client: PrefectClient,
    step_outputs: dict[str, Any],
    *,
    keep_placeholders: bool = False,
    cache: dict[Any, Any] | None = None,
) -> Desired | Problem:
    """Template one prepared deployment into ``create_deployment`` arguments and check them.

    Args:
        prep: The prepared deployment.
        client: The API client (block and variable references).
        step_outputs: The outputs of the file's build and push steps.
        keep_placeholders: Keep step-output placeholders that have no value (a plan made
            without running the build steps) instead of dropping them as the CLI does.
        cache: Shared by the deployments of one run (Prefect 3: the inferred version info).
    """
    if prefect_major() >= 3:
        return await _render_v3(prep, client, step_outputs, keep_placeholders, cache)
    from prefect.utilities.collections import get_from_dict
    from prefect.utilities.templating import (
        apply_values,
        resolve_block_document_references,
        resolve_variables,
    )

    dep = prep.dep
    config = deepcopy(prep.config)
    try:
        job_variables = config["work_pool"].pop("job_variables", {}) or {}
        config = await resolve_block_document_references(config, client=client)
        config = await resolve_variables(config, client=client)
        config = apply_values(config, dict(os.environ), remove_notset=False)  # type: ignore[assignment]
        config["work_pool"]["job_variables"] = job_variables
        config["flow_name"] = prep.flow.name
        schedules = [schedule_create(s) for s in config.get("schedules") or []]
    except Exception as exc:
        return dep.problem(f"cannot resolve the templates: {exc}")
    if (no_pool := _missing_work_pool(dep, config)) is not None:
        return no_pool
    if not config.get("description"):
        config["description"] = prep.flow.description
    config.pop("schedules", None)
    config = apply_values(config, step_outputs, remove_notset=not keep_placeholders)  # type: ignore[assignment]
    pull_steps = prep.pull_steps or dep.file.actions.get("pull") or _default_pull_steps()
    pull_steps = apply_values(pull_steps, step_outputs, remove_notset=False)
    kwargs: dict[str, Any] = {
        "name": config.get("name"),
        "work_queue_name": get_from_dict(config, "work_pool.work_queue_name"),
        "work_pool_name": get_from_dict(config, "work_pool.name"),
        "version": config.get("version"),
        "schedules": schedules,
        "paused": config.get("paused"),
        "enforce_parameter_schema": config.get("enforce_parameter_schema", False),
        "parameter_openapi_schema": prep.schema,
        "parameters": config.get("parameters"),
        "description": config.get("description"),
        "tags": config.get("tags", []),
        "entrypoint": config.get("entrypoint"),
        "pull_steps": pull_steps,
        "job_variables": get_from_dict(config, "work_pool.job_variables"),
    }
    problem = check_parameters(prep, kwargs["parameters"] or {})
    if problem is not None:
        return problem
    desired = Desired(dep=dep, flow_name=prep.flow.name, name=str(kwargs["name"]), kwargs=kwargs)
    desired.fields = comparable(kwargs)
    return desired


async def _render_v3(
    prep: Prepared,
    client: PrefectClient,
    step_outputs: dict[str, Any],
    keep_placeholders: bool,
    cache: dict[Any, Any] | None,
) -> Desired | Problem:
    """Prefect 3's ``prefect.cli.deploy._core._run_single_deploy``, up to ``apply``."""
    from prefect.cli.deploy._schedules import _schedule_config_to_deployment_schedule
    from prefect.cli.deploy._storage import _PullStepStorage
    from prefect.deployments.runner import RunnerDeployment
    from prefect.utilities.collections import get_from_dict
    from prefect.utilities.templating import (
        apply_values,
        resolve_block_document_references,
        resolve_variables,
    )

    dep = prep.dep
    config = deepcopy(prep.config)
    actions = dep.file.actions
    effective_pull = config["pull"] if "pull" in config else actions.get("pull")
    try:
        config = await resolve_block_document_references(config, client=client)
        config = await resolve_variables(config, client=client)
        config = cast("dict[str, Any]", apply_values(config, dict(os.environ), False))
        config["flow_name"] = prep.flow.name
        if not config.get("description"):
            config["description"] = prep.flow.description
        specs = config.pop("schedules", None)
        schedules = (
            None
            if specs is None
            else [
                _schedule_config_to_deployment_schedule(s)
                for s in cast("list[Any]", apply_values(specs, step_outputs))
            ]
        )
    except Exception as exc:
        return dep.problem(f"cannot resolve the templates: {exc}")
    if (no_pool := _missing_work_pool(dep, config)) is not None:
        return no_pool
    config.pop("triggers", None)
    config = cast(
        "dict[str, Any]",
        apply_values(  # type: ignore[call-arg,unused-ignore]  # skip_prefixes: Prefect 3
            config, step_outputs, remove_notset=not keep_placeholders, skip_prefixes=["ctx."]
        ),
    )
    if isinstance(config.get("concurrency_limit"), dict):
        limit = config["concurrency_limit"]
        options = {"collision_strategy": limit.get("collision_strategy")}
        if limit.get("grace_period_seconds") is not None:
            options["grace_period_seconds"] = limit["grace_period_seconds"]
        config["concurrency_options"] = options
        config["concurrency_limit"] = limit.get("limit")
    if effective_pull == []:
        pull_steps: list[Any] = []
    else:
        pull_steps = (
            prep.pull_steps or config.get("pull") or actions.get("pull") or _default_pull_steps()
        )
    pull_steps = cast("list[Any]", apply_values(pull_steps, step_outputs, False))
    problem = check_parameters(prep, config.get("parameters") or {})
    if problem is not None:
        return problem
    arguments: dict[str, Any] = dict(
        name=config["name"],
        flow_name=config.get("flow_name"),
        entrypoint=config.get("entrypoint"),
        work_pool_name=get_from_dict(config, "work_pool.name"),
        work_queue_name=get_from_dict(config, "work_pool.work_queue_name"),
        parameters=config.get("parameters"),
        description=config.get("description"),
        version=config.get("version"),
        version_type=config.get("version_type"),
        tags=config.get("tags"),
        concurrency_limit=config.get("concurrency_limit"),
        concurrency_options=config.get("concurrency_options"),
        paused=config.get("paused"),
        storage=_PullStepStorage(pull_steps),
        job_variables=get_from_dict(config, "work_pool.job_variables"),
    )
    runner = RunnerDeployment(**arguments)
    runner._set_defaults_from_flow(prep.flow)  # schema, version and description from the flow
    if config.get("enforce_parameter_schema") is not None:
        runner.enforce_parameter_schema = config["enforce_parameter_schema"]
    version_info = await _version_info(runner, {} if cache is None else cache)
    kwargs = _runner_payload(runner, schedules)
    desired = Desired(
        dep=dep,
        flow_name=prep.flow.name,
        name=str(runner.name),
        kwargs=kwargs,
        runner=runner,
        schedule_specs=schedules,
        version_info=version_info,
    )
    desired.fields = comparable(kwargs)
    return desired


async def _version_info(runner: Any, cache: dict[Any, Any]) -> Any:
    """``RunnerDeployment._get_deployment_version_info``, the repository inspected once."""
    from prefect._internal.versioning import get_inferred_version_info
    from prefect.client.schemas.objects import (  # type: ignore[attr-defined,unused-ignore]
        VersionInfo,
    )

    key = ("version_info", runner.version_type)
    if key not in cache:
        cache[key] = await get_inferred_version_info(runner.version_type)
    inferred = cache[key]
    if inferred:
        info = inferred.model_copy()
        if not runner.version or runner._version_from_flow:
            runner.version = info.version
        info.version = runner.version
        return info
    return VersionInfo(version=runner.version or "", type="prefect:simple")


def _runner_payload(runner: Any, schedules: list[dict[str, Any]] | None) -> dict[str, Any]:
    """What ``RunnerDeployment._create`` sends to ``create_deployment`` (Prefect 3)."""
    from prefect.client.schemas.actions import DeploymentScheduleCreate

    pull_steps = runner.storage.to_pull_step() if runner.storage else []
    return {
        "name": runner.name,
        "work_queue_name": runner.work_queue_name,
        "work_pool_name": runner.work_pool_name,
        "version": runner.version,
        "paused": runner.paused,
        "schedules": [DeploymentScheduleCreate(**s) for s in schedules or []],
        "parameters": runner.model_dump(mode="json", include={"parameters"})["parameters"],
        "description": runner.description,
        "tags": list(runner.tags or []),
        "path": None,
        "entrypoint": runner.entrypoint,
        "storage_document_id": None,
        "infrastructure_document_id": None,
        "parameter_openapi_schema": runner._parameter_openapi_schema.model_dump(exclude_unset=True),
        "enforce_parameter_schema": runner.enforce_parameter_schema,
        "job_variables": runner.job_variables,
        "pull_steps": pull_steps if isinstance(pull_steps, list) else [pull_steps],
    }


def check_parameters(prep: Prepared, parameters: dict[str, Any]) -> Problem | None:
    """Every parameter must be one the flow takes and valid for the flow's parameter schema.

    Deployments of one flow with the same parameters share one check (the validator builds
    and checks the schema each time, about 10 ms).
    """
    key = (prep.dep.entrypoint, json.dumps(parameters, sort_keys=True, default=str))
    if key not in prep.checks:
        prep.checks[key] = _parameter_error(prep, parameters)
    found = prep.checks[key]
    return None if found is None else prep.dep.problem(found[0], *found[1])


def _parameter_error(
    prep: Prepared, parameters: dict[str, Any]
) -> tuple[str, tuple[str, ...]] | None:
    from prefect.utilities.schema_tools import CircularSchemaRefError, ValidationError, validate

    signature = inspect.signature(prep.flow.fn)
    takes_any = any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values())
    accepted = [
        n
        for n, p in signature.parameters.items()
        if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]
    if not takes_any:
        for name in parameters:
            if name not in accepted:
                return (
                    f"parameter {name!r} is not a parameter of flow {prep.flow.name} "
                    f"({prep.dep.entrypoint}); it takes: {', '.join(accepted) or 'none'}. "
                    "Remove or rename it.",
                    ("parameters", name),
                )
    try:
        validate(parameters, prep.schema, raise_on_error=True, ignore_required=True)
    except ValidationError as exc:
        return (f"parameters do not fit flow {prep.flow.name}'s signature: {exc}", ("parameters",))
    except CircularSchemaRefError:
        return None  # a schema the validator cannot walk: the server decides, as for the CLI
    return None


@dataclass(frozen=True)
class Change:
    """One differing value: a dotted path (``parameters.target_env``), the server's and ours."""

    path: str
    server: Any
    repo: Any

    def describe(self) -> str:
        """``path: server → repository``."""
        return f"{self.path}: {_short(self.server)} → {_short(self.repo)}"


_MISSING = "<absent>"


def _short(value: Any, limit: int = 120) -> str:
    text = value if value == _MISSING else json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def changes(server: dict[str, Any] | None, desired: dict[str, Any]) -> list[Change]:
    """Where a server deployment differs from the desired fields (``None``: not deployed)."""
    if server is None:
        return [Change(k, _MISSING, v) for k, v in desired.items() if v is not None]
    found: list[Change] = []
    for key, want in desired.items():
        have = server.get(key)
        if key == "tags":
            if sorted(map(str, have or [])) != sorted(map(str, want or [])):
                found.append(Change(key, have, want))
        elif key == "schedules":
            found.extend(_schedule_changes(have or [], want or []))
        elif key == "parameter_openapi_schema":
            if have != want:
                found.append(Change(key, "(another signature)", "(the flow's signature)"))
        else:
            found.extend(_walk(key, have, want))
    return found


def _schedule_changes(have: list[Any], want: list[Any]) -> list[Change]:
    def order(items: list[Any]) -> list[Any]:
        return sorted(items, key=lambda s: json.dumps(s["schedule"], sort_keys=True))

    have, want = order(have), order(want)
    if [s["schedule"] for s in have] != [s["schedule"] for s in want]:
        return [Change("schedules", have, want)]
    return [
        Change(f"schedules[{i}].active", h["active"], w["active"])
        for i, (h, w) in enumerate(zip(have, want, strict=True))
        if h["active"] != w["active"]
    ]


def _walk(path: str, have: Any, want: Any) -> list[Change]:
    if isinstance(have, dict) and isinstance(want, dict):
        found: list[Change] = []
        for key in list(have) + [k for k in want if k not in have]:
            found.extend(_walk(f"{path}.{key}", have.get(key, _MISSING), want.get(key, _MISSING)))
        return found
    if isinstance(have, list) and isinstance(want, list) and len(have) == len(want):
        return [
            c
            for i, (h, w) in enumerate(zip(have, want, strict=True))
            for c in _walk(f"{path}[{i}]", h, w)
        ]
    return [] if have == want else [Change(path, have, want)]
