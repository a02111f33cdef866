"""The repository side: the ``prefect.yaml`` files, their deployments, and the selectors.

Files are read the way ``prefect deploy`` reads them (``yaml.safe_load``: anchors and ``<<``
merges resolved) and once more with ruamel.yaml, only to know the line of every key, so errors
name ``file:line`` and the deployment. A file that does not parse is a problem of that file
(its deployments are not known); the other files still load.

Selectors (``--project``, ``--flow``, repeatable; both given: a deployment must match both):

- ``--project P``: the folder ``deployments/P/`` (or the folder of a ``--prefect-file``);
- ``--flow F``: the flow module's name (``products_snapshot``), the deployment's name
  (``products-snapshot``) or ``<flow name>/<deployment name>``.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from flowctl.common import FlowctlError, Problem
from flowctl.deployments.prefect_yaml import (
    DeploymentEntry,
    display_path,
    parse_prefect_yaml,
    project_files,
)

if TYPE_CHECKING:
    from prefect import Flow


@dataclass
class ProjectFile:
    """One ``prefect.yaml``: its project, the data Prefect sees, and where each key is."""

    project: str
    path: Path
    doc: dict[str, Any] = field(repr=False)
    text: str = field(default="", repr=False)

    @functools.cached_property
    def lines(self) -> Any:
        """The ruamel document, only for line numbers (parsed when a message needs one)."""
        return _load_lines(self.text)

    @property
    def shown(self) -> str:
        """The file as shown in messages."""
        return display_path(self.path)

    @property
    def actions(self) -> dict[str, Any]:
        """The file-level ``build``, ``push`` and ``pull`` steps (as ``prefect deploy`` reads)."""
        return {k: self.doc.get(k, []) for k in ("build", "push", "pull")}

    def line(self, index: int, keys: Sequence[str | int] = ()) -> int | None:
        """The 1-based line of ``deployments[index]`` or of a key below it (best effort)."""
        try:
            node = self.lines["deployments"][index]
            line = int(node.lc.line) + 1
        except (KeyError, IndexError, TypeError, AttributeError):
            return None
        for key in keys:
            data = getattr(getattr(node, "lc", None), "data", None) or {}
            if key in data:
                line = int(data[key][0]) + 1
            try:
                node = node[key]
            except (KeyError, IndexError, TypeError):
                break
        return line


@dataclass
class RepoDeployment(DeploymentEntry):
    """One entry of a file's ``deployments:`` list, as Prefect reads it (not templated)."""

    file: ProjectFile = field(repr=False)
    index: int
    raw: dict[str, Any] = field(repr=False)
    flow_name: str | None = None  # the ``@flow(name=...)``, once its entrypoint is loaded

    def __repr__(self) -> str:
        return f"RepoDeployment({self.file.shown!r}, {self.index}, {self.name!r})"

    @property
    def project(self) -> str:
        """The project (the file's folder name)."""
        return self.file.project

    @property
    def full_name(self) -> str:
        """``<flow name>/<deployment name>`` (``?`` until the flow is loaded)."""
        return f"{self.flow_name or '?'}/{self.name}"

    def where(self, *keys: str | int) -> str:
        """``file:line deployment NAME`` (the line of ``keys`` when given), for messages."""
        line = self.file.line(self.index, keys)
        at = f"{self.file.shown}:{line}" if line else self.file.shown
        return f"{at} deployment {self.name or f'#{self.index + 1}'}"

    def described(self) -> str:
        """``file:line deployment NAME``."""
        return self.where()

    def problem(self, message: str, *keys: str | int, bad_input: bool = True) -> Problem:
        """A :class:`Problem` located at this deployment (and ``keys``)."""
        return Problem(self.where(*keys), message, bad_input=bad_input, project=self.project)


@dataclass
class Repository:
    """Every loaded file, its deployments, and the files' own problems."""

    files: list[ProjectFile]
    deployments: list[RepoDeployment]
    problems: dict[str, list[Problem]]  # by project: files that do not load, malformed entries
    projects: list[str]


def _load_lines(text: str) -> Any:
    from ruamel.yaml import YAML

    try:
        return YAML(typ="rt").load(text)
    except Exception:  # line numbers are a convenience; PyYAML already accepted the file
        return None


def _syntax_problem(shown: str, exc: yaml.YAMLError, project: str) -> Problem:
    mark = getattr(exc, "problem_mark", None)
    context_mark = getattr(exc, "context_mark", None)
    where = f"{shown}:{mark.line + 1}:{mark.column + 1}" if mark is not None else shown
    what = " ".join(str(getattr(exc, "problem", None) or exc).split())
    context = getattr(exc, "context", None)
    if context and context_mark is not None:
        what = f"{what} ({context} that starts at line {context_mark.line + 1})"
    elif context:
        what = f"{what} ({context})"
    message = f"YAML syntax error: {what}. Fix the file; nothing of it was used."
    return Problem(where, message, project=project)


def load_file(project: str, path: Path) -> tuple[ProjectFile | None, list[Problem]]:
    """Load one ``prefect.yaml``; a file that cannot be used is returned as problems."""
    shown = display_path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        return None, [Problem(shown, f"cannot read: {exc.strerror or exc}.", project=project)]
    try:
        doc = parse_prefect_yaml(text)
    except yaml.YAMLError as exc:
        return None, [_syntax_problem(shown, exc, project)]
    if not isinstance(doc, dict):
        message = "expected a mapping with a `deployments:` list."
        return None, [Problem(shown, message, project=project)]
    entries = doc.get("deployments")
    if not isinstance(entries, list):
        message = "no `deployments:` list; nothing to deploy."
        return None, [Problem(shown, message, project=project)]
    return ProjectFile(project=project, path=path, doc=doc, text=text), []


def load_repository(prefect_files: Sequence[Path] | None = None) -> Repository:
    """Load ``deployments/*/prefect.yaml`` (or the given files; project = folder name)."""
    if prefect_files:
        pairs = [(Path(p).resolve().parent.name, Path(p)) for p in prefect_files]
    else:
        pairs = list(project_files().items())
    files: list[ProjectFile] = []
    deployments: list[RepoDeployment] = []
    problems: dict[str, list[Problem]] = {}
    projects: list[str] = []
    for project, path in pairs:
        if project not in projects:
            projects.append(project)
        if not path.is_file():
            problems.setdefault(project, []).append(
                Problem(display_path(path), "no such file.", project=project)
            )
            continue
        loaded, found = load_file(project, path)
        problems.setdefault(project, []).extend(found)
        if loaded is None:
            continue
        files.append(loaded)
        seen: dict[str, int] = {}
        for index, raw in enumerate(loaded.doc["deployments"]):
            if not isinstance(raw, dict):
                where = f"{loaded.shown}:{loaded.line(index) or '?'}"
                message = "a deployment must be a mapping."
                problems[project].append(Problem(where, message, project=project))
                continue
            dep = RepoDeployment(file=loaded, index=index, raw=raw)
            if not dep.name:
                problems[project].append(dep.problem("no `name:`; give the deployment a name."))
                continue
            if not dep.entrypoint or ":" not in dep.entrypoint:
                problems[project].append(
                    dep.problem("no `entrypoint: path/to/module.py:flow_function`.", "entrypoint")
                )
                continue
            if dep.name in seen:
                problems[project].append(
                    dep.problem(
                        f"a second deployment named {dep.name!r} (the first is entry "
                        f"#{seen[dep.name] + 1}); rename one.",
                        "name",
                    )
                )
                continue
            seen[dep.name] = index
            deployments.append(dep)
    return Repository(files=files, deployments=deployments, problems=problems, projects=projects)


class FlowLoader:
    """Loads each entrypoint once (``prefect deploy`` runs the module for every deployment).

    Unlike ``prefect deploy``, a module that does not import is an error, not a placeholder flow
    parsed from the source: what would fail on the worker fails here.
    """

    def __init__(self) -> None:
        self._flows: dict[str, Flow[Any, Any] | Exception] = {}
        self._memo: dict[Any, Any] = {}

    def memo(self, key: Any, make: Callable[[], Any]) -> Any:
        """A value computed once per run (a flow's parameter schema, checks of parameters)."""
        if key not in self._memo:
            self._memo[key] = make()
        return self._memo[key]

    def load(self, entrypoint: str) -> Flow[Any, Any]:
        """The flow object of an entrypoint.

        Raises:
            Exception: Whatever importing the module raised (cached).
        """
        if entrypoint not in self._flows:
            from prefect.flows import load_flow_from_entrypoint

            try:
                with warnings.catch_warnings():  # libraries' import-time noise, not ours to fix
                    warnings.simplefilter("ignore", UserWarning)
                    self._flows[entrypoint] = load_flow_from_entrypoint(
                        entrypoint, use_placeholder_flow=False
                    )
            except Exception as exc:
                self._flows[entrypoint] = exc
        found = self._flows[entrypoint]
        if isinstance(found, Exception):
            raise found
        return found

    def resolve(self, dep: RepoDeployment) -> Problem | None:
        """Load a deployment's flow and set its ``flow_name``; a problem when it fails."""
        try:
            flow = self.load(dep.entrypoint)
        except Exception as exc:
            cause = getattr(exc, "user_exc", None) or exc
            return dep.problem(
                f"entrypoint {dep.entrypoint} does not import ({type(cause).__name__}: "
                f"{cause}). Fix the module or the entrypoint (a path relative to the "
                "repository root, `:` and the flow function).",
                "entrypoint",
            )
        if not hasattr(flow, "fn") or not hasattr(flow, "name"):
            return dep.problem(
                f"entrypoint {dep.entrypoint} is not a flow (no @flow decorator).", "entrypoint"
            )
        dep.flow_name = flow.name
        return None


@dataclass
class Selection:
    """The deployments the selectors chose, and the problems of their files.

    A deployment whose entrypoint does not import has ``flow_name`` ``None``;
    ``FlowLoader.resolve`` returns its problem.
    """

    deployments: list[RepoDeployment]
    problems: list[Problem]  # of the chosen projects' files (syntax errors, malformed entries)
    everything: bool  # no selector was given


def _matches(dep: RepoDeployment, selector: str) -> bool:
    if "/" in selector:
        return dep.full_name == selector
    return selector in (dep.module_name, dep.name)


def select(
    repo: Repository,
    projects: Iterable[str] | None,
    flows: Iterable[str] | None,
    loader: FlowLoader,
) -> Selection:
    """The deployments chosen by ``--project`` and ``--flow``, each with its flow loaded.

    Raises:
        FlowctlError: A selector names no project or matches no deployment.
    """
    projects = list(projects or [])
    flows = list(flows or [])
    unknown = [p for p in projects if p not in repo.projects]
    if unknown:
        raise FlowctlError(
            f"no project {', '.join(unknown)}; projects (folders with a prefect.yaml): "
            f"{', '.join(repo.projects) or 'none'}."
        )
    chosen_projects = projects or repo.projects
    problems = [p for proj in chosen_projects for p in repo.problems.get(proj, [])]
    candidates = [d for d in repo.deployments if d.project in chosen_projects]
    if any("/" in f for f in flows):
        for dep in candidates:  # FLOW/DEPLOYMENT needs the flows' names
            loader.resolve(dep)
    if flows:
        chosen = [d for d in candidates if any(_matches(d, f) for f in flows)]
        for selector in flows:
            if not any(_matches(d, selector) for d in candidates):
                known = ", ".join(sorted({d.name for d in candidates})) or "none"
                raise FlowctlError(
                    f"--flow {selector} matches no deployment"
                    f"{' of ' + ', '.join(projects) if projects else ''}; deployments: {known}."
                )
    else:
        chosen = candidates
    for dep in chosen:
        if dep.flow_name is None:
            loader.resolve(dep)
    return Selection(deployments=chosen, problems=problems, everything=not projects and not flows)
