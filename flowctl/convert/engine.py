"""Run the rules over every input module; produce new code, flags and flows."""

from __future__ import annotations

import multiprocessing as mp
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import libcst as cst

from flowctl.convert.index import Entry, Index, collect
from flowctl.convert.model import TODO_PREFIX, Flag, ModuleResult
from flowctl.convert.rules import RULE_IDS, RULES, FileState
from flowctl.convert.rules.base import add_imports
from flowctl.convert.rules.flow import FlowResults

HEADER = "# Converted from {source} by flowctl convert; see docs/convert.md."
FIRST_PARTY = ("flowlib", "flows", "tasks")


@dataclass
class Conversion:
    """Everything one ``flowctl convert`` run produced (nothing written yet)."""

    modules: list[ModuleResult] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def flags(self) -> list[Flag]:
        """Every flag of every module."""
        return [f for m in self.modules for f in m.flags]

    @property
    def errors(self) -> list[ModuleResult]:
        """The modules that could not be parsed."""
        return [m for m in self.modules if m.error]


def convert_entry(
    index: Index, entry: Entry, project: str | None, disabled: set[str]
) -> ModuleResult:
    """Convert one parsed module."""
    result = ModuleResult(
        source=entry.path,
        rel=entry.rel,
        module_in=entry.module_in,
        module_out=entry.module_out,
        path_out=entry.path_out,
        original=entry.text,
    )
    if entry.tree is None:
        result.error = entry.error
        return result
    state = FileState(index=index, entry=entry, project=project)
    tree = entry.tree
    for rule_cls in RULES:
        if rule_cls.id in disabled:
            continue
        rule = rule_cls(state)
        if rule.applies(entry.text):
            tree = rule.run(tree)
    if state.flow_functions:
        tree = FlowResults(state.flow_functions).apply(tree)
    tree = add_imports(tree, state.needed)
    header = cst.EmptyLine(comment=cst.Comment(HEADER.format(source=entry.rel)))
    if not entry.rel.endswith("__init__.py") or tree.body:
        tree = tree.with_changes(header=[header, *tree.header])
    for info in state.flows:
        if info.project is None and "/" in entry.rel:
            info.project = entry.rel.split("/")[0]
    result.code = tree.code
    result.flags = state.flags
    result.flows = state.flows
    return result


def sort_imports(modules: list[ModuleResult], warnings: list[str]) -> None:
    """Sort the import blocks (ruff's isort rule, nothing else), so the output is ruff-clean."""
    try:
        from ruff.__main__ import find_ruff_bin
    except ImportError:
        warnings.append("ruff is not installed: imports were left unsorted (pip install ruff).")
        return
    todo = [m for m in modules if m.code is not None]
    if not todo:
        return
    first_party = sorted({*FIRST_PARTY, *(m.module_out.split(".")[0] for m in todo)})
    with tempfile.TemporaryDirectory(prefix="flowctl-convert-") as tmp:
        root = Path(tmp)
        for m in todo:
            target = root / m.path_out
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(m.code or "", "utf-8")
        cmd = [
            str(find_ruff_bin()),
            "check",
            "--isolated",
            "--fix-only",
            "--exit-zero",
            "--quiet",
            "--select",
            "I",
            "--line-length",
            "100",
            "--target-version",
            "py311",
            "--config",
            f"lint.isort.known-first-party = {first_party!r}".replace("'", '"'),
            ".",
        ]
        proc = subprocess.run(cmd, cwd=root, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            warnings.append(f"ruff could not sort imports: {proc.stderr.strip()[:300]}")
            return
        for m in todo:
            m.code = (root / m.path_out).read_text("utf-8")


def wrap_long_lines(modules: list[ModuleResult], warnings: list[str]) -> None:
    """Format (ruff format, only that statement) each converted line longer than 100 columns."""
    try:
        from ruff.__main__ import find_ruff_bin
    except ImportError:
        return
    ruff = str(find_ruff_bin())
    for m in modules:
        if m.code is None:
            continue
        skipped: set[str] = set()
        for _ in range(50):  # each pass formats the last long line; line numbers above stay
            lines = m.code.splitlines()
            long = [
                i + 1 for i, line in enumerate(lines) if len(line) > 100 and line not in skipped
            ]
            if not long:
                break
            cmd = [
                ruff,
                "format",
                "--isolated",
                "--line-length",
                "100",
                "--range",
                f"{long[-1]}:{long[-1]}",
                "--stdin-filename",
                m.path_out,
                "-",
            ]
            proc = subprocess.run(cmd, input=m.code, capture_output=True, text=True, check=False)
            if proc.returncode != 0 or proc.stdout == m.code:
                warnings.append(f"{m.path_out}:{long[-1]}: line longer than 100 columns left as is")
                skipped.add(lines[long[-1] - 1])
                continue
            m.code = proc.stdout


def locate_flags(module: ModuleResult) -> None:
    """Give each flag the line of its TODO in the output (in order of appearance)."""
    if module.code is None:
        return
    lines = module.code.splitlines()
    starts = [i + 1 for i, line in enumerate(lines) if line.strip().startswith(TODO_PREFIX)]
    from flowctl.convert.rules.base import todo_lines

    pending = list(module.flags)
    for number in starts:
        text = lines[number - 1].strip()
        for flag in pending:
            if todo_lines(flag)[0] == text:
                flag.line = number
                pending.remove(flag)
                break
    for flag in module.flags:
        flag.file = module.path_out
        flag.source = module.rel


def convert_paths(
    paths: Iterable[Path], project: str | None = None, disabled: Iterable[str] = ()
) -> Conversion:
    """Convert every Prefect 1 module under ``paths`` (in memory)."""
    disabled = set(disabled)
    unknown = disabled - set(RULE_IDS)
    if unknown:
        raise ValueError(
            f"unknown rule(s) {', '.join(sorted(unknown))}; rules: {', '.join(RULE_IDS)}"
        )
    index = Index(collect(paths), project)
    conversion = Conversion()
    conversion.modules.extend(_convert_all(index, project, disabled))
    sort_imports(conversion.modules, conversion.warnings)
    wrap_long_lines(conversion.modules, conversion.warnings)
    for module in conversion.modules:
        locate_flags(module)
    return conversion


PARALLEL_FROM = 40  # modules; below that a second process costs more than it saves
_SHARED: tuple[Index, str | None, set[str]] | None = None


def _convert_one(module_in: str) -> ModuleResult:
    assert _SHARED is not None
    index, project, disabled = _SHARED
    return convert_entry(index, index.entries[module_in], project, disabled)


def _convert_all(index: Index, project: str | None, disabled: set[str]) -> list[ModuleResult]:
    """Convert every module; on two processes (fork: the index is shared, not copied) when big."""
    global _SHARED
    names = list(index.entries)
    jobs = min(2, os.cpu_count() or 1)
    if jobs < 2 or len(names) < PARALLEL_FROM or "fork" not in mp.get_all_start_methods():
        return [convert_entry(index, index.entries[n], project, disabled) for n in names]
    _SHARED = (index, project, disabled)
    try:
        with mp.get_context("fork").Pool(jobs) as pool:
            return pool.map(_convert_one, names, chunksize=max(1, len(names) // (jobs * 8)))
    finally:
        _SHARED = None


def python() -> str:
    """The interpreter running flowctl (used by tests to import converted modules)."""
    return sys.executable or shutil.which("python3") or "python3"
