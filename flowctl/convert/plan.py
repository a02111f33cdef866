"""Turn a conversion into file changes under a repository root; diff them or write them."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path

from flowctl.convert.emit import CONVERTED, migration_yaml, prefect_yaml, test_skeleton
from flowctl.convert.engine import Conversion
from flowctl.convert.model import FlowInfo

GENERATED = "# Converted from "


@dataclass
class Change:
    """One file to create or replace."""

    path: str  # relative to the root
    new: str
    old: str | None
    source: str | None = None  # the legacy file a module came from (for the diff's left side)

    def diff(self) -> str:
        """A unified diff: from the legacy module (or the current file) to the new text."""
        before = (self.source_text if self.source else self.old) or ""
        left = (
            f"a/{self.source}"
            if self.source
            else (f"a/{self.path}" if self.old is not None else "/dev/null")
        )
        return "".join(
            difflib.unified_diff(
                before.splitlines(keepends=True),
                self.new.splitlines(keepends=True),
                fromfile=left,
                tofile=f"b/{self.path}",
            )
        )

    source_text: str | None = None


@dataclass
class Plan:
    """Every change of one run, and what was refused."""

    changes: list[Change] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def write(self, root: Path) -> list[Path]:
        """Write every change under ``root`` (each file replaced in one step)."""
        written = []
        for change in self.changes:
            target = root / change.path
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(target.name + ".flowctl-tmp")
            tmp.write_text(change.new, "utf-8")
            tmp.replace(target)
            written.append(target)
        return written


def _read(path: Path) -> str | None:
    return path.read_text("utf-8") if path.exists() else None


def plan_changes(conversion: Conversion, root: Path) -> Plan:
    """Where each converted module, deployment, manifest entry and test goes under ``root``."""
    plan = Plan()
    planned: set[str] = set()
    for module in conversion.modules:
        if module.code is None:
            continue
        target = root / module.path_out
        old = _read(target)
        if module.path_out.endswith("__init__.py"):
            if old is None:
                plan.changes.append(
                    Change(module.path_out, module.code, None, module.rel, module.original)
                )
                planned.add(module.path_out)
            continue
        if old is not None and not old.startswith(GENERATED):
            plan.problems.append(
                f"{module.path_out}: exists and was not made by flowctl convert; not replaced "
                f"(convert {module.rel} with --out DIR or --project P to land elsewhere)"
            )
            continue
        if old == module.code:
            continue
        plan.changes.append(Change(module.path_out, module.code, old, module.rel, module.original))
        planned.add(module.path_out)
    # packages on the way
    for path in sorted(planned):
        parent = Path(path).parent
        while parent.parts:
            init = (parent / "__init__.py").as_posix()
            if init not in planned and not (root / init).exists():
                plan.changes.append(Change(init, "", None))
                planned.add(init)
            parent = parent.parent
    by_project: dict[str, list[FlowInfo]] = {}
    for module in conversion.modules:
        if module.path_out not in planned:
            continue
        for info in module.flows:
            if info.project is None:
                plan.problems.append(
                    f"{module.path_out}: flow {info.legacy_name!r} has no project (no "
                    "register(project_name=...) and no project folder): pass --project P"
                )
                continue
            by_project.setdefault(info.project, []).append(info)
    for project, flows in sorted(by_project.items()):
        for rel, make in (
            (f"deployments/{project}/prefect.yaml", prefect_yaml),
            (f"migration/{project}.yaml", migration_yaml),
        ):
            old = _read(root / rel)
            new, problems = make(old, project, flows)
            plan.problems.extend(problems)
            if new != old:
                plan.changes.append(Change(rel, new, old))
        by_module: dict[str, list[FlowInfo]] = {}
        for info in flows:
            by_module.setdefault(info.path_out, []).append(info)
        for path_out, infos in by_module.items():
            folder, _, name = path_out.rpartition("/")
            rel = f"tests/{folder}/test_{name}"
            old = _read(root / rel)
            if old is not None and CONVERTED not in old.splitlines()[0]:
                plan.problems.append(
                    f"{rel}: exists and was not made by flowctl convert; not replaced"
                )
                continue
            new = test_skeleton(infos)
            if new != old:
                plan.changes.append(Change(rel, new, old))
    return plan
