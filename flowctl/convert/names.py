"""Prefect 1 names, and what a name in a module refers to (from its imports)."""

from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

# canonical Prefect 1 names (the short key) and the module paths they were importable from
_P1: dict[str, tuple[str, ...]] = {
    "Flow": ("prefect", "prefect.core", "prefect.core.flow"),
    "Parameter": ("prefect", "prefect.core", "prefect.core.parameter"),
    "DateTimeParameter": ("prefect.core.parameter",),
    "task": ("prefect", "prefect.utilities.tasks"),
    "Task": ("prefect", "prefect.core", "prefect.core.task"),
    "unmapped": ("prefect", "prefect.utilities.edges"),
    "flatten": ("prefect", "prefect.utilities.edges"),
    "mapped": ("prefect", "prefect.utilities.edges"),
    "case": ("prefect", "prefect.tasks.control_flow", "prefect.tasks.control_flow.case"),
    "merge": ("prefect.tasks.control_flow", "prefect.tasks.control_flow.conditional"),
    "ifelse": ("prefect.tasks.control_flow", "prefect.tasks.control_flow.conditional"),
    "switch": ("prefect.tasks.control_flow", "prefect.tasks.control_flow.conditional"),
    "signals": ("prefect.engine",),
    "context": ("prefect",),
    "CronClock": ("prefect.schedules.clocks",),
    "IntervalClock": ("prefect.schedules.clocks",),
    "DatesClock": ("prefect.schedules.clocks",),
    "Schedule": ("prefect.schedules", "prefect.schedules.schedules"),
    "CronSchedule": ("prefect.schedules", "prefect.schedules.schedules"),
    "IntervalSchedule": ("prefect.schedules", "prefect.schedules.schedules"),
    "KubernetesRun": ("prefect.run_configs",),
    "DockerRun": ("prefect.run_configs",),
    "LocalRun": ("prefect.run_configs",),
    "UniversalRun": ("prefect.run_configs",),
    "ECSRun": ("prefect.run_configs",),
    "VertexRun": ("prefect.run_configs",),
    "LocalDaskExecutor": ("prefect.executors",),
    "DaskExecutor": ("prefect.executors",),
    "LocalExecutor": ("prefect.executors",),
    "PrefectSecret": ("prefect.tasks.secrets",),
    "EnvVarSecret": ("prefect.tasks.secrets",),
    "Secret": ("prefect.client", "prefect.client.secrets"),
    "StartFlowRun": ("prefect.tasks.prefect",),
    "create_flow_run": ("prefect.tasks.prefect",),
    "wait_for_flow_run": ("prefect.tasks.prefect",),
    "get_task_run_result": ("prefect.tasks.prefect",),
    "ShellTask": ("prefect.tasks.shell",),
    "resource_manager": ("prefect", "prefect.tasks.core.resource_manager"),
    "defaults_from_attrs": ("prefect.utilities.tasks",),
    "get_key_value": ("prefect.backend", "prefect.backend.kv_store"),
    "set_key_value": ("prefect.backend", "prefect.backend.kv_store"),
    "delete_key": ("prefect.backend", "prefect.backend.kv_store"),
    "list_keys": ("prefect.backend", "prefect.backend.kv_store"),
}
for _storage in ("Docker", "GitHub", "GitLab", "Bitbucket", "S3", "GCS", "Azure", "Local", "Git"):
    _P1[_storage] = ("prefect.storage",)
for _signal in ("SKIP", "FAIL", "SUCCESS", "RETRY", "LOOP", "PAUSE", "ENDRUN", "TRIGGERFAIL"):
    _P1[_signal] = ("prefect.engine.signals",)

P1_NAMES: dict[str, str] = {f"{mod}.{name}": name for name, mods in _P1.items() for mod in mods}
SCHEDULE_CALLS = {
    "CronClock",
    "IntervalClock",
    "DatesClock",
    "Schedule",
    "CronSchedule",
    "IntervalSchedule",
}
RUN_CONFIGS = {"KubernetesRun", "DockerRun", "LocalRun", "UniversalRun", "ECSRun", "VertexRun"}
STORAGES = {"Docker", "GitHub", "GitLab", "Bitbucket", "S3", "GCS", "Azure", "Local", "Git"}
EXECUTORS = {"LocalDaskExecutor", "DaskExecutor", "LocalExecutor"}

# what stays valid in Prefect 2 (the converter's own output and names both lines share)
P2_IMPORTS: dict[str, set[str] | None] = {
    "prefect": {"flow", "task", "unmapped", "get_run_logger", "Task"},
    "prefect.runtime": None,
    "prefect.blocks.system": None,
    "prefect.deployments": {"run_deployment"},
    "prefect.task_runners": None,
    "prefect.states": None,
    "prefect.exceptions": None,
    "prefect.futures": None,
    "prefect.context": None,
    "prefect.logging": None,
}


def dotted(node: cst.BaseExpression) -> str | None:
    """``a.b.c`` for a Name/Attribute chain, else None."""
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        head = dotted(node.value)
        return f"{head}.{node.attr.value}" if head else None
    return None


def module_name(node: cst.BaseExpression | None) -> str:
    """The dotted name of an import's module expression."""
    return dotted(node) or "" if node is not None else ""


class ImportTable:
    """Local name → fully qualified name, from a module's imports (all levels)."""

    def __init__(self, module: cst.Module, module_dotted: str = "") -> None:
        self.names: dict[str, str] = {}
        self.module = module_dotted
        for node in _import_nodes(module.body):
            if isinstance(node, cst.Import):
                self._add_import(node)
            else:
                self._add_import_from(node)

    def _add_import(self, node: cst.Import) -> None:
        for alias in node.names:
            full = module_name(alias.name)
            if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                self.names[alias.asname.name.value] = full
            else:
                head = full.split(".")[0]
                self.names.setdefault(head, head)

    def _add_import_from(self, node: cst.ImportFrom) -> None:
        if isinstance(node.names, cst.ImportStar):
            return
        base = module_name(node.module)
        if node.relative:
            parts = self.module.split(".")
            up = len(node.relative)
            prefix = ".".join(parts[: len(parts) - up]) if up <= len(parts) else ""
            base = ".".join(p for p in (prefix, base) if p)
        for alias in node.names:
            name = module_name(alias.name)
            local = name
            if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                local = alias.asname.name.value
            self.names[local] = f"{base}.{name}" if base else name

    def qualify(self, node: cst.BaseExpression) -> str | None:
        """The fully qualified name an expression refers to, when it is a name chain."""
        name = dotted(node)
        if name is None:
            return None
        head, _, rest = name.partition(".")
        if head in self.names:
            full = self.names[head]
            return f"{full}.{rest}" if rest else full
        return f"{self.module}.{name}" if self.module else name

    def p1(self, node: cst.BaseExpression) -> str | None:
        """The canonical Prefect 1 name an expression refers to (``Flow``, ``CronClock``...)."""
        full = self.qualify(node)
        if full is None:
            return None
        if full in P1_NAMES:
            return P1_NAMES[full]
        if full.startswith("prefect.engine.signals."):
            return full.rsplit(".", 1)[1]
        return None


def _import_nodes(body: Sequence[cst.CSTNode]) -> list[cst.Import | cst.ImportFrom]:
    """Import statements at any statement level (not inside expressions): a fast walk."""
    found: list[cst.Import | cst.ImportFrom] = []
    stack = list(body)
    while stack:
        stmt = stack.pop()
        if isinstance(stmt, cst.SimpleStatementLine):
            found.extend(s for s in stmt.body if isinstance(s, (cst.Import, cst.ImportFrom)))
        elif isinstance(stmt, cst.BaseCompoundStatement):
            block = stmt.body
            if isinstance(block, cst.IndentedBlock):
                stack.extend(block.body)
            for attr in ("orelse", "handlers", "finalbody"):
                extra = getattr(stmt, attr, None)
                if isinstance(extra, (list, tuple)):
                    stack.extend(extra)
                elif extra is not None:
                    stack.append(extra)
        elif isinstance(stmt, (cst.Else, cst.ExceptHandler, cst.Finally, cst.If)):
            block = stmt.body
            if isinstance(block, cst.IndentedBlock):
                stack.extend(block.body)
    return found
