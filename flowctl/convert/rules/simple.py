"""The rules that rewrite one expression or one definition at a time."""

from __future__ import annotations

from datetime import timedelta
from typing import cast

import libcst as cst

from flowctl.convert.evaluate import Unreadable, evaluate
from flowctl.convert.model import MIGRATION_DOC, PREFECT_GUIDE, Flag
from flowctl.convert.names import ImportTable
from flowctl.convert.rules.base import Rule, code_of, format_snippet, kwarg, todo_lines

RUNTIME = "flowlib.runtime"


def _call(func: str, *args: cst.Arg) -> cst.Call:
    return cst.Call(func=cst.parse_expression(func), args=list(args))


class ContextRule(Rule):
    """``prefect.context`` → ``flowlib.runtime`` / ``prefect.runtime``."""

    id = "context"
    summary = "prefect.context (scheduled_start_time, date, logger, parameters, ids) → runtime"

    def applies(self, text: str) -> bool:
        return "context" in text or "get_logger" in text

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

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.BaseExpression:
        qual = self.qualify(original_node.func)
        if qual in (
            "prefect.utilities.logging.get_logger",
            "prefect.utilities.logging.get_run_logger",
        ):
            return _call(self.state.need(RUNTIME, "run_logger"))
        return self._convert(original_node, updated_node)

    def leave_Subscript(
        self, original_node: cst.Subscript, updated_node: cst.Subscript
    ) -> cst.BaseExpression:
        return self._convert(original_node, updated_node)

    def leave_Attribute(
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

    def applies(self, text: str) -> bool:
        return "prefect" in text and any(
            w in text
            for w in ("signals", "SKIP", "FAIL", "LOOP", "RETRY", "PAUSE", "ENDRUN", "SUCCESS")
        )

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.BaseExpression:
        name = self.p1(original_node.func)
        if name in ("FAIL", "TRIGGERFAIL"):
            return updated_node.with_changes(func=cst.Name("RuntimeError"))
        if name in ("SKIP", "SUCCESS", "LOOP", "RETRY", "PAUSE", "ENDRUN"):
            self.flag(
                f"signals.{name}",
                "Prefect 2 has no signals: this now raises RuntimeError (the run fails); for "
                "'nothing to do' return early from the flow instead (row signals.SKIP)",
            )
            return updated_node.with_changes(func=cst.Name("RuntimeError"))
        return updated_node

    def leave_ExceptHandler(
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

    def applies(self, text: str) -> bool:
        return "prefect" in text and "task" in text

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

    def leave_Decorator(
        self, original_node: cst.Decorator, updated_node: cst.Decorator
    ) -> cst.Decorator:
        dec = updated_node.decorator
        if isinstance(dec, cst.Call) and self.p1(dec.func) == "task":
            return updated_node.with_changes(decorator=self.convert(dec))
        return updated_node

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.BaseExpression:
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


TASK_OPTIONS = {
    "name",
    "slug",
    "tags",
    "max_retries",
    "retry_delay",
    "timeout",
    "trigger",
    "skip_on_upstream_skip",
    "cache_for",
    "cache_validator",
    "cache_key",
    "checkpoint",
    "state_handlers",
    "on_failure",
    "log_stdout",
    "log_stderr",
    "result",
    "target",
    "task_run_name",
    "nout",
}


class TaskClassRule(Rule):
    """``class X(Task)`` with ``run()`` → a plain class; each instance → ``task(X(...).run)``.

    ``@defaults_from_attrs("a")`` becomes ``a = self.a if a is None else a`` at the top of
    ``run``; the Prefect 1 task options given to the constructor (``name``, ``max_retries``...)
    move to ``task(...)``, converted like ``@task`` options.
    """

    id = "task-class"
    summary = "Task subclasses → plain classes whose run() is wrapped by task(); instances too"

    def applies(self, text: str) -> bool:
        return "Task" in text or "defaults_from_attrs" in text

    def _is_task_class(self, node: cst.BaseExpression) -> bool:
        return (
            self.p1(node) == "Task" or (self.qualify(node) or "") in self.state.index.task_classes
        )

    def leave_ClassDef(
        self, original_node: cst.ClassDef, updated_node: cst.ClassDef
    ) -> cst.ClassDef:
        bases = list(updated_node.bases)
        kept = [b for b in bases if self.p1(b.value) != "Task"]
        if len(kept) == len(bases):
            return updated_node
        if kept:
            kept[-1] = kept[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
        has_run = any(
            isinstance(s, cst.FunctionDef) and s.name.value == "run" for s in updated_node.body.body
        )
        if not has_run:
            self.flag(
                f"Task subclass {original_node.name.value} without run()",
                "turn it into a @task function",
            )
        return updated_node.with_changes(
            bases=kept, lpar=cst.MaybeSentinel.DEFAULT, rpar=cst.MaybeSentinel.DEFAULT
        )

    def leave_FunctionDef(
        self, original_node: cst.FunctionDef, updated_node: cst.FunctionDef
    ) -> cst.FunctionDef:
        kept = []
        attrs: list[str] = []
        for dec in updated_node.decorators:
            target = dec.decorator.func if isinstance(dec.decorator, cst.Call) else dec.decorator
            if self.p1(target) == "defaults_from_attrs":
                if isinstance(dec.decorator, cst.Call):
                    attrs.extend(
                        str(a.value.evaluated_value)
                        for a in dec.decorator.args
                        if isinstance(a.value, cst.SimpleString)
                    )
                continue
            kept.append(dec)
        if not attrs:
            return updated_node
        lines = [cst.parse_statement(f"{a} = self.{a} if {a} is None else {a}") for a in attrs]
        body = cast(list[cst.BaseStatement], list(updated_node.body.body))
        at = 1 if body and _is_docstring(body[0]) else 0
        body[at:at] = lines
        return updated_node.with_changes(
            decorators=kept, body=updated_node.body.with_changes(body=body)
        )

    def leave_Assign(self, original_node: cst.Assign, updated_node: cst.Assign) -> cst.Assign:
        call = updated_node.value
        if not isinstance(call, cst.Call) or not self._is_task_class(call.func):
            return updated_node
        ctor = [a for a in call.args if a.keyword is None or a.keyword.value not in TASK_OPTIONS]
        options = [
            a for a in call.args if a.keyword is not None and a.keyword.value in TASK_OPTIONS
        ]
        if ctor:
            ctor[-1] = ctor[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
        task = self.state.need("prefect", "task")
        if not any(a.keyword is not None and a.keyword.value == "name" for a in options):
            label = code_of(call.func).rsplit(".", 1)[-1]
            options.append(cst.Arg(cst.SimpleString(f'"{label}"'), keyword=cst.Name("name")))
        converted = TaskDecoratorRule(self.state)
        converted.imports = self.imports
        wrapped = converted.convert(cst.Call(func=cst.Name(task), args=options))
        for flag in converted.pending:
            self.add(flag)
        run = cst.Attribute(value=call.with_changes(args=ctor), attr=cst.Name("run"))
        first = cst.Arg(run, comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")))
        rest = [
            a.with_changes(
                equal=cst.AssignEqual(cst.SimpleWhitespace(""), cst.SimpleWhitespace(""))
            )
            for a in wrapped.args
        ]
        for i in range(len(rest) - 1):
            rest[i] = rest[i].with_changes(
                comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
            )
        return updated_node.with_changes(value=wrapped.with_changes(args=[first, *rest]))


def _is_docstring(stmt: cst.BaseStatement) -> bool:
    return (
        isinstance(stmt, cst.SimpleStatementLine)
        and isinstance(stmt.body[0], cst.Expr)
        and isinstance(stmt.body[0].value, (cst.SimpleString, cst.ConcatenatedString))
    )


class ResourceManagerRule(Rule):
    """``@resource_manager`` class with setup/cleanup → a context manager class."""

    id = "resource-manager"
    summary = "@resource_manager classes → context managers (__enter__ = setup, __exit__ = cleanup)"

    def applies(self, text: str) -> bool:
        return "resource_manager" in text

    def leave_ClassDef(
        self, original_node: cst.ClassDef, updated_node: cst.ClassDef
    ) -> cst.ClassDef:
        decorators = list(updated_node.decorators)
        kept = [
            d
            for d in decorators
            if self.p1(d.decorator.func if isinstance(d.decorator, cst.Call) else d.decorator)
            != "resource_manager"
        ]
        if len(kept) == len(decorators):
            return updated_node
        methods = {s.name.value for s in updated_node.body.body if isinstance(s, cst.FunctionDef)}
        if "setup" not in methods:
            self.flag("resource_manager without setup()", "write __enter__/__exit__ by hand")
            return updated_node.with_changes(decorators=kept)
        cleanup = "self.cleanup(self._resource)" if "cleanup" in methods else "pass"
        extra = cst.parse_module(
            "def __enter__(self):\n"
            "    self._resource = self.setup()\n"
            "    return self._resource\n"
            "\n"
            "def __exit__(self, *exc_info):\n"
            f"    {cleanup}\n"
        ).body
        body = [
            *updated_node.body.body,
            *(s.with_changes(leading_lines=[cst.EmptyLine(indent=False)]) for s in extra),
        ]
        return updated_node.with_changes(
            decorators=kept, body=updated_node.body.with_changes(body=body)
        )


class SecretsRule(Rule):
    """``PrefectSecret("X")`` / ``Secret("X").get()`` → ``Secret.load("x").get()``."""

    id = "secrets"
    summary = "PrefectSecret / prefect.client.Secret → Secret blocks"

    def applies(self, text: str) -> bool:
        return "prefect" in text and "Secret" in text

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.nesting = 0

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self.nesting += 1

    def leave_FunctionDef(
        self, original_node: cst.FunctionDef, updated_node: cst.FunctionDef
    ) -> cst.FunctionDef:
        self.nesting -= 1
        return updated_node

    def visit_With(self, node: cst.With) -> None:
        self.nesting += 1

    def leave_With(self, original_node: cst.With, updated_node: cst.With) -> cst.With:
        self.nesting -= 1
        return updated_node

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.BaseExpression:
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
        if self.nesting == 0:
            self.flag(
                f"secret {name} at import",
                "the block is now loaded when the module is imported (it needs the Prefect "
                "API then); move the load into the flow or task that uses it",
            )
        return cst.parse_expression(f'{secret}.load("{block}").get()')


class LibraryTasksRule(Rule):
    """``NAME = ShellTask(...)`` → a ``@task`` function running the command with subprocess."""

    id = "library-tasks"
    summary = "prefect.tasks.shell.ShellTask → a @task running subprocess"

    def applies(self, text: str) -> bool:
        return "ShellTask" in text

    def leave_SimpleStatementLine(
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
            f'    """Run a shell command (was a Prefect 1 shell task); fails if it fails."""\n'
            f"    result = subprocess.run(  # noqa: S602 - a shell command, as ShellTask ran it\n"
            f"        {prefix}command, shell=True, check=True, capture_output=True, text=True, "
            "env=env\n"
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

    def applies(self, text: str) -> bool:
        return "prefect" in text and any(
            w in text for w in ("flow_run", "FlowRun", "get_task_run_result")
        )

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

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.BaseExpression:
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
        template = cst.parse_expression(f'{run}(name="{target}", parameters=_P_, timeout=0)')
        assert isinstance(template, cst.Call)
        args = [template.args[0]]
        params = kwarg(call, "parameters")
        if params is not None:
            args.append(template.args[1].with_changes(value=params.value))
        if not wait:
            args.append(template.args[2])
        args[-1] = args[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
        return template.with_changes(args=args)

    def leave_SimpleStatementLine(
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
            f'    """Run the deployment {deployment} (was a Prefect 1 start-flow-run task)."""\n'
            f'    return {run}(name="{deployment}", parameters=parameters or {{}}, '
            f"timeout={timeout})\n"
        )
        return cst.parse_statement(code).with_changes(leading_lines=updated_node.leading_lines)


class KvStoreRule(Rule):
    """The key-value store → Prefect Variables (reads); writes flagged."""

    id = "kv-store"
    summary = "get_key_value → Variable.get; set/delete/list flagged"

    def applies(self, text: str) -> bool:
        return any(w in text for w in ("key_value", "delete_key", "list_keys"))

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.BaseExpression:
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


class EnvironRule(Rule):
    """``os.environ`` / ``os.getenv`` reads: flagged, the house reads settings in one place."""

    id = "environ"
    summary = "os.environ / os.getenv flagged (settings go through flowlib.settings)"

    def applies(self, text: str) -> bool:
        return "environ" in text or "getenv" in text

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.BaseExpression:
        if self.qualify(original_node.func) in ("os.environ.get", "os.getenv"):
            self._flag()
        return updated_node

    def leave_Subscript(
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


class DeploymentConfigRule(Rule):
    """Module-level schedules, run configs, storage and executors → commented out, flagged.

    Their values moved into the deployment entries (``prefect.yaml``); the assignments would
    call Prefect 1 classes at import, so they are kept as comments under a TODO.
    """

    id = "deployment-config"
    summary = "module-level Schedule/clock/run config/storage/executor objects commented out"

    def applies(self, text: str) -> bool:
        return "prefect" in text and any(k in text for k in self.KINDS)

    KINDS = {
        "CronClock",
        "IntervalClock",
        "DatesClock",
        "Schedule",
        "CronSchedule",
        "IntervalSchedule",
        "KubernetesRun",
        "DockerRun",
        "LocalRun",
        "UniversalRun",
        "ECSRun",
        "VertexRun",
        "LocalDaskExecutor",
        "DaskExecutor",
        "LocalExecutor",
        "Docker",
        "GitHub",
        "GitLab",
        "Bitbucket",
        "S3",
        "GCS",
        "Azure",
        "Local",
        "Git",
    }

    def run(self, tree: cst.Module) -> cst.Module:
        self.imports = ImportTable(tree, self.state.entry.module_in)
        body: list[cst.BaseStatement] = []
        carry: list[cst.EmptyLine] = []
        for stmt in tree.body:
            kind = self._kind(stmt)
            if kind is None:
                if carry:
                    stmt = stmt.with_changes(leading_lines=[*carry, *stmt.leading_lines])
                    carry = []
                body.append(stmt)
                continue
            flag = Flag(
                self.id,
                f"Prefect 1 {kind} at module level",
                "its values are in the deployment entry (deployments/<project>/prefect.yaml: "
                "schedules, work_pool.job_variables, pull); the assignment is kept as a comment "
                f"(see {MIGRATION_DOC})",
            )
            self.state.flags.append(flag)
            carry.extend(stmt.leading_lines)
            carry.extend(cst.EmptyLine(comment=cst.Comment(line)) for line in todo_lines(flag))
            code = cst.Module(body=[stmt.with_changes(leading_lines=[])]).code.rstrip("\n")
            code = format_snippet(code, 96)
            carry.extend(
                cst.EmptyLine(comment=cst.Comment(f"# {line}".rstrip()))
                for line in code.splitlines()
            )
        if carry:
            return tree.with_changes(body=body, footer=[*carry, *tree.footer])
        return tree.with_changes(body=body)

    def _kind(self, stmt: cst.BaseStatement) -> str | None:
        if not isinstance(stmt, cst.SimpleStatementLine) or len(stmt.body) != 1:
            return None
        small = stmt.body[0]
        if not isinstance(small, (cst.Assign, cst.AnnAssign)) or not isinstance(
            small.value, cst.Call
        ):
            return None
        kind = self.p1(small.value.func)
        return kind if kind in self.KINDS else None
