"""The migration plan in the repository: ``migration/<project>.yaml``, one file per project.

Each file lists the project's flows with their legacy (Prefect 1) name and project, the new
deployment, the source API, the criticality and wave (non-critical flows first), the phase the
flow should be in, and how a recovery run of the legacy flow covers a failed new run
(``recovery``, see :mod:`flowlib.migration.recovery`). ``flowctl status`` groups by wave and
``flowctl diff`` compares the declared phase with the one on the server.

A file reads top to bottom::

    project: sales
    quiet_period_days: 14          # before decommission (optional; default 14)
    flows:
      - flow: products_snapshot    # flows/sales/products_snapshot.py
        legacy:
          name: sales-products-snapshot
          project: sales
          parameters: [as_of, sample]
          slot: {cron: "0 2 * * *", timezone: UTC}
        deployment: sales-products-snapshot/products-snapshot
        source_api: shop
        criticality: low
        wave: 1
        phase: shadow
        recovery:                  # legacy parameter: how to derive it from the failed run
          as_of: {param: as_of, default: scheduled_date}
          sample: {param: sample}
        recovery_runs: each        # one recovery run per missed slot; `latest` for incremental
                                   # flows whose last run catches up from the watermark
        validation:                # optional: relaxations of the exact validation, the slot
          allow_new_columns: [x]   # period and the cutover gate's days
          cutover_days: 3          # (flowlib.validation.rules documents every key)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast, get_args

import yaml

from flowlib import REPO_ROOT
from flowlib.migration.model import MigrationError, Phase, check_phase
from flowlib.validation.rules import EXACT, Relaxations, RulesError, parse_relaxations

MANIFEST_DIR = REPO_ROOT / "migration"
MANIFEST_DIR_VAR = "FLOWLIB_MIGRATION_DIR"
DEFAULT_QUIET_PERIOD_DAYS = 14

Criticality = Literal["low", "medium", "high", "critical"]
RecoveryRuns = Literal["each", "latest"]
CRITICALITIES: tuple[Criticality, ...] = get_args(Criticality)
DERIVATIONS = ("scheduled_date", "previous_day", "scheduled_hour", "scheduled_start")


class ManifestError(MigrationError):
    """A manifest is malformed; the message names the file, the flow and the field."""


@dataclass(frozen=True)
class RecoveryParam:
    """How one legacy parameter of a recovery run is derived from the failed new run.

    ``param``: copy this parameter of the failed run when it was set; else ``default``: one of
    ``scheduled_date`` / ``previous_day`` (a ``YYYY-MM-DD`` date of the run's scheduled start in
    ``timezone``), ``scheduled_hour`` / ``scheduled_start`` (ISO 8601 UTC); with neither, the
    parameter is left out and the legacy flow uses its own default (e.g. its watermark).
    """

    param: str | None = None
    default: str | None = None
    timezone: str = "UTC"

    def to_dict(self) -> dict[str, Any]:
        """As written in the manifest."""
        out: dict[str, Any] = {}
        if self.param:
            out["param"] = self.param
        if self.default:
            out["default"] = self.default
        if self.timezone != "UTC":
            out["timezone"] = self.timezone
        return out


@dataclass(frozen=True)
class LegacyRef:
    """The legacy Prefect 1 flow: its name and project there, its parameters and its slot."""

    name: str
    project: str
    parameters: tuple[str, ...] = ()
    slot: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FlowPlan:
    """One flow's migration plan, as declared in its project's manifest."""

    project: str
    flow: str
    legacy: LegacyRef
    deployment: str
    source_api: str
    criticality: Criticality
    wave: int
    phase: Phase
    recovery: dict[str, RecoveryParam]
    quiet_period_days: int = DEFAULT_QUIET_PERIOD_DAYS
    recovery_runs: RecoveryRuns = "each"
    path: Path | None = None
    validation: Relaxations = EXACT

    @property
    def key(self) -> str:
        """``<project>/<flow>``."""
        return f"{self.project}/{self.flow}"

    @property
    def flow_name(self) -> str:
        """The Prefect flow's name (the deployment name's first part)."""
        return self.deployment.split("/", 1)[0]

    def snapshot(self) -> dict[str, Any]:
        """What automation needs without the manifest file (stored in the phase record)."""
        return {
            "legacy_name": self.legacy.name,
            "legacy_project": self.legacy.project,
            "legacy_slot": dict(self.legacy.slot),
            "deployment": self.deployment,
            "source_api": self.source_api,
            "criticality": self.criticality,
            "wave": self.wave,
            "recovery": {k: v.to_dict() for k, v in self.recovery.items()},
            "recovery_runs": self.recovery_runs,
        }


def manifest_dir() -> Path:
    """``migration/`` at the repository root, or ``FLOWLIB_MIGRATION_DIR``."""
    import os

    configured = os.environ.get(MANIFEST_DIR_VAR)
    return Path(configured) if configured else MANIFEST_DIR


def _require(entry: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in entry or entry[key] in (None, ""):
        raise ManifestError(f"{where}: `{key}` is required.")
    return entry[key]


def _phase(value: str, where: str) -> Phase:
    try:
        return check_phase(value, f"{where} phase")
    except MigrationError as exc:
        raise ManifestError(str(exc)) from exc


def parse_recovery(raw: Any, where: str) -> dict[str, RecoveryParam]:
    """Parse a ``recovery:`` mapping (legacy parameter -> derivation)."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ManifestError(f"{where}: `recovery` must map legacy parameters to derivations.")
    out = {}
    for name, spec in raw.items():
        spec = spec or {}
        if not isinstance(spec, Mapping) or set(spec) - {"param", "default", "timezone"}:
            raise ManifestError(
                f"{where}: recovery.{name} takes `param`, `default` and `timezone` only."
            )
        default = spec.get("default")
        if default is not None and default not in DERIVATIONS:
            raise ManifestError(
                f"{where}: recovery.{name}.default {default!r} is not one of "
                f"{', '.join(DERIVATIONS)}."
            )
        if not spec.get("param") and not default:
            raise ManifestError(f"{where}: recovery.{name} needs `param` or `default`.")
        out[str(name)] = RecoveryParam(
            param=spec.get("param"), default=default, timezone=str(spec.get("timezone", "UTC"))
        )
    return out


def parse_manifest(data: Any, path: Path | None = None) -> list[FlowPlan]:
    """Parse one project's manifest document into flow plans (in file order)."""
    where = str(path or "manifest")
    if not isinstance(data, Mapping):
        raise ManifestError(f"{where}: expected a mapping with `project` and `flows`.")
    project = str(_require(data, "project", where))
    if path is not None and path.stem != project:
        raise ManifestError(f"{where}: declares project {project!r}; name the file {project}.yaml.")
    quiet = int(data.get("quiet_period_days", DEFAULT_QUIET_PERIOD_DAYS))
    plans = []
    seen: set[str] = set()
    for index, entry in enumerate(data.get("flows") or []):
        spot = f"{where} flows[{index}]"
        if not isinstance(entry, Mapping):
            raise ManifestError(f"{spot}: expected a mapping.")
        flow = str(_require(entry, "flow", spot))
        spot = f"{where} flow {flow}"
        if flow in seen:
            raise ManifestError(f"{spot}: listed twice.")
        seen.add(flow)
        legacy = _require(entry, "legacy", spot)
        if not isinstance(legacy, Mapping):
            raise ManifestError(f"{spot}: `legacy` must have `name` and `project`.")
        criticality = str(_require(entry, "criticality", spot))
        if criticality not in CRITICALITIES:
            raise ManifestError(
                f"{spot}: criticality {criticality!r} is not one of {', '.join(CRITICALITIES)}."
            )
        wave = entry.get("wave")
        if not isinstance(wave, int) or wave < 1:
            raise ManifestError(f"{spot}: `wave` must be a whole number from 1.")
        recovery_runs = str(entry.get("recovery_runs", "each"))
        if recovery_runs not in ("each", "latest"):
            raise ManifestError(f"{spot}: recovery_runs must be `each` or `latest`.")
        try:
            validation = parse_relaxations(entry.get("validation"), spot)
        except RulesError as exc:
            raise ManifestError(str(exc)) from exc
        deployment = str(_require(entry, "deployment", spot))
        if deployment.count("/") != 1:
            raise ManifestError(
                f"{spot}: deployment {deployment!r} must be `<flow name>/<deployment name>`."
            )
        plans.append(
            FlowPlan(
                project=project,
                flow=flow,
                legacy=LegacyRef(
                    name=str(_require(legacy, "name", f"{spot} legacy")),
                    project=str(_require(legacy, "project", f"{spot} legacy")),
                    parameters=tuple(str(p) for p in legacy.get("parameters") or ()),
                    slot=dict(legacy.get("slot") or {}),
                ),
                deployment=deployment,
                source_api=str(_require(entry, "source_api", spot)),
                criticality=cast(Criticality, criticality),
                wave=wave,
                phase=_phase(str(_require(entry, "phase", spot)), spot),
                recovery=parse_recovery(entry.get("recovery"), spot),
                quiet_period_days=int(entry.get("quiet_period_days", quiet)),
                recovery_runs=cast(RecoveryRuns, recovery_runs),
                path=path,
                validation=validation,
            )
        )
        unknown = set(plans[-1].recovery) - set(plans[-1].legacy.parameters)
        if plans[-1].legacy.parameters and unknown:
            raise ManifestError(
                f"{spot}: recovery sets {', '.join(sorted(unknown))}, which the legacy flow "
                f"does not have (legacy.parameters: {', '.join(plans[-1].legacy.parameters)})."
            )
    return plans


def load_manifest(path: Path) -> list[FlowPlan]:
    """Read and parse one manifest file."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ManifestError(f"{path}: cannot read: {exc}") from exc
    return parse_manifest(data, path)


@dataclass(frozen=True)
class Manifests:
    """Every project's plan; looks flows up by project and name."""

    plans: tuple[FlowPlan, ...]

    @classmethod
    def load(cls, directory: Path | None = None) -> Manifests:
        """Every ``<project>.yaml`` in the directory (default :func:`manifest_dir`)."""
        directory = directory or manifest_dir()
        files = sorted(directory.glob("*.yaml"))
        if not files:
            raise ManifestError(f"{directory}: no migration manifests (<project>.yaml) found.")
        return cls(tuple(p for f in files for p in load_manifest(f)))

    @property
    def projects(self) -> list[str]:
        """The projects with a manifest."""
        return sorted({p.project for p in self.plans})

    def select(self, project: str | None = None, flow: str | None = None) -> list[FlowPlan]:
        """The plans of one project (or all), optionally one flow; errors name what exists."""
        if project is not None and project not in self.projects:
            raise ManifestError(
                f"no manifest for project {project!r}: add migration/{project}.yaml "
                f"(projects with one: {', '.join(self.projects)})."
            )
        plans = [p for p in self.plans if project is None or p.project == project]
        if flow is not None:
            wanted = normalize_flow(flow, project)
            plans = [p for p in plans if p.flow == wanted]
            if not plans:
                raise ManifestError(
                    f"flow {flow!r} is not in the manifest of {project or 'any project'}; "
                    f"flows: {', '.join(p.flow for p in self.select(project))}."
                )
        return sorted(plans, key=lambda p: (p.wave, p.project, p.flow))

    def get(self, project: str, flow: str) -> FlowPlan:
        """One flow's plan."""
        return self.select(project, flow)[0]

    def by_flow_name(self, flow_name: str) -> FlowPlan | None:
        """The plan whose Prefect flow is named ``flow_name``, if any."""
        for plan in self.plans:
            if plan.flow_name == flow_name:
                return plan
        return None


def normalize_flow(flow: str, project: str | None = None) -> str:
    """Accept the module name, the dashed deployment name or ``<project>-<deployment>``."""
    name = flow.strip()
    if "/" in name:
        name = name.split("/", 1)[0]
    if project and name.startswith(f"{project}-"):
        name = name[len(project) + 1 :]
    return name.replace("-", "_")


def split_flow_name(flow_name: str, projects: list[str]) -> tuple[str, str] | None:
    """``sales-products-snapshot`` -> ``("sales", "products_snapshot")`` given the projects."""
    for project in sorted(projects, key=len, reverse=True):
        if flow_name.startswith(f"{project}-"):
            return project, flow_name[len(project) + 1 :].replace("-", "_")
    return None
