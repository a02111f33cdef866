"""The last rules: what is left of Prefect 1 imports, and imports of the converted modules."""

from __future__ import annotations

import ast
from typing import cast

import libcst as cst

from flowctl.convert.model import PREFECT_GUIDE
from flowctl.convert.names import P1_NAMES, P2_IMPORTS, module_name
from flowctl.convert.rules.base import Rule


def _used_names(tree: cst.Module | str) -> tuple[set[str], set[str]]:
    """Names used outside import statements, and those used as class bases.

    Read with the standard library's ``ast`` (C speed) from the module's code.
    """
    code = tree if isinstance(tree, str) else tree.code
    used: set[str] = set()
    bases: set[str] = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Name):
            used.add(node.id)
        elif isinstance(node, ast.ClassDef):
            bases.update(b.id for b in node.bases if isinstance(b, ast.Name))
    return used, bases


def _valid_in_prefect2(module: str, name: str | None) -> bool:
    if not (module == "prefect" or module.startswith("prefect.")):
        return True
    if module not in P2_IMPORTS:
        return module.startswith(("prefect.runtime", "prefect.blocks", "prefect.variables"))
    allowed = P2_IMPORTS[module]
    return name is None or allowed is None or name in allowed


class Prefect1ImportsRule(Rule):
    """Unused Prefect 1 imports removed; used ones (unconverted) flagged, with a placeholder."""

    id = "prefect1-imports"
    summary = "unused Prefect 1 imports removed; still-used ones flagged with a placeholder"

    def run(self, tree: cst.Module) -> cst.Module:
        self.used, self.bases = _used_names(tree)
        self.placeholders: list[tuple[str, str]] = []
        P2_IMPORTS.setdefault("prefect.variables", None)
        out = super().run(tree)
        if not self.placeholders:
            return out
        out = _UseFlagger(self.state, {name for name, _ in self.placeholders}).run(out)
        # placeholders right after the last top-level import, so the module still imports
        body = list(out.body)
        last = 0
        for i, stmt in enumerate(body):
            if isinstance(stmt, cst.SimpleStatementLine) and isinstance(
                stmt.body[0], (cst.Import, cst.ImportFrom)
            ):
                last = i + 1
        added: list[cst.BaseStatement] = []
        for name, full in self.placeholders:
            value = "object" if name in self.bases else "None"
            self.flag(
                f"Prefect 1 {full}",
                "has no Prefect 2 form the converter knows; replace its uses "
                f"(this placeholder keeps the module importable: {name} = {value})",
                PREFECT_GUIDE,
            )
            added.append(self._attach(cst.parse_statement(f"{name} = {value}\n")))
        first = cast(cst.SimpleStatementLine, added[0])
        added[0] = first.with_changes(leading_lines=[cst.EmptyLine(), *first.leading_lines])
        body[last:last] = cast(list[cst.SimpleStatementLine | cst.BaseCompoundStatement], added)
        return out.with_changes(body=body)

    def leave_Import(
        self, original_node: cst.Import, updated_node: cst.Import
    ) -> cst.Import | cst.RemovalSentinel:
        kept = []
        for alias in updated_node.names:
            full = module_name(alias.name)
            local = (
                alias.asname.name.value
                if alias.asname and isinstance(alias.asname.name, cst.Name)
                else full.split(".")[0]
            )
            if full.split(".")[0] != "prefect":
                kept.append(alias)
            elif local not in self.used:
                continue
            elif _valid_in_prefect2(full, None) or (alias.asname is None and local == "prefect"):
                kept.append(alias)
            else:
                self.placeholders.append((local, full))
        if not kept:
            return cst.RemoveFromParent()
        kept[-1] = kept[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
        return updated_node.with_changes(names=kept)

    def leave_ImportFrom(
        self, original_node: cst.ImportFrom, updated_node: cst.ImportFrom
    ) -> cst.ImportFrom | cst.RemovalSentinel:
        module = module_name(updated_node.module)
        if updated_node.relative or not (module == "prefect" or module.startswith("prefect.")):
            return updated_node
        if isinstance(updated_node.names, cst.ImportStar):
            self.flag(f"from {module} import *", "import the names you use")
            return updated_node
        kept = []
        for alias in updated_node.names:
            name = module_name(alias.name)
            local = (
                alias.asname.name.value
                if alias.asname and isinstance(alias.asname.name, cst.Name)
                else name
            )
            if local not in self.used:
                continue  # converted away (or never used)
            full = f"{module}.{name}"
            if (_valid_in_prefect2(module, name) and full not in ("prefect.context",)) or (
                full in P1_NAMES and P1_NAMES[full] == "Task"
            ):
                kept.append(alias)
            else:
                self.placeholders.append((local, full))
        if not kept:
            return cst.RemoveFromParent()
        kept[-1] = kept[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
        return updated_node.with_changes(
            names=kept,
            lpar=updated_node.lpar if len(kept) > 1 else None,
            rpar=updated_node.rpar if len(kept) > 1 else None,
        )


class LocalImportsRule(Rule):
    """Imports of converted modules follow them (``legacy.common`` → ``flows.common``)."""

    id = "local-imports"
    summary = "imports between converted modules rewritten to their new location"

    def applies(self, text: str) -> bool:
        return any(root in text for root in self.state.index.module_roots)

    def _map(self, dotted: str) -> str | None:
        mapping = self.state.index.module_map
        parts = dotted.split(".")
        for cut in range(len(parts), 0, -1):
            head = ".".join(parts[:cut])
            if head in mapping:
                return ".".join([mapping[head], *parts[cut:]])
        return None

    def leave_ImportFrom(
        self, original_node: cst.ImportFrom, updated_node: cst.ImportFrom
    ) -> cst.ImportFrom:
        if updated_node.relative or updated_node.module is None:
            return updated_node
        new = self._map(module_name(updated_node.module))
        if new is None:
            return updated_node
        return updated_node.with_changes(module=cst.parse_expression(new))

    def leave_Import(self, original_node: cst.Import, updated_node: cst.Import) -> cst.Import:
        names = []
        for alias in updated_node.names:
            new = self._map(module_name(alias.name))
            if new is not None and alias.asname is not None:
                alias = alias.with_changes(name=cst.parse_expression(new))
            elif new is not None:
                self.flag(
                    f"import {module_name(alias.name)}",
                    f"now {new}: update the uses (import {new} as ...)",
                )
            names.append(alias)
        return updated_node.with_changes(names=names)


class UnusedImportsRule(Rule):
    """Imports whose last use a rule converted away (``pendulum`` of a schedule) are removed.

    Imports that were already unused in the original stay: that is not the converter's change.
    """

    id = "unused-imports"
    summary = "imports left unused by the conversion removed"

    def applies(self, text: str) -> bool:
        return True

    def run(self, tree: cst.Module) -> cst.Module:
        assert self.state.entry.tree is not None
        if tree is self.state.entry.tree:  # no rule changed anything
            return tree
        before, _ = _used_names(self.state.entry.text)
        after, _ = _used_names(tree)
        self.gone = before - after
        if not self.gone:
            return tree
        return super().run(tree)

    def _local(self, alias: cst.ImportAlias) -> str:
        if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
            return alias.asname.name.value
        return module_name(alias.name).split(".")[0]

    def leave_Import(
        self, original_node: cst.Import, updated_node: cst.Import
    ) -> cst.Import | cst.RemovalSentinel:
        kept = [a for a in updated_node.names if self._local(a) not in self.gone]
        if not kept:
            return cst.RemoveFromParent()
        kept[-1] = kept[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
        return updated_node.with_changes(names=kept)

    def leave_ImportFrom(
        self, original_node: cst.ImportFrom, updated_node: cst.ImportFrom
    ) -> cst.ImportFrom | cst.RemovalSentinel:
        if isinstance(updated_node.names, cst.ImportStar):
            return updated_node
        kept = [a for a in updated_node.names if self._local(a) not in self.gone]
        if not kept:
            return cst.RemoveFromParent()
        kept[-1] = kept[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
        return updated_node.with_changes(names=kept)


class _UseFlagger(Rule):
    """Flags each statement using a placeholder of a Prefect 1 name (part of prefect1-imports)."""

    id = "prefect1-imports"

    def __init__(self, state: object, names: set[str]) -> None:
        super().__init__(state)  # type: ignore[arg-type]
        self.names = names

    def visit_Import(self, node: cst.Import) -> bool:
        return False

    def visit_ImportFrom(self, node: cst.ImportFrom) -> bool:
        return False

    def on_visit(self, node: cst.CSTNode) -> bool:
        if isinstance(node, cst.BaseStatement) and hasattr(node, "leading_lines"):
            self.comments = " ".join(
                line.comment.value for line in node.leading_lines if line.comment is not None
            )
        return super().on_visit(node)

    def visit_Name(self, node: cst.Name) -> None:
        own = self.stack[-1] if self.stack else self.pending
        if node.value in getattr(self, "comments", ""):
            return  # an earlier rule already flagged this statement for the same name
        if node.value in self.names and not any(node.value in f.construct for f in own):
            self.flag(
                f"use of Prefect 1 {node.value}",
                "this still needs Prefect 1; rewrite it for Prefect 2 or delete it",
                PREFECT_GUIDE,
            )
