"""What every rule shares: the file being converted, flags as TODO comments, needed imports."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from typing import ClassVar

import libcst as cst

from flowctl.convert.index import Entry, Index
from flowctl.convert.model import MIGRATION_DOC, TODO_PREFIX, Flag, FlowInfo
from flowctl.convert.names import ImportTable, module_name

TODO_WIDTH = 84  # text width of a TODO line; with the deepest usual indent it stays under 100


@dataclass
class FileState:
    """One module being converted: shared by the rules, in order."""

    index: Index
    entry: Entry
    project: str | None
    needed: list[tuple[str, str | None, str | None]] = field(default_factory=list)
    flags: list[Flag] = field(default_factory=list)
    flows: list[FlowInfo] = field(default_factory=list)
    aliases: dict[tuple[str, str], str] = field(default_factory=dict)
    flow_functions: set[str] = field(default_factory=set)

    def need(self, module: str, name: str) -> str:
        """Import ``name`` from ``module`` (once); returns the local name to use."""
        key = (module, name)
        if key in self.aliases:
            return self.aliases[key]
        imports = self.entry.imports
        taken = name in self.entry.defined and not (
            imports is not None and imports.names.get(name) == f"{module}.{name}"
        )
        local = f"lib_{name}" if taken else name
        self.needed.append((module, name, local if local != name else None))
        self.aliases[key] = local
        return local

    def need_module(self, module: str) -> None:
        """``import module``."""
        if (module, None, None) not in self.needed:
            self.needed.append((module, None, None))


def todo_lines(flag: Flag) -> list[str]:
    """The comment lines of one flag: ``# TODO(flowctl convert): <construct>: <action>``."""
    text = f"{flag.construct}: {flag.action}"
    return textwrap.wrap(
        text,
        TODO_WIDTH,
        initial_indent=f"{TODO_PREFIX} ",
        subsequent_indent="#   ",
        break_long_words=False,
        break_on_hyphens=False,
    ) or [TODO_PREFIX]


def with_todos(node: cst.CSTNodeT, flags: list[Flag]) -> cst.CSTNodeT:
    """``node`` with one TODO comment block per flag on the lines above it."""
    if not flags or not hasattr(node, "leading_lines"):
        return node
    added = [
        cst.EmptyLine(indent=True, comment=cst.Comment(line))
        for flag in flags
        for line in todo_lines(flag)
    ]
    return node.with_changes(leading_lines=[*node.leading_lines, *added])  # type: ignore[attr-defined]


class Rule(cst.CSTTransformer):
    """One conversion rule: an id, a one-line summary, a libcst transformer."""

    id: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    doc: ClassVar[str] = MIGRATION_DOC

    def __init__(self, state: FileState) -> None:
        super().__init__()
        self.state = state
        self.pending: list[Flag] = []
        self.stack: list[list[Flag]] = []
        self.imports = ImportTable(cst.Module(body=[]), state.entry.module_in)

    # -- flags --------------------------------------------------------------------------------
    # Each statement being visited has its own list of flags (a stack): a flag raised in an
    # `if`/`with`/`def` header lands above that statement, not above the first one in its body.
    def flag(self, construct: str, action: str, ref: str | None = None) -> None:
        """Flag a construct in the statement being visited (a TODO lands above it)."""
        where = ref or self.doc
        self.add(Flag(self.id, construct, f"{action} (see {where})"))

    def add(self, flag: Flag) -> None:
        (self.stack[-1] if self.stack else self.pending).append(flag)

    def _attach(self, node: cst.CSTNodeT, extra: list[Flag] | None = None) -> cst.CSTNodeT:
        flags = [*self.pending, *(extra or [])]
        self.pending = []
        if not flags:
            return node
        self.state.flags.extend(flags)
        return with_todos(node, flags)

    def on_visit(self, node: cst.CSTNode) -> bool:
        if isinstance(node, cst.BaseStatement):
            self.stack.append([])
        return super().on_visit(node)

    def on_leave(  # type: ignore[override]
        self, original_node: cst.CSTNode, updated_node: cst.CSTNode
    ) -> cst.CSTNode | cst.RemovalSentinel | cst.FlattenSentinel[cst.CSTNode]:
        result = super().on_leave(original_node, updated_node)  # type: ignore[type-var]
        if not isinstance(original_node, cst.BaseStatement):
            return result
        own = self.stack.pop() if self.stack else []
        if not own and not self.pending:
            return result
        if isinstance(result, cst.BaseStatement):
            return self._attach(result, own)
        if isinstance(result, cst.FlattenSentinel) and result.nodes:
            first, *rest = result.nodes
            return cst.FlattenSentinel([self._attach(first, own), *rest])
        self.pending.extend(own)  # removed: the flags land on the next statement
        return result

    # -- running ------------------------------------------------------------------------------
    def applies(self, text: str) -> bool:
        """Cheap pre-check on the module's code: skip the pass when it cannot match."""
        return "prefect" in text

    def run(self, tree: cst.Module) -> cst.Module:
        self.imports = ImportTable(tree, self.state.entry.module_in)
        out = tree.visit(self)
        if self.pending:  # a flag outside any statement (should not happen): keep it visible
            self.state.flags.extend(self.pending)
            self.pending = []
        return out

    # -- helpers ------------------------------------------------------------------------------
    def p1(self, node: cst.BaseExpression) -> str | None:
        return self.imports.p1(node)

    def qualify(self, node: cst.BaseExpression) -> str | None:
        return self.imports.qualify(node)


def code_of(node: cst.CSTNode) -> str:
    """The source of one node (for messages)."""
    return cst.Module(body=[]).code_for_node(node)


def kwarg(call: cst.Call, name: str, position: int | None = None) -> cst.Arg | None:
    """The argument named ``name`` (or at ``position`` when given positionally)."""
    for arg in call.args:
        if arg.keyword is not None and arg.keyword.value == name:
            return arg
    if position is not None:
        positional = [a for a in call.args if a.keyword is None and not a.star]
        if len(positional) > position:
            return positional[position]
    return None


def format_snippet(code: str, width: int) -> str:
    """``code`` formatted by ruff at ``width`` columns when a line is longer (else unchanged)."""
    if all(len(line) <= width for line in code.splitlines()):
        return code
    try:
        from ruff.__main__ import find_ruff_bin
    except ImportError:
        return code
    import subprocess

    cmd = [str(find_ruff_bin()), "format", "--isolated", "--line-length", str(width), "-"]
    proc = subprocess.run(cmd, input=code, capture_output=True, text=True, check=False)
    return proc.stdout.rstrip("\n") if proc.returncode == 0 else code


def add_imports(tree: cst.Module, needed: list[tuple[str, str | None, str | None]]) -> cst.Module:
    """Insert the imports the rules need next to the module's first import block.

    Duplicates of what the module already imports at the top level are skipped; ruff's import
    sorting (run afterwards) merges and orders them.
    """
    have: set[tuple[str, str | None, str | None]] = set()
    for stmt in tree.body:
        if not isinstance(stmt, cst.SimpleStatementLine):
            continue
        for small in stmt.body:
            if isinstance(small, cst.Import):
                for alias in small.names:
                    have.add((module_name(alias.name), None, None))
            elif isinstance(small, cst.ImportFrom) and not isinstance(small.names, cst.ImportStar):
                for alias in small.names:
                    asname = (
                        alias.asname.name.value
                        if alias.asname and isinstance(alias.asname.name, cst.Name)
                        else None
                    )
                    have.add((module_name(small.module), module_name(alias.name), asname))
    lines = []
    for module, name, asname in needed:
        if (module, name, asname) in have:
            continue
        have.add((module, name, asname))
        if name is None:
            lines.append(cst.parse_statement(f"import {module}\n"))
        else:
            suffix = f" as {asname}" if asname else ""
            lines.append(cst.parse_statement(f"from {module} import {name}{suffix}\n"))
    if not lines:
        return tree
    body = list(tree.body)
    at = 0
    if body and _is_docstring_stmt(body[0]):
        at = 1
    first_import = next((i for i in range(at, len(body)) if _is_import(body[i])), None)
    if first_import is None:
        lines[0] = lines[0].with_changes(leading_lines=[cst.EmptyLine(indent=False)] if at else [])
        body[at:at] = [*lines]
        if at + len(lines) < len(body):
            nxt = body[at + len(lines)]
            body[at + len(lines)] = nxt.with_changes(
                leading_lines=[cst.EmptyLine(indent=False), *nxt.leading_lines]
            )
        return tree.with_changes(body=body)
    end = first_import
    while end < len(body) and _is_import(body[end]):
        end += 1
    body[end:end] = lines
    return tree.with_changes(body=body)


def _is_import(stmt: cst.BaseStatement) -> bool:
    return isinstance(stmt, cst.SimpleStatementLine) and all(
        isinstance(s, (cst.Import, cst.ImportFrom)) for s in stmt.body
    )


def _is_docstring_stmt(stmt: cst.BaseStatement) -> bool:
    return (
        isinstance(stmt, cst.SimpleStatementLine)
        and isinstance(stmt.body[0], cst.Expr)
        and isinstance(stmt.body[0].value, (cst.SimpleString, cst.ConcatenatedString))
    )
