"""Read ``deployments/<project>/prefect.yaml`` the way ``prefect deploy`` does, without a server.

Prefect loads the file with ``yaml.safe_load`` (anchors and ``<<`` merges resolved) and replaces
``{{ $VAR }}`` placeholders with environment variables. This module does the same, strictly: an
unset variable is an error here, where Prefect would store an empty string.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from prefect.utilities.templating import PLACEHOLDER_CAPTURE_REGEX  # Prefect's own syntax

from flowctl.deployments.envfile import DEPLOYMENTS_DIR, MissingVariablesError, missing_vars
from flowlib import REPO_ROOT

ENV_PREFIX = "$"
PHASES = ("legacy", "shadow", "validated", "cutover", "decommissioned")
ENV_CHECK_SCRIPT = "deployments/check-env.sh"


def display_path(path: Path) -> str:
    """A path relative to the repository root when it is inside it (as people type it)."""
    resolved = path.resolve()
    try:
        return str(resolved.relative_to(REPO_ROOT))
    except ValueError:
        return str(resolved)


class PrefectYamlError(ValueError):
    """A ``prefect.yaml`` is malformed for this project's conventions; names file and deployment."""


def prefect_file(project: str) -> Path:
    """``deployments/<project>/prefect.yaml``."""
    return DEPLOYMENTS_DIR / project / "prefect.yaml"


def project_files() -> dict[str, Path]:
    """Every project's ``prefect.yaml``, by project name (the folder's)."""
    return {p.parent.name: p for p in sorted(DEPLOYMENTS_DIR.glob("*/prefect.yaml"))}


def parse_prefect_yaml(text: str) -> Any:
    """The text as ``prefect deploy`` reads it (``yaml.safe_load``: anchors, ``<<`` merges).

    The one parse of a ``prefect.yaml`` (``flowctl.repo`` and the deploy tooling both use it).

    Raises:
        yaml.YAMLError: The text is not YAML; its marks name line and column.
    """
    return yaml.safe_load(text)


def load_prefect_yaml(path: str | Path) -> dict[str, Any]:
    """The file as Prefect reads it: plain data, anchors and merges resolved."""
    path = Path(path)
    try:
        data = parse_prefect_yaml(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise PrefectYamlError(f"{path}: cannot read: {exc}") from exc
    if not isinstance(data, dict):
        raise PrefectYamlError(f"{path}: expected a mapping at the top level.")
    return data


def _walk_strings(obj: Any) -> list[str]:
    if isinstance(obj, str):
        return [obj]
    if isinstance(obj, Mapping):
        return [s for value in obj.values() for s in _walk_strings(value)]
    if isinstance(obj, list):
        return [s for item in obj for s in _walk_strings(item)]
    return []


def env_placeholders(obj: Any) -> set[str]:
    """The names of every ``{{ $VAR }}`` placeholder in a loaded document (or part of one)."""
    names = set()
    for text in _walk_strings(obj):
        for _full, name in PLACEHOLDER_CAPTURE_REGEX.findall(text):
            if name.startswith(ENV_PREFIX):
                names.add(name[len(ENV_PREFIX) :])
    return names


def required_vars(prefect_yaml: str | Path | Mapping[str, Any]) -> set[str]:
    """Every environment variable a ``prefect.yaml`` references as ``{{ $VAR }}``.

    Args:
        prefect_yaml: A path to the file, or the already loaded document.

    Returns:
        The variable names (without ``$``).
    """
    doc = prefect_yaml if isinstance(prefect_yaml, Mapping) else load_prefect_yaml(prefect_yaml)
    return env_placeholders(doc)


def resolve_env_placeholders(obj: Any, env: Mapping[str, str], where: str = "prefect.yaml") -> Any:
    """Replace ``{{ $VAR }}`` placeholders from ``env`` as ``prefect deploy`` does, but strictly.

    Raises:
        MissingVariablesError: A referenced variable is unset or empty in ``env``.
    """
    missing = missing_vars(env_placeholders(obj), env)
    if missing:
        raise MissingVariablesError(missing, where)

    def resolve(value: Any) -> Any:
        if isinstance(value, str):
            for full, name in PLACEHOLDER_CAPTURE_REGEX.findall(value):
                if name.startswith(ENV_PREFIX):
                    value = value.replace(full, env[name[len(ENV_PREFIX) :]])
            return value
        if isinstance(value, Mapping):
            return {k: resolve(v) for k, v in value.items()}
        if isinstance(value, list):
            return [resolve(v) for v in value]
        return value

    return resolve(obj)


@dataclass(frozen=True)
class ScheduleConfig:
    """One entry of a deployment's ``schedules:`` list, as written (``active`` may be absent)."""

    cron: str | None
    timezone: str | None
    active: bool | None
    raw: Mapping[str, Any] = field(repr=False)


class DeploymentEntry:
    """What every reader of a ``deployments:`` entry takes from it as written (``raw``)."""

    raw: Mapping[str, Any]

    def described(self) -> str:
        """Where this entry is, for error messages (file and deployment name)."""
        return f"deployment {self.name or '?'}"

    @property
    def name(self) -> str:
        """The deployment's name, e.g. ``products-snapshot``."""
        return str(self.raw.get("name") or "")

    @property
    def entrypoint(self) -> str:
        """``flows/<project>/<module>.py:<function>``."""
        return str(self.raw.get("entrypoint") or "")

    @property
    def module_name(self) -> str:
        """The flow module's name, from the entrypoint (``products_snapshot``)."""
        return Path(self.entrypoint.split(":", 1)[0]).stem

    @property
    def parameters(self) -> dict[str, Any]:
        """The deployment's parameters."""
        return dict(self.raw.get("parameters") or {})

    @property
    def tags(self) -> list[str]:
        """The deployment's tags."""
        return [str(t) for t in self.raw.get("tags") or []]

    def tag_value(self, key: str) -> str | None:
        """The value of a ``key:value`` tag (``phase``, ``source``, ``project``), if present."""
        values = [t.split(":", 1)[1] for t in self.tags if t.startswith(f"{key}:")]
        if len(values) > 1:
            raise PrefectYamlError(f"{self.described()}: more than one {key}: tag ({values}).")
        return values[0] if values else None

    @property
    def phase(self) -> str:
        """The migration phase, from the ``phase:<phase>`` tag."""
        phase = self.tag_value("phase")
        if phase not in PHASES:
            raise PrefectYamlError(
                f"{self.described()}: tag phase:{phase} is not one of {', '.join(PHASES)}; "
                "add e.g. phase:shadow to its tags."
            )
        return phase

    @property
    def source_api(self) -> str | None:
        """The source API the flow reads (``source:<api>`` tag); ``None`` for flows reading none."""
        return self.tag_value("source")

    @property
    def source(self) -> str:
        """The source API the flow reads, from the ``source:<api>`` tag (required)."""
        source = self.tag_value("source")
        if not source:
            raise PrefectYamlError(f"{self.described()}: no source:<api> tag.")
        return source

    @property
    def work_pool(self) -> dict[str, Any]:
        """The ``work_pool`` section (name, work_queue_name, job_variables)."""
        return dict(self.raw.get("work_pool") or {})

    @property
    def job_variables(self) -> dict[str, Any]:
        """The ``work_pool.job_variables`` section."""
        return dict(self.work_pool.get("job_variables") or {})

    @property
    def schedules(self) -> list[ScheduleConfig]:
        """The ``schedules:`` entries."""
        entries = self.raw.get("schedules") or []
        return [
            ScheduleConfig(
                cron=e.get("cron"), timezone=e.get("timezone"), active=e.get("active"), raw=e
            )
            for e in entries
        ]


@dataclass(frozen=True)
class DeploymentConfig(DeploymentEntry):
    """One deployment of a ``prefect.yaml``, as loaded (placeholders not resolved)."""

    project: str
    path: Path
    raw: Mapping[str, Any] = field(repr=False)

    @property
    def where(self) -> str:
        """``<file> deployment <name>`` for error messages."""
        return f"{self.path} deployment {self.name or '?'}"

    def described(self) -> str:
        """``<file> deployment <name>``."""
        return self.where


def deployments(project: str | None = None) -> list[DeploymentConfig]:
    """Every deployment of one project's file, or of every project file."""
    files = project_files()
    if project is not None:
        if project not in files:
            raise PrefectYamlError(
                f"{prefect_file(project)} does not exist; projects with deployments: "
                f"{', '.join(files) or 'none'}."
            )
        files = {project: files[project]}
    found = []
    for proj, path in files.items():
        doc = load_prefect_yaml(path)
        for raw in doc.get("deployments") or []:
            found.append(DeploymentConfig(project=proj, path=path, raw=raw))
    return found


def env_check_vars(prefect_yaml: str | Path | Mapping[str, Any]) -> list[str] | None:
    """The variables the file's ``build`` step passes to ``deployments/check-env.sh``.

    Returns:
        The names in the order written, or ``None`` when the file has no such step.
    """
    doc = prefect_yaml if isinstance(prefect_yaml, Mapping) else load_prefect_yaml(prefect_yaml)
    for step in doc.get("build") or []:
        inputs = (step or {}).get("prefect.deployments.steps.run_shell_script") or {}
        words = str(inputs.get("script", "")).split()
        if ENV_CHECK_SCRIPT in words:
            return words[words.index(ENV_CHECK_SCRIPT) + 1 :]
    return None
