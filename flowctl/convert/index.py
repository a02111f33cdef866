"""The first pass: every input file parsed once, names resolved across files.

It maps each input module to its output module (``legacy/sales/x.py`` → ``flows/sales/x.py``),
records module-level constants (for schedules kept in another module, flow names in constants),
and finds ``Flow`` and ``Task`` subclasses wherever they are defined.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import libcst as cst

from flowctl.convert.names import ImportTable

SKIP_DIRS = {".git", ".venv", "venv", "__pycache__", "node_modules", ".tox", "build", "dist"}


@dataclass
class Entry:
    """One parsed input module."""

    path: Path
    rel: str  # relative to the PATH argument it came from
    module_in: str
    module_out: str
    path_out: str
    text: str
    tree: cst.Module | None = None
    error: str | None = None
    imports: ImportTable | None = None
    constants: dict[str, cst.BaseExpression] = field(default_factory=dict)
    classes: dict[str, list[str]] = field(default_factory=dict)  # name -> qualified bases
    defined: set[str] = field(default_factory=set)  # top-level names


def _package_module(path: Path) -> str:
    """The dotted name of a file, walking up through packages (``__init__.py``)."""
    parts = [path.stem] if path.name != "__init__.py" else []
    folder = path.parent
    while (folder / "__init__.py").exists():
        parts.insert(0, folder.name)
        if folder.parent == folder:
            break
        folder = folder.parent
    return ".".join(parts)


def collect(paths: Iterable[Path]) -> list[tuple[Path, str]]:
    """(file, path relative to its argument) for every ``.py`` file under the arguments."""
    found: dict[Path, str] = {}
    for arg in paths:
        if arg.is_dir():
            for file in sorted(arg.rglob("*.py")):
                rel = file.relative_to(arg)
                if any(p in SKIP_DIRS or p.startswith(".") for p in rel.parts[:-1]):
                    continue
                found.setdefault(file.resolve(), rel.as_posix())
        elif arg.suffix == ".py" and arg.exists():
            found.setdefault(arg.resolve(), arg.name)
        else:
            raise FileNotFoundError(f"{arg}: not a Python file or folder.")
    return [(path, rel) for path, rel in found.items()]


def out_path(rel: str, project: str | None) -> str:
    """Where a module lands in this library: ``flows/[<project>/]<rel>``."""
    if project and rel.startswith(f"{project}/"):
        rel = rel[len(project) + 1 :]
    return "/".join(["flows", *([project] if project else []), rel])


class Index:
    """Every input module, and the names that cross files."""

    def __init__(self, files: list[tuple[Path, str]], project: str | None = None) -> None:
        self.entries: dict[str, Entry] = {}
        self.module_map: dict[str, str] = {}
        for path, rel in files:
            module_in = _package_module(path) or path.stem
            entry = Entry(path, rel, module_in, "", "", path.read_text("utf-8"))
            self.entries[module_in] = entry
        for entry in self.entries.values():
            self._scan(entry)
        for entry in self.entries.values():
            entry.path_out = out_path(entry.rel, project or self._registered_project(entry))
            entry.module_out = (
                entry.path_out.removesuffix(".py").removesuffix("/__init__").replace("/", ".")
            )
            self.module_map[entry.module_in] = entry.module_out
            # the packages on the way map too (`from legacy import common`)
            ins, outs = entry.module_in.split("."), entry.module_out.split(".")
            while len(ins) > 1 and len(outs) > 1 and ins[-1] == outs[-1]:
                ins, outs = ins[:-1], outs[:-1]
                self.module_map.setdefault(".".join(ins), ".".join(outs))
        self.module_roots = {m.split(".")[0] for m in self.module_map}
        self.flow_classes = self._subclasses("Flow")
        self.task_classes = self._subclasses("Task")
        self.flows_by_name = _flow_names(self)

    def _registered_project(self, entry: Entry) -> str | None:
        """The project of ``flow.register(project_name=...)`` in a module, when it is constant."""
        if entry.tree is None or entry.imports is None:
            return None
        from flowctl.convert.evaluate import Unreadable, evaluate

        found: list[str] = []
        index, table = self, entry.imports

        class _Register(cst.CSTVisitor):
            def visit_Call(self, node: cst.Call) -> None:
                if not (
                    isinstance(node.func, cst.Attribute) and node.func.attr.value == "register"
                ):
                    return
                for arg in node.args:
                    if arg.keyword is not None and arg.keyword.value == "project_name":
                        try:
                            value = evaluate(arg.value, table, index.lookup)
                        except Unreadable:
                            return
                        if isinstance(value, str):
                            found.append(value)

        entry.tree.visit(_Register())
        return found[0] if found else None

    def deployment_of(self, legacy_name: str) -> str:
        """The deployment name the converted flow of ``legacy_name`` gets."""
        entry = self.flows_by_name.get(legacy_name)
        if entry is not None:
            return deployment_name(Path(entry.path_out).stem)
        return deployment_name(legacy_name.lower().replace(" ", "-"))

    def _scan(self, entry: Entry) -> None:
        try:
            entry.tree = cst.parse_module(entry.text)
        except cst.ParserSyntaxError as exc:
            entry.error = f"cannot parse: {str(exc).splitlines()[0]} (line {exc.raw_line})"
            return
        entry.imports = ImportTable(entry.tree, entry.module_in)
        for stmt in entry.tree.body:
            if isinstance(stmt, cst.SimpleStatementLine):
                for small in stmt.body:
                    if isinstance(small, cst.Assign) and len(small.targets) == 1:
                        target = small.targets[0].target
                        if isinstance(target, cst.Name):
                            entry.constants[target.value] = small.value
                            entry.defined.add(target.value)
                    elif isinstance(small, cst.AnnAssign) and isinstance(small.target, cst.Name):
                        entry.defined.add(small.target.value)
                        if small.value is not None:
                            entry.constants[small.target.value] = small.value
            elif isinstance(stmt, cst.ClassDef):
                entry.defined.add(stmt.name.value)
                entry.classes[stmt.name.value] = [
                    entry.imports.qualify(b.value) or "" for b in stmt.bases
                ]
            elif isinstance(stmt, cst.FunctionDef):
                entry.defined.add(stmt.name.value)
        entry.defined.update(entry.imports.names)

    def _subclasses(self, p1_name: str) -> set[str]:
        """Qualified names of classes deriving (across files) from a Prefect 1 class."""
        roots = {
            f"{m}.{p1_name}" for m in ("prefect", "prefect.core", f"prefect.core.{p1_name.lower()}")
        }
        found: set[str] = set()
        changed = True
        while changed:
            changed = False
            for entry in self.entries.values():
                for name, bases in entry.classes.items():
                    full = f"{entry.module_in}.{name}"
                    if full not in found and any(b in roots or b in found for b in bases):
                        found.add(full)
                        changed = True
        return found

    def lookup(self, qualified: str) -> tuple[cst.BaseExpression, ImportTable] | None:
        """The expression a module-level name is bound to, following imports across files."""
        for _ in range(8):
            module, _, name = qualified.rpartition(".")
            entry = self.entries.get(module)
            if entry is None or entry.imports is None:
                return None
            if name in entry.constants:
                return entry.constants[name], entry.imports
            target = entry.imports.names.get(name)
            if target is None or target == qualified:
                return None
            qualified = target
        return None


def _flow_names(index: Index) -> dict[str, Entry]:
    """Legacy flow name → the module defining it (for flow-of-flows across files)."""
    from flowctl.convert.evaluate import Unreadable, evaluate

    found: dict[str, Entry] = {}

    class _Calls(cst.CSTVisitor):
        def __init__(self, entry: Entry, table: ImportTable) -> None:
            super().__init__()
            self.entry, self.table = entry, table

        def visit_Call(self, node: cst.Call) -> None:
            full = self.table.qualify(node.func) or ""
            if self.table.p1(node.func) != "Flow" and full not in index.flow_classes:
                return
            args = [a for a in node.args if a.keyword is None or a.keyword.value == "name"]
            if not args:
                return
            try:
                name = evaluate(args[0].value, self.table, index.lookup)
            except Unreadable:
                return
            if isinstance(name, str):
                found.setdefault(name, self.entry)

    for entry in index.entries.values():
        if entry.tree is not None and entry.imports is not None:
            entry.tree.visit(_Calls(entry, entry.imports))
    return found


def deployment_name(stem: str) -> str:
    """A flow module's deployment name: its stem with dashes (``products-snapshot``)."""
    return stem.replace("_", "-")
