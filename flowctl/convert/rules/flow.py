r"""The flow rule: ``with Flow(...) as flow:`` (or ``Flow(...)`` built step by step) → ``@flow``.

The flow's body becomes the function's body; ``Parameter``\\ s become typed arguments (plus
``target_env`` and ``sample``); schedule, run config, storage and labels leave the code for the
deployment entry; the executor becomes a task runner; state handlers become hooks; the
``__main__`` block runs ``run_cli``.
"""

from __future__ import annotations

import json
import keyword
import re
from dataclasses import dataclass, field
from typing import Any, cast

import libcst as cst

from flowctl.convert.evaluate import Unreadable, evaluate
from flowctl.convert.model import PREFECT_GUIDE, Clock, FlowInfo, Param
from flowctl.convert.names import RUN_CONFIGS, STORAGES
from flowctl.convert.rules.base import Rule, code_of, kwarg

FLOW_ATTRS = {"schedule", "run_config", "storage", "executor", "result", "state_handlers"}
IMPERATIVE = {"add_task", "set_dependencies", "add_edge", "chain", "update"}


def names_in(node: cst.CSTNode) -> set[str]:
    """Every Name used in a node."""
    found: set[str] = set()

    class _V(cst.CSTVisitor):
        def visit_Name(self, n: cst.Name) -> None:
            found.add(n.value)

    node.visit(_V())
    return found


def annotation_of(value: Any, required: bool) -> str:
    """A parameter's type, from its default."""
    if required:
        return "str"
    for kind, text in ((bool, "bool"), (int, "int"), (float, "float"), (str, "str")):
        if isinstance(value, kind):
            return text
    if isinstance(value, list):
        return "list[Any]"
    if isinstance(value, dict):
        return "dict[str, Any]"
    return "str | None"


def identifier(name: str) -> str:
    """A Python identifier from a parameter or flow name."""
    ident = re.sub(r"\W+", "_", name).strip("_").lower() or "value"
    if ident[0].isdigit() or keyword.iskeyword(ident):
        ident = f"p_{ident}"
    return ident


def flow_results(body: list[cst.BaseStatement]) -> list[str]:
    """Names a flow body assigns and never reads again: the flow returns them."""
    out: list[str] = []
    for i, stmt in enumerate(body):
        if not isinstance(stmt, cst.SimpleStatementLine):
            continue
        for small in stmt.body:
            if not isinstance(small, cst.Assign):
                continue
            for target in small.targets:
                found: list[cst.BaseExpression] = (
                    [target.target] if isinstance(target.target, cst.Name) else []
                )
                if isinstance(target.target, cst.Tuple):
                    found = [e.value for e in target.target.elements]
                later = set().union(*(names_in(s) for s in body[i + 1 :]))
                for name in found:
                    if (
                        isinstance(name, cst.Name)
                        and name.value not in later
                        and name.value not in out
                    ):
                        out.append(name.value)
    return out


class FlowResults:
    """After all rules: each converted flow returns what its body computed and did not use."""

    def __init__(self, functions: set[str]) -> None:
        self.functions = functions

    def apply(self, tree: cst.Module) -> cst.Module:
        """The module with each converted flow's ``return {...}`` completed."""
        body = [
            self._function(s)
            if isinstance(s, cst.FunctionDef) and s.name.value in self.functions
            else s
            for s in tree.body
        ]
        return tree.with_changes(body=body)

    def _function(self, updated_node: cst.FunctionDef) -> cst.FunctionDef:
        body = list(updated_node.body.body)
        last = body[-1] if body else None
        if not (
            isinstance(last, cst.SimpleStatementLine)
            and isinstance(last.body[0], cst.Return)
            and isinstance(last.body[0].value, cst.Dict)
        ):
            return updated_node
        ret = last.body[0]
        assert isinstance(ret.value, cst.Dict)
        first = ret.value.elements[0]
        names = flow_results(cast(list[cst.BaseStatement], body[:-1]))
        elements = [first.with_changes(comma=cst.MaybeSentinel.DEFAULT)] + [
            cst.DictElement(cst.SimpleString(f'"{n}"'), cst.Name(n)) for n in names
        ]
        new = last.with_changes(
            body=[ret.with_changes(value=ret.value.with_changes(elements=elements))]
        )
        return updated_node.with_changes(
            body=updated_node.body.with_changes(body=[*body[:-1], new])
        )


@dataclass
class _Flow:
    var: str
    call: cst.Call
    body: list[cst.BaseStatement] = field(default_factory=list)
    attrs: dict[str, cst.BaseExpression] = field(default_factory=dict)
    leading: list[cst.EmptyLine] = field(default_factory=list)
    subclass: str | None = None


class FlowRule(Rule):
    """``Flow`` → ``@flow`` function, its deployment facts recorded for prefect.yaml."""

    id = "flow"
    summary = "with Flow(...) / Flow(...).add_task → @flow function; Parameter → typed args"

    # -- the module ---------------------------------------------------------------------------
    def leave_Module(self, original_node: cst.Module, updated_node: cst.Module) -> cst.Module:
        body = list(updated_node.body)
        flows: dict[str, _Flow] = {}
        out: list[cst.BaseStatement | str] = []  # a str marks where a flow's function lands
        runs: list[cst.BaseStatement] = []
        for stmt in body:
            made = self._flow_definition(stmt)
            if made is not None:
                flows[made.var] = made
                out.append(made.var)
                continue
            var = self._flow_statement(stmt, flows)
            if var is None and flows and self._parameter_assign(stmt):
                var = list(flows)[-1]
                flows[var].body.append(stmt)
            if var is not None:
                out.remove(var)
                out.append(var)  # an imperative flow's function lands after its last step
                continue
            if self._is_main(stmt) and flows:
                out.append(stmt)  # rewritten below, once functions have names
                continue
            if flows and self._flow_call_statement(stmt, flows):
                runs.append(stmt)
                continue
            used = names_in(stmt) & set(flows)
            if used and not isinstance(stmt, (cst.FunctionDef, cst.ClassDef)):
                var = sorted(used)[0]
                self.flag(
                    f"Prefect 1 flow object {var!r}",
                    f"{var} is now a @flow function: Prefect 2 has no flow object to copy "
                    "(deepcopy), visualize or change; make a second @flow or a second "
                    "deployment with other parameters",
                    PREFECT_GUIDE,
                )
                out.append(self._attach(stmt))
                continue
            out.append(stmt)
        if not flows:
            return updated_node
        functions: dict[str, str] = {}
        for var in flows:
            self.state.entry.defined.discard(var)
        taken = set(self.state.entry.defined)
        made_functions: dict[str, cst.FunctionDef] = {}
        for var, spec in flows.items():
            fn_name, func = self._function(spec, len(flows), taken)
            taken.add(fn_name)
            functions[var] = fn_name
            made_functions[var] = func
            self.state.flow_functions.add(fn_name)
        final: list[cst.BaseStatement] = []
        has_main = False
        for item in out:
            if isinstance(item, str):
                final.append(made_functions[item])
                continue
            if self._is_main(item):
                has_main = True
                item = self._main(item, functions, runs)
            final.append(item)
        if not has_main:
            first = next(iter(functions.values()))
            for run in runs:
                small = run.body[0] if isinstance(run, cst.SimpleStatementLine) else None
                call = small.value if isinstance(small, (cst.Expr, cst.Assign)) else None
                if (
                    isinstance(call, cst.Call)
                    and isinstance(call.func, cst.Attribute)
                    and call.func.attr.value == "register"
                    and isinstance(call.func.value, cst.Name)
                ):
                    self._register(call, functions[call.func.value.value])
            if len(functions) > 1:
                self.flag(
                    f"{len(functions)} flows in one module",
                    f"the __main__ block runs {first}; give each flow its own module (the house "
                    "shape) or run the others with prefect deployment run",
                )
            if runs:
                self.flag(
                    "flow.run() / flow.register() at import",
                    "the module ran or registered its flow when imported; it now runs from the "
                    "__main__ block (python -m <module>), and deploys with prefect deploy",
                )
            final.append(self._attach(self._main_block(first)))
        return updated_node.with_changes(body=final)

    def _parameter_assign(self, stmt: cst.BaseStatement) -> bool:
        if not isinstance(stmt, cst.SimpleStatementLine) or len(stmt.body) != 1:
            return False
        small = stmt.body[0]
        return (
            isinstance(small, cst.Assign)
            and isinstance(small.value, cst.Call)
            and self.p1(small.value.func) in ("Parameter", "DateTimeParameter")
        )

    @staticmethod
    def _flow_call_statement(stmt: cst.BaseStatement, flows: dict[str, _Flow]) -> bool:
        """``flow.run(...)`` / ``flow.register(...)`` as a statement of its own."""
        if not isinstance(stmt, cst.SimpleStatementLine) or len(stmt.body) != 1:
            return False
        small = stmt.body[0]
        call = small.value if isinstance(small, (cst.Expr, cst.Assign)) else None
        return (
            isinstance(call, cst.Call)
            and isinstance(call.func, cst.Attribute)
            and isinstance(call.func.value, cst.Name)
            and call.func.value.value in flows
            and call.func.attr.value in ("run", "register", "visualize")
        )

    # -- recognising flows --------------------------------------------------------------------
    def _flow_call(self, node: cst.BaseExpression | None) -> tuple[bool, str | None]:
        if not isinstance(node, cst.Call):
            return False, None
        if self.p1(node.func) == "Flow":
            return True, None
        full = self.qualify(node.func) or ""
        if full in self.state.index.flow_classes:
            return True, full
        return False, None

    def _flow_definition(self, stmt: cst.BaseStatement) -> _Flow | None:
        if isinstance(stmt, cst.With) and len(stmt.items) == 1:
            item = stmt.items[0]
            ok, sub = self._flow_call(item.item)
            if ok and item.asname is not None and isinstance(item.asname.name, cst.Name):
                assert isinstance(item.item, cst.Call)
                body = list(stmt.body.body) if isinstance(stmt.body, cst.IndentedBlock) else []
                return _Flow(
                    item.asname.name.value,
                    item.item,
                    body,
                    leading=list(stmt.leading_lines),
                    subclass=sub,
                )
        if isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1:
            small = stmt.body[0]
            if isinstance(small, cst.Assign) and len(small.targets) == 1:
                target = small.targets[0].target
                ok, sub = self._flow_call(small.value)
                if ok and isinstance(target, cst.Name):
                    assert isinstance(small.value, cst.Call)
                    return _Flow(
                        target.value, small.value, leading=list(stmt.leading_lines), subclass=sub
                    )
        return None

    def _flow_statement(self, stmt: cst.BaseStatement, flows: dict[str, _Flow]) -> str | None:
        """Absorb ``with flow:``, ``flow.add_task(...)``, ``flow.schedule = ...``; the var."""
        if isinstance(stmt, cst.With) and len(stmt.items) == 1:
            item = stmt.items[0].item
            if isinstance(item, cst.Name) and item.value in flows and stmt.items[0].asname is None:
                if isinstance(stmt.body, cst.IndentedBlock):
                    flows[item.value].body.extend(stmt.body.body)
                return item.value
        if not isinstance(stmt, cst.SimpleStatementLine) or len(stmt.body) != 1:
            return None
        small = stmt.body[0]
        if isinstance(small, cst.Assign) and len(small.targets) == 1:
            target = small.targets[0].target
            if (
                isinstance(target, cst.Attribute)
                and isinstance(target.value, cst.Name)
                and target.value.value in flows
                and target.attr.value in FLOW_ATTRS
            ):
                flows[target.value.value].attrs[target.attr.value] = small.value
                return target.value.value
        if isinstance(small, cst.Expr) and isinstance(small.value, cst.Call):
            func = small.value.func
            if (
                isinstance(func, cst.Attribute)
                and isinstance(func.value, cst.Name)
                and func.value.value in flows
                and func.attr.value in IMPERATIVE
            ):
                flows[func.value.value].body.append(stmt)
                return func.value.value
        return None

    # -- the function -------------------------------------------------------------------------
    def _read(self, node: cst.BaseExpression) -> Any:
        return evaluate(node, self.imports, self.state.index.lookup)

    def _function(self, spec: _Flow, count: int, taken: set[str]) -> tuple[str, cst.FunctionDef]:
        entry = self.state.entry
        kwargs = {a.keyword.value: a.value for a in spec.call.args if a.keyword is not None}
        positional = [a.value for a in spec.call.args if a.keyword is None]
        name_node = kwargs.pop("name", positional[0] if positional else None)
        legacy_name = ""
        if name_node is not None:
            try:
                legacy_name = str(self._read(name_node))
            except Unreadable:
                legacy_name = code_of(name_node)
        kwargs.update(spec.attrs)
        stem = entry.path_out.rsplit("/", 1)[-1].removesuffix(".py")
        fn_name = identifier(stem if count == 1 and stem != "__init__" else legacy_name or spec.var)
        if fn_name in taken:
            fn_name = f"{fn_name}_flow"
        info = FlowInfo(
            legacy_name=legacy_name,
            function=fn_name,
            module_out=entry.module_out,
            path_out=entry.path_out,
            source=entry.rel,
        )
        params, body = self._parameters(spec.body, info)
        body = self._imperative(spec.var, body)
        deco_args = [f"name={code_of(name_node)}" if name_node is not None else f'name="{fn_name}"']
        hooks = self.state.need("flowlib.hooks", "FAILURE_HOOKS")
        on_failure = hooks
        extra_hooks: list[str] = []
        for key, value in kwargs.items():
            if key == "schedule":
                self._schedule(value, info)
            elif key == "run_config":
                info.run_config = self._config(value, RUN_CONFIGS, "run config")
                info.labels = list(info.run_config.pop("labels", []) or [])
            elif key == "storage":
                info.storage = self._config(value, STORAGES, "storage")
            elif key == "executor":
                runner = self._executor(value)
                if runner:
                    deco_args.append(f"task_runner={runner}")
            elif key in ("state_handlers", "on_failure"):
                handlers = (
                    [code_of(e.value) for e in value.elements]
                    if isinstance(value, (cst.List, cst.Tuple))
                    else [code_of(value)]
                )
                extra_hooks.extend(handlers)
                self.flag(
                    f"Flow({key}=...)",
                    "became on_failure/on_completion hooks, called as (flow, flow_run, state) "
                    "instead of (flow, old_state, new_state); check the handler's arguments",
                )
            else:
                self.flag(
                    f"Flow({key}=...)",
                    f"dropped (was {code_of(value)[:60]}); Prefect 2 has no such flow option",
                    PREFECT_GUIDE,
                )
        if extra_hooks:
            on_failure = f"[*{hooks}, {', '.join(extra_hooks)}]"
            deco_args.append(f"on_completion=[{', '.join(extra_hooks)}]")
        deco_args[1:1] = [f"on_failure={on_failure}", f"on_crashed={hooks}"]
        if spec.subclass:
            self.flag(
                f"custom Flow class {spec.subclass.rsplit('.', 1)[-1]}",
                "Prefect 2 flows are functions: move what the subclass added (defaults, "
                "handlers, storage) into @flow arguments or the deployment",
                PREFECT_GUIDE,
            )
        info.params = params
        info.project = self.state.project
        self.state.flows.append(info)
        func = self._build(fn_name, legacy_name or fn_name, deco_args, params, body, spec)
        return fn_name, self._attach(func)

    def _parameters(
        self, body: list[cst.BaseStatement], info: FlowInfo
    ) -> tuple[list[Param], list[cst.BaseStatement]]:
        params: list[Param] = []
        kept: list[cst.BaseStatement] = []
        rule = self

        class _Inline(cst.CSTTransformer):
            def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.BaseExpression:
                if rule.p1(original.func) in ("Parameter", "DateTimeParameter"):
                    return cst.Name(rule._param(original, params).name)
                return updated

        for stmt in body:
            if (
                isinstance(stmt, cst.SimpleStatementLine)
                and len(stmt.body) == 1
                and isinstance(stmt.body[0], cst.Assign)
                and isinstance(stmt.body[0].value, cst.Call)
                and self.p1(stmt.body[0].value.func) in ("Parameter", "DateTimeParameter")
                and isinstance(stmt.body[0].targets[0].target, cst.Name)
            ):
                param = self._param(stmt.body[0].value, params)
                var = stmt.body[0].targets[0].target
                assert isinstance(var, cst.Name)
                if var.value != param.name:
                    kept.append(
                        stmt.with_changes(
                            body=[stmt.body[0].with_changes(value=cst.Name(param.name))]
                        )
                    )
                continue
            kept.append(stmt.visit(_Inline()))  # type: ignore[arg-type]
        return params, kept

    def _param(self, call: cst.Call, params: list[Param]) -> Param:
        name_arg = kwarg(call, "name", 0)
        raw = (
            name_arg.value.evaluated_value
            if name_arg and isinstance(name_arg.value, cst.SimpleString)
            else "param"
        )
        name = identifier(str(raw))
        for existing in params:
            if existing.name == name:
                return existing
        default = kwarg(call, "default", 1)
        required_arg = kwarg(call, "required", 2)
        required = required_arg is not None and code_of(required_arg.value) == "True"
        if default is None and required_arg is None:
            required = True  # Parameter("x") with neither default nor required: required
        param = Param(name=name, required=required, annotation="str" if required else "str | None")
        if default is not None and not required:
            param.default_src = code_of(default.value)
            try:
                param.default = self._read(default.value)
                param.annotation = annotation_of(param.default, False)
            except Unreadable:
                param.annotation = ""
        elif not required:
            param.default_src = "None"
        if self.p1(call.func) == "DateTimeParameter":
            param.annotation = "datetime" if required else "datetime | None"
            self.state.need("datetime", "datetime")
        if "Any" in param.annotation:
            self.state.need("typing", "Any")
        if str(raw) != name:
            self.flag(f"Parameter {raw!r}", f"renamed to {name} (a Python identifier)")
        params.append(param)
        return param

    def _imperative(self, var: str, body: list[cst.BaseStatement]) -> list[cst.BaseStatement]:
        """``flow.add_task(t)`` / ``flow.set_dependencies(task=t, ...)`` → calls in order."""
        out: list[cst.BaseStatement] = []
        results: dict[str, str] = {}

        def ref(node: cst.BaseExpression) -> cst.BaseExpression:
            if isinstance(node, cst.Name) and node.value in results:
                return cst.Name(results[node.value])
            return node

        for stmt in body:
            call = None
            if isinstance(stmt, cst.SimpleStatementLine) and isinstance(stmt.body[0], cst.Expr):
                value = stmt.body[0].value
                if (
                    isinstance(value, cst.Call)
                    and isinstance(value.func, cst.Attribute)
                    and isinstance(value.func.value, cst.Name)
                    and value.func.value.value == var
                ):
                    call = value
            if call is None:
                out.append(stmt)
                continue
            assert isinstance(call.func, cst.Attribute)
            method = call.func.attr.value
            task_arg = kwarg(call, "task", 0)
            if (
                method in ("add_task", "set_dependencies")
                and task_arg is not None
                and isinstance(task_arg.value, cst.Name)
            ):
                task_name = task_arg.value.value
                args: list[cst.Arg] = []
                kw = kwarg(call, "keyword_tasks")
                if kw is not None and isinstance(kw.value, cst.Dict):
                    for el in kw.value.elements:
                        if isinstance(el, cst.DictElement) and isinstance(el.key, cst.SimpleString):
                            args.append(
                                cst.Arg(
                                    ref(el.value), keyword=cst.Name(str(el.key.evaluated_value))
                                )
                            )
                elif (
                    kw is not None
                    and isinstance(kw.value, cst.Call)
                    and code_of(kw.value.func) == "dict"
                ):
                    args.extend(a.with_changes(value=ref(a.value)) for a in kw.value.args)
                up = kwarg(call, "upstream_tasks")
                if up is not None and isinstance(up.value, (cst.List, cst.Tuple)):
                    waits = [cst.Element(ref(e.value)) for e in up.value.elements]
                    args.append(cst.Arg(cst.List(waits), keyword=cst.Name("wait_for")))
                if kwarg(call, "mapped") is not None:
                    self.flag(f"{var}.{method}(mapped=...)", "use task.map(...) in the flow body")
                result = f"{task_name}_result"
                results[task_name] = result
                line = cst.parse_statement(f"{result} = {task_name}()")
                assert isinstance(line, cst.SimpleStatementLine)
                assign = line.body[0]
                assert isinstance(assign, cst.Assign) and isinstance(assign.value, cst.Call)
                out.append(
                    line.with_changes(
                        body=[assign.with_changes(value=assign.value.with_changes(args=args))],
                        leading_lines=getattr(stmt, "leading_lines", ()),
                    )
                )
                continue
            self.flag(
                f"{var}.{method}(...)", "express the dependency with wait_for=[...] on the call"
            )
            out.append(self._attach(stmt))
        return out

    def _schedule(self, node: cst.BaseExpression, info: FlowInfo) -> None:
        try:
            clocks = self._read(node)
        except Unreadable as exc:
            info.schedule_unread = True
            self.flag(
                "schedule",
                f"could not be read statically ({exc}); write schedules: in the deployment",
            )
            return
        if isinstance(clocks, Clock):
            clocks = [clocks]
        info.clocks = [c for c in clocks if isinstance(c, Clock)]

    def _config(self, node: cst.BaseExpression, kinds: set[str], what: str) -> dict[str, Any]:
        table = self.imports
        if isinstance(node, (cst.Name, cst.Attribute)):  # a constant, maybe in another module
            found = self.state.index.lookup(self.qualify(node) or "")
            if found is not None:
                node, table = found
        if not isinstance(node, cst.Call) or table.p1(node.func) not in kinds:
            self.flag(what, f"not a known Prefect 1 {what}; set the deployment's job variables")
            return {}
        out: dict[str, Any] = {"type": table.p1(node.func)}
        for arg in node.args:
            if arg.keyword is None:
                continue
            try:
                out[arg.keyword.value] = evaluate(arg.value, table, self.state.index.lookup)
            except Unreadable:
                self.flag(
                    f"{what} {arg.keyword.value}",
                    f"not a constant ({code_of(arg.value)[:50]}); set it in prefect.yaml",
                )
        return out

    def _executor(self, node: cst.BaseExpression) -> str | None:
        kind = self.p1(node.func) if isinstance(node, cst.Call) else None
        if kind == "LocalDaskExecutor":
            return f"{self.state.need('prefect.task_runners', 'ConcurrentTaskRunner')}()"
        if kind == "LocalExecutor":
            return None
        self.flag(
            f"executor {code_of(node)[:50]}",
            "install prefect-dask and pass task_runner=DaskTaskRunner(address=...) (tasks run "
            "on the flow's default task runner until then)",
            PREFECT_GUIDE,
        )
        return None

    def _build(
        self,
        fn_name: str,
        label: str,
        deco_args: list[str],
        params: list[Param],
        body: list[cst.BaseStatement],
        spec: _Flow,
    ) -> cst.FunctionDef:
        flow = self.state.need("prefect", "flow")
        env_type = self.state.need("flowlib.settings", "TargetEnv")
        resolve = self.state.need("flowlib.settings", "resolve_target_env")
        logger = self.state.need("flowlib.runtime", "run_logger")
        required = [p for p in params if p.required]
        optional = [p for p in params if not p.required]
        names = {p.name for p in params}
        sig = [f"{p.name}: {p.annotation}" if p.annotation else p.name for p in required]
        sig.append(f"target_env: {env_type} | None = None")
        for p in optional:
            ann = f": {p.annotation}" if p.annotation else ""
            sig.append(f"{p.name}{ann} = {p.default_src}" if ann else f"{p.name}={p.default_src}")
        if "sample" not in names:
            sig.append("sample: bool = False")
        used = set().union(*(names_in(s) for s in body)) if body else set()
        env_var = "env" if "env" not in used and "env" not in names else "resolved_env"
        decorator = f"@{flow}(\n    " + ",\n    ".join(deco_args) + ",\n)"
        one_line = f"def {fn_name}({', '.join(sig)}) -> dict[str, object]:"
        header = (
            one_line
            if len(one_line) <= 100
            else f"def {fn_name}(\n    " + ",\n    ".join(sig) + ",\n) -> dict[str, object]:"
        )
        doc = f'"""Converted from the Prefect 1 flow {label} by flowctl convert."""'
        if len(doc) > 96:
            doc = '"""Converted from a Prefect 1 flow by flowctl convert."""'
        code = (
            f"{decorator}\n{header}\n    {doc}\n"
            f"    {env_var} = {resolve}(target_env)\n"
            f'    {logger}().info("%s into %s (sample=%s)", '
            f"{json.dumps(label)}, {env_var}, sample)\n"
        )
        results = ", ".join(f'"{n}": {n}' for n in flow_results(body))
        code += f'    return {{"target_env": {env_var}{", " if results else ""}{results}}}\n'
        func = cst.parse_statement(code)
        assert isinstance(func, cst.FunctionDef) and isinstance(func.body, cst.IndentedBlock)
        head, ret = list(func.body.body[:-1]), func.body.body[-1]
        new_body = [*head, *body, ret]
        leading = list(spec.leading)
        blanks = 0
        for line in leading:
            if line.comment is not None:
                break
            blanks += 1
        leading = [cst.EmptyLine(indent=False)] * max(0, 2 - blanks) + leading
        return func.with_changes(body=func.body.with_changes(body=new_body), leading_lines=leading)

    # -- __main__ ------------------------------------------------------------------------------
    @staticmethod
    def _is_main(stmt: cst.BaseStatement) -> bool:
        return (
            isinstance(stmt, cst.If)
            and "__name__" in code_of(stmt.test)
            and "__main__" in code_of(stmt.test)
        )

    def _main_block(self, fn_name: str) -> cst.BaseStatement:
        run_cli = self.state.need("flowlib.runtime", "run_cli")
        stmt = cst.parse_statement(
            f'if __name__ == "__main__":\n    raise SystemExit({run_cli}({fn_name}))\n'
        )
        return stmt.with_changes(leading_lines=[cst.EmptyLine(), cst.EmptyLine()])

    def _main(
        self, stmt: cst.BaseStatement, functions: dict[str, str], runs: list[cst.BaseStatement]
    ) -> cst.BaseStatement:
        assert isinstance(stmt, cst.If) and isinstance(stmt.body, cst.IndentedBlock)
        kept: list[cst.BaseStatement] = []
        done = False
        for inner in [*runs, *stmt.body.body]:
            small = inner.body[0] if isinstance(inner, cst.SimpleStatementLine) else None
            call = small.value if isinstance(small, (cst.Expr, cst.Assign)) else None
            if not (
                isinstance(call, cst.Call)
                and isinstance(call.func, cst.Attribute)
                and isinstance(call.func.value, cst.Name)
                and call.func.value.value in functions
            ):
                kept.append(inner)
                continue
            fn = functions[call.func.value.value]
            method = call.func.attr.value
            if method == "register":
                self._register(call, fn)
            if isinstance(small, cst.Assign) and method == "run":
                # state = flow.run(): the flow called with return_state=True gives its State
                self.flag(
                    f"{fn}.run(...) result",
                    "calling the flow runs it; return_state=True returns its final State "
                    "(pass the old parameters= as keyword arguments)",
                    PREFECT_GUIDE,
                )
                args = [
                    a for a in call.args if a.keyword is None or a.keyword.value != "parameters"
                ]
                params = kwarg(call, "parameters")
                if params is not None and isinstance(params.value, cst.Dict):
                    for el in params.value.elements:
                        if isinstance(el, cst.DictElement) and isinstance(el.key, cst.SimpleString):
                            args.append(
                                cst.Arg(el.value, keyword=cst.Name(str(el.key.evaluated_value)))
                            )
                args.append(cst.Arg(cst.Name("True"), keyword=cst.Name("return_state")))
                new_call = cst.Call(func=cst.Name(fn), args=args)
                kept.append(
                    self._attach(inner.with_changes(body=[small.with_changes(value=new_call)]))
                )  # type: ignore[union-attr]
                continue
            if method == "run" and call.args:
                self.flag(f"{fn}.run(...)", "pass the values as command-line options of run_cli")
            if not done:
                run_cli = self.state.need("flowlib.runtime", "run_cli")
                line = cst.parse_statement(f"raise SystemExit({run_cli}({fn}))\n")
                leading = getattr(inner, "leading_lines", ())
                kept.append(self._attach(line.with_changes(leading_lines=leading)))
                done = True
        if not kept:
            run_cli = self.state.need("flowlib.runtime", "run_cli")
            kept.append(
                cst.parse_statement(
                    f"raise SystemExit({run_cli}({next(iter(functions.values()))}))\n"
                )
            )
        return stmt.with_changes(body=stmt.body.with_changes(body=kept))

    def _register(self, call: cst.Call, fn: str) -> None:
        project = kwarg(call, "project_name", 0)
        if project is None:
            return
        try:
            name = self._read(project.value)
        except Unreadable:
            return
        for info in self.state.flows:
            if info.function == fn and isinstance(name, str):
                info.project = self.state.project or name

    def visit_Module(self, node: cst.Module) -> bool:
        self.flow_vars = set()
        for stmt in node.body:
            spec = self._flow_definition(stmt)
            if spec is not None:
                self.flow_vars.add(spec.var)
        return True

    # -- Prefect 1 flow objects the converter cannot see (loaded dynamically) ----------------------
    RUN_KEYWORDS = {"run_on_schedule", "runner_cls", "context", "parameters", "executor"}

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.BaseExpression:
        func = original_node.func
        if not isinstance(func, cst.Attribute):
            return updated_node
        if isinstance(func.value, cst.Name) and func.value.value in self.flow_vars:
            return updated_node  # a flow this rule converts: the __main__ rewrite handles it
        keywords = {a.keyword.value for a in original_node.args if a.keyword is not None}
        if func.attr.value == "run" and keywords & {"run_on_schedule", "runner_cls", "context"}:
            self.flag(
                f"{code_of(func)}(...)",
                "looks like a Prefect 1 Flow.run: call the @flow function instead (its "
                "parameters as keyword arguments; return_state=True for the State)",
                PREFECT_GUIDE,
            )
        elif func.attr.value == "register" and "project_name" in keywords:
            self.flag(
                f"{code_of(func)}(project_name=...)",
                "looks like a Prefect 1 Flow.register: deploy with prefect deploy --all "
                "(deployments/<project>/prefect.yaml)",
                PREFECT_GUIDE,
            )
        return updated_node

    # -- flows built elsewhere ------------------------------------------------------------------
    def leave_FunctionDef(
        self, original_node: cst.FunctionDef, updated_node: cst.FunctionDef
    ) -> cst.FunctionDef:
        rule = self
        found: list[bool] = []

        class _Find(cst.CSTVisitor):
            def visit_Call(self, node: cst.Call) -> None:
                if rule._flow_call(node)[0]:
                    found.append(True)

        original_node.body.visit(_Find())
        if found:
            self.flag(
                f"flow built inside {original_node.name.value}()",
                "Prefect 2 flows are decorated functions: turn the body of the with Flow(...) "
                "block into a @flow function (parameters become its arguments)",
                PREFECT_GUIDE,
            )
        return updated_node

    def leave_ClassDef(
        self, original_node: cst.ClassDef, updated_node: cst.ClassDef
    ) -> cst.ClassDef:
        full = f"{self.state.entry.module_in}.{original_node.name.value}"
        if full in self.state.index.flow_classes:
            self.flag(
                f"Flow subclass {original_node.name.value}",
                "Prefect 2 has no Flow class to extend: flows that used it were converted "
                "to @flow functions; move its defaults into @flow(...) or the deployment",
                PREFECT_GUIDE,
            )
        return updated_node
