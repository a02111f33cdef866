"""The rules that rewrite one expression or one definition at a time."""

from __future__ import annotations

from datetime import timedelta

import libcst as cst

from flowctl.convert.evaluate import Unreadable, evaluate
from flowctl.convert.model import PREFECT_GUIDE
from flowctl.convert.rules.base import Rule, code_of, kwarg

RUNTIME = "flowlib.runtime"


def _call(func: str, *args: cst.Arg) -> cst.Call:
    return cst.Call(func=cst.parse_expression(func), args=list(args))


class ContextRule(Rule):
    """``prefect.context`` → ``flowlib.runtime`` / ``prefect.runtime``."""

    id = "context"
    summary = "prefect.context (scheduled_start_time, date, logger, parameters, ids) → runtime"

    FLOW_RUN = {
        "parameters": "parameters",
        "flow_run_id": "id",
        "flow_run_name": "name",
        "flow_name": "flow_name",
        "flow_id": "flow_id",
    }
    TASK_RUN = {"task_run_id": "id", "task_name": "name", "task_run_name": "name"}

    def _key(self, node: cst.BaseExpression) -> str | None:
        """The context key an expression reads, or None."""
        if isinstance(node, cst.Call) and self.qualify(node.func) == "prefect.context.get":
            arg = kwarg(node, "key", 0)
            if arg is not None and isinstance(arg.value, cst.SimpleString):
                value = arg.value.evaluated_value
                return value if isinstance(value, str) else None
            return "?"
        if isinstance(node, cst.Subscript) and self.qualify(node.value) == "prefect.context":
            el = node.slice[0].slice
            if isinstance(el, cst.Index) and isinstance(el.value, cst.SimpleString):
                value = el.value.evaluated_value
                return value if isinstance(value, str) else None
            return "?"
        if isinstance(node, cst.Attribute) and self.qualify(node.value) == "prefect.context":
            return None if node.attr.value == "get" else node.attr.value
        return None

    def _replacement(self, key: str) -> cst.BaseExpression | None:
        if key in ("scheduled_start_time", "date"):
            return _call(self.state.need(RUNTIME, "scheduled_start"))
        if key == "logger":
            return _call(self.state.need(RUNTIME, "run_logger"))
        if key in ("today", "yesterday", "tomorrow"):
            start = self.state.need(RUNTIME, "scheduled_start")
            if key == "today":
                return cst.parse_expression(f'{start}().strftime("%Y-%m-%d")')
            delta = self.state.need("datetime", "timedelta")
            sign = "-" if key == "yesterday" else "+"
            return cst.parse_expression(f'({start}() {sign} {delta}(days=1)).strftime("%Y-%m-%d")')
        if key in self.FLOW_RUN:
            return cst.parse_expression(
                f"{self.state.need('prefect.runtime', 'flow_run')}.{self.FLOW_RUN[key]}"
            )
        if key in self.TASK_RUN:
            return cst.parse_expression(
                f"{self.state.need('prefect.runtime', 'task_run')}.{self.TASK_RUN[key]}"
            )
        return None

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.BaseExpression:  # noqa: N802
        qual = self.qualify(original_node.func)
        if qual in (
            "prefect.utilities.logging.get_logger",
            "prefect.utilities.logging.get_run_logger",
        ):
            return _call(self.state.need(RUNTIME, "run_logger"))
        return self._convert(original_node, updated_node)

    def leave_Subscript(  # noqa: N802
        self, original_node: cst.Subscript, updated_node: cst.Subscript
    ) -> cst.BaseExpression:
        return self._convert(original_node, updated_node)

    def leave_Attribute(  # noqa: N802
        self, original_node: cst.Attribute, updated_node: cst.Attribute
    ) -> cst.BaseExpression:
        return self._convert(original_node, updated_node)

    def _convert(
        self, original: cst.BaseExpression, updated: cst.BaseExpression
    ) -> cst.BaseExpression:
        key = self._key(original)
        if key is None:
            return updated
        new = self._replacement(key)
        if new is None:
            self.flag(
                f"prefect.context {key!r}",
                "no Prefect 2 equivalent is known; read it from prefect.runtime or pass it as a "
                "flow parameter",
                PREFECT_GUIDE,
            )
            return updated
        return new


class SignalsRule(Rule):
    """``raise signals.FAIL(...)`` → ``raise RuntimeError(...)``; other signals flagged."""

    id = "signals"
    summary = "signals.FAIL → RuntimeError; SKIP/LOOP/RETRY/PAUSE/ENDRUN flagged"

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.BaseExpression:  # noqa: N802
        name = self.p1(original_node.func)
        if name in ("FAIL", "TRIGGERFAIL"):
            return updated_node.with_changes(func=cst.Name("RuntimeError"))
        if name in ("SKIP", "SUCCESS", "LOOP", "RETRY", "PAUSE", "ENDRUN"):
            self.flag(
                f"signals.{name}",
                "Prefect 2 has no signals: this now raises RuntimeError (the run fails); for "
                "'nothing to do' return early from the flow instead (MIGRATION.md: signals.SKIP)",
            )
            return updated_node.with_changes(func=cst.Name("RuntimeError"))
        return updated_node

    def leave_ExceptHandler(  # noqa: N802
        self, original_node: cst.ExceptHandler, updated_node: cst.ExceptHandler
    ) -> cst.ExceptHandler:
        if original_node.type is not None and self._names_signal(original_node.type):
            self.flag(
                "except signals.*",
                "Prefect 2 raises ordinary exceptions; catch those instead",
            )
            return updated_node.with_changes(type=cst.Name("RuntimeError"))
        return updated_node

    def _names_signal(self, node: cst.BaseExpression) -> bool:
        if isinstance(node, cst.Tuple):
            return any(self._names_signal(e.value) for e in node.elements)
        return self.p1(node) in ("SKIP", "FAIL", "SUCCESS", "LOOP", "RETRY", "PAUSE", "ENDRUN")


class TaskDecoratorRule(Rule):
    """``@task(max_retries, retry_delay, timeout, log_stdout, checkpoint, ...)`` → Prefect 2."""

    id = "task-options"
    summary = "@task(max_retries, retry_delay, timeout, log_stdout, ...) → retries, ..._seconds"

    RENAME = {"max_retries": "retries", "timeout": "timeout_seconds", "log_stdout": "log_prints"}
    DROP_QUIET = {"nout", "checkpoint"}
    FLAGGED = {
        "trigger": "a trigger: Prefect 2 tasks run when called; pass wait_for=[...] and wrap "
        "upstream futures in allow_failure() for all_finished/any_failed",
        "result": "a result: set persist_result=True and result_storage= on the task",
        "target": "a target: use cache_key_fn / result_storage_key in Prefect 2",
        "cache_for": "cache_for: use cache_key_fn with cache_expiration",
        "cache_validator": "cache_validator: use cache_key_fn",
        "cache_key": "cache_key: use cache_key_fn",
        "skip_on_upstream_skip": "skip_on_upstream_skip: Prefect 2 has no skipped state",
        "state_handlers": "state_handlers: became on_failure/on_completion hooks with the "
        "signature (task, task_run, state); check the handler's arguments",
    }

    def leave_Decorator(  # noqa: N802
        self, original_node: cst.Decorator, updated_node: cst.Decorator
    ) -> cst.Decorator:
        dec = updated_node.decorator
        if isinstance(dec, cst.Call) and self.p1(dec.func) == "task":
            return updated_node.with_changes(decorator=self.convert(dec))
        return updated_node

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.BaseExpression:  # noqa: N802
        # task(fn, max_retries=...) used as a function (not the decorator form)
        if self.p1(original_node.func) == "task" and any(a.keyword for a in original_node.args):
            return self.convert(updated_node)
        return updated_node

    def convert(self, call: cst.Call) -> cst.Call:
        args: list[cst.Arg] = []
        for arg in call.args:
            key = arg.keyword.value if arg.keyword else None
            if key in self.RENAME:
                args.append(arg.with_changes(keyword=cst.Name(self.RENAME[key])))
            elif key == "retry_delay":
                args.append(
                    arg.with_changes(
                        keyword=cst.Name("retry_delay_seconds"), value=self.seconds(arg.value)
                    )
                )
            elif key == "checkpoint":
                if isinstance(arg.value, cst.Name) and arg.value.value == "False":
                    args.append(arg.with_changes(keyword=cst.Name("persist_result")))
            elif key in self.DROP_QUIET:
                continue
            elif key == "state_handlers":
                self.flag("@task(state_handlers=...)", self.FLAGGED[key])
                args.append(arg.with_changes(keyword=cst.Name("on_failure")))
                args.append(arg.with_changes(keyword=cst.Name("on_completion")))
            elif key in self.FLAGGED:
                self.flag(
                    f"@task({key}=...)", f"dropped {self.FLAGGED[key]}; was {code_of(arg.value)}"
                )
            else:
                args.append(arg)
        if args:
            args[-1] = args[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
        return call.with_changes(args=args)

    def seconds(self, value: cst.BaseExpression) -> cst.BaseExpression:
        """A timedelta expression → seconds (a literal when it can be read)."""
        try:
            delta = evaluate(value, self.imports, self.state.index.lookup)
        except Unreadable:
            delta = None
        if isinstance(delta, timedelta):
            secs = delta.total_seconds()
            return cst.Integer(str(int(secs))) if secs == int(secs) else cst.Float(repr(secs))
        return cst.Call(func=cst.Attribute(value=value, attr=cst.Name("total_seconds")))


class TaskClassRule(Rule):
    """``class X(Task)`` with ``run()``: flagged (a @task function is the Prefect 2 form)."""

    id = "task-class"
    summary = "Task subclasses flagged; @defaults_from_attrs removed"

    def leave_ClassDef(  # noqa: N802
        self, original_node: cst.ClassDef, updated_node: cst.ClassDef
    ) -> cst.ClassDef:
        bases = [self.qualify(b.value) or "" for b in original_node.bases]
        if any(self.p1(b.value) == "Task" for b in original_node.bases) or any(
            b in self.state.index.task_classes for b in bases
        ):
            self.flag(
                f"Task subclass {original_node.name.value}",
                "turn run() into a @task function (its __init__ options become @task "
                "arguments or function parameters); Prefect 2 does not call run()",
            )
        return updated_node

    def leave_FunctionDef(  # noqa: N802
        self, original_node: cst.FunctionDef, updated_node: cst.FunctionDef
    ) -> cst.FunctionDef:
        kept = []
        for dec in updated_node.decorators:
            target = dec.decorator.func if isinstance(dec.decorator, cst.Call) else dec.decorator
            if self.p1(target) == "defaults_from_attrs":
                self.flag(
                    "@defaults_from_attrs",
                    "removed: run() no longer fills missing arguments from self; pass them",
                )
                continue
            kept.append(dec)
        return updated_node.with_changes(decorators=kept)


class SecretsRule(Rule):
    """``PrefectSecret("X")`` / ``Secret("X").get()`` → ``Secret.load("x").get()``."""

    id = "secrets"
    summary = "PrefectSecret / prefect.client.Secret → Secret blocks"

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.BaseExpression:  # noqa: N802
        func = original_node.func
        if (
            isinstance(func, cst.Attribute)
            and func.attr.value == "get"
            and isinstance(func.value, cst.Call)
        ):
            inner = func.value
            if self.p1(inner.func) == "Secret":
                return self._load(inner)
        if self.p1(func) == "PrefectSecret":
            return self._load(original_node)
        if self.p1(func) == "EnvVarSecret":
            self.flag("EnvVarSecret", "read the variable through flowlib.settings")
        return updated_node

    def _load(self, call: cst.Call) -> cst.BaseExpression:
        arg = kwarg(call, "name", 0)
        if arg is None or not isinstance(arg.value, cst.SimpleString):
            self.flag("Secret", "the secret's name is not a literal; load the Secret block by name")
            return call
        name = str(arg.value.evaluated_value)
        block = name.lower().replace("_", "-")
        secret = self.state.need("prefect.blocks.system", "Secret")
        self.flag(
            f"secret {name}",
            f'create the Secret block "{block}" with the value of the Prefect 1 secret {name} '
            "(prefect block create secret), or read it from the environment via flowlib.settings",
            PREFECT_GUIDE,
        )
        return cst.parse_expression(f'{secret}.load("{block}").get()')


class LibraryTasksRule(Rule):
    """``NAME = ShellTask(...)`` → a ``@task`` function running the command with subprocess."""

    id = "library-tasks"
    summary = "prefect.tasks.shell.ShellTask → a @task running subprocess"

    def leave_SimpleStatementLine(  # noqa: N802
        self, original_node: cst.SimpleStatementLine, updated_node: cst.SimpleStatementLine
    ) -> cst.BaseStatement | cst.FlattenSentinel[cst.BaseStatement]:
        if len(updated_node.body) != 1 or not isinstance(updated_node.body[0], cst.Assign):
            return updated_node
        assign = updated_node.body[0]
        target = assign.targets[0].target
        call = assign.value
        if not (isinstance(call, cst.Call) and isinstance(target, cst.Name)):
            return updated_node
        if self.p1(call.func) != "ShellTask":
            return updated_node
        name = target.value
        options = {a.keyword.value: code_of(a.value) for a in call.args if a.keyword}
        return_all = options.get("return_all") == "True"
        helper = options.get("helper_script")
        command_default = options.get("command")
        self.state.need_module("subprocess")
        task = self.state.need("prefect", "task")
        prefix = f"{helper} + '\\n' + " if helper else ""
        default = f" = {command_default}" if command_default else ""
        returns = "list[str]" if return_all else "str"
        result = "lines" if return_all else 'lines[-1] if lines else ""'
        retries = ""
        if "max_retries" in options:
            retries = f", retries={options['max_retries']}"
        code = (
            f'@{task}(name="{name}"{retries})\n'
            f"def {name}(command: str{default}, env: dict[str, str] | None = None) -> {returns}:\n"
            f'    """Run a shell command (was a Prefect 1 ShellTask); fails on a non-zero exit."""\n'
            f"    result = subprocess.run(  # noqa: S602 - a shell command, as ShellTask ran it\n"
            f"        {prefix}command, shell=True, check=True, capture_output=True, text=True, env=env\n"
            f"    )\n"
            f"    lines = result.stdout.splitlines()\n"
            f"    return {result}\n"
        )
        func = cst.parse_statement(code)
        return func.with_changes(leading_lines=updated_node.leading_lines)


class FlowOfFlowsRule(Rule):
    """``create_flow_run`` / ``wait_for_flow_run`` / ``StartFlowRun`` → ``run_deployment``."""

    id = "flow-of-flows"
    summary = "create_flow_run, wait_for_flow_run, StartFlowRun → run_deployment"

    def _deployment(self, call: cst.Call) -> str | None:
        arg = kwarg(call, "flow_name", 0)
        if arg is None:
            return None
        try:
            name = evaluate(arg.value, self.imports, self.state.index.lookup)
        except Unreadable:
            return None
        if not isinstance(name, str):
            return None
        return f"{name}/{self.state.index.deployment_of(name)}"

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.BaseExpression:  # noqa: N802
        name = self.p1(original_node.func)
        if name == "create_flow_run":
            return self._run(updated_node, wait=True)
        if name == "wait_for_flow_run":
            first = kwarg(updated_node, "flow_run_id", 0)
            if first is None:
                return updated_node
            raise_final = kwarg(updated_node, "raise_final_state")
            if raise_final is not None and code_of(raise_final.value) == "True":
                self.flag(
                    "wait_for_flow_run(raise_final_state=True)",
                    "run_deployment returns the finished FlowRun and does not raise; check "
                    "flow_run.state.is_completed()",
                )
            return first.value
        if name == "get_task_run_result":
            self.flag("get_task_run_result", "return the value from the child flow and use it")
        return updated_node

    def _run(self, call: cst.Call, wait: bool) -> cst.BaseExpression:
        target = self._deployment(call)
        if target is None:
            self.flag("create_flow_run", "flow_name is not a literal: name the deployment")
            return call
        run = self.state.need("prefect.deployments", "run_deployment")
        args = [cst.Arg(cst.SimpleString(f'"{target}"'), keyword=cst.Name("name"))]
        params = kwarg(call, "parameters")
        if params is not None:
            args.append(cst.Arg(params.value, keyword=cst.Name("parameters")))
        if not wait:
            args.append(cst.Arg(cst.Integer("0"), keyword=cst.Name("timeout")))
        return cst.Call(func=cst.Name(run), args=args)

    def leave_SimpleStatementLine(  # noqa: N802
        self, original_node: cst.SimpleStatementLine, updated_node: cst.SimpleStatementLine
    ) -> cst.BaseStatement:
        if len(updated_node.body) != 1 or not isinstance(updated_node.body[0], cst.Assign):
            return updated_node
        assign = updated_node.body[0]
        target, call = assign.targets[0].target, assign.value
        if not (isinstance(call, cst.Call) and isinstance(target, cst.Name)):
            return updated_node
        if self.p1(call.func) != "StartFlowRun":
            return updated_node
        deployment = self._deployment(call)
        if deployment is None:
            self.flag("StartFlowRun", "flow_name is not a literal: name the deployment")
            return updated_node
        wait = kwarg(call, "wait")
        waits = wait is not None and code_of(wait.value) == "True"
        task = self.state.need("prefect", "task")
        run = self.state.need("prefect.deployments", "run_deployment")
        timeout = "None" if waits else "0"
        code = (
            f'@{task}(name="{target.value}")\n'
            f"def {target.value}(parameters: dict[str, object] | None = None) -> object:\n"
            f'    """Run the deployment {deployment} (was a Prefect 1 StartFlowRun)."""\n'
            f'    return {run}(name="{deployment}", parameters=parameters or {{}}, timeout={timeout})\n'
        )
        return cst.parse_statement(code).with_changes(leading_lines=updated_node.leading_lines)


class KvStoreRule(Rule):
    """The key-value store → Prefect Variables (reads); writes flagged."""

    id = "kv-store"
    summary = "get_key_value → Variable.get; set/delete/list flagged; resource_manager flagged"

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.BaseExpression:  # noqa: N802
        name = self.p1(original_node.func)
        if name == "get_key_value":
            variable = self.state.need("prefect.variables", "Variable")
            return updated_node.with_changes(func=cst.parse_expression(f"{variable}.get"))
        if name in ("set_key_value", "delete_key", "list_keys"):
            self.flag(
                name,
                "the Prefect 1 key-value store is gone: keep the value in a Prefect Variable "
                "(prefect variable set) or, for watermarks, in the lake (tasks.lake)",
            )
        return updated_node

    def leave_ClassDef(  # noqa: N802
        self, original_node: cst.ClassDef, updated_node: cst.ClassDef
    ) -> cst.ClassDef:
        for dec in original_node.decorators:
            target = dec.decorator.func if isinstance(dec.decorator, cst.Call) else dec.decorator
            if self.p1(target) == "resource_manager":
                self.flag(
                    "resource_manager",
                    "use a context manager (with ...:) inside the flow; setup/cleanup become "
                    "__enter__/__exit__",
                )
        return updated_node


class EnvironRule(Rule):
    """``os.environ`` / ``os.getenv`` reads: flagged, the house reads settings in one place."""

    id = "environ"
    summary = "os.environ / os.getenv flagged (settings go through flowlib.settings)"

    def applies(self, text: str) -> bool:
        return "environ" in text or "getenv" in text

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.BaseExpression:  # noqa: N802
        if self.qualify(original_node.func) in ("os.environ.get", "os.getenv"):
            self._flag()
        return updated_node

    def leave_Subscript(  # noqa: N802
        self, original_node: cst.Subscript, updated_node: cst.Subscript
    ) -> cst.BaseExpression:
        if self.qualify(original_node.value) == "os.environ":
            self._flag()
        return updated_node

    def _flag(self) -> None:
        self.flag(
            "os.environ",
            "flows read settings through flowlib.settings (target_env selects dev/prod); "
            "move this setting there",
            "README.md, Environments",
        )
