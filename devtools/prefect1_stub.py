"""A local stand-in for the Prefect 1 Server/Cloud GraphQL API, for tests and the demo.

No Prefect 1 server can run here (it needs Hasura, Postgres and Apollo), so the legacy side of a
cutover is exercised against this stub. It serves the operations :mod:`flowlib.migration.prefect1`
sends, following the documented Prefect 1 schema rather than our client:

- operations are POSTed as ``{"query", "variables"}`` (``variables`` as an object or, like
  ``prefect==1.4.1``'s ``Client``, as a JSON string); an ``Authorization: Bearer`` token is
  checked when the stub has one (``UNAUTHENTICATED`` error otherwise);
- mutations take one ``$input`` variable of the documented input type
  (``set_schedule_active_input!``, ``set_schedule_inactive_input!``, ``create_flow_run_input!``,
  ``archive_flow_input!``) with only that type's fields; they answer ``success_payload``
  (``success``, ``error``) or ``flow_run_id_payload`` (``id``);
- ``create_flow_run`` refuses archived flows and undeclared parameters (as the server does), and an
  ``idempotency_key`` already used for the flow returns the existing run;
- ``flow`` and ``flow_run`` queries take a Hasura ``where`` (``flow_bool_exp`` /
  ``flow_run_bool_exp``: ``_eq``, ``_neq``, ``_gt``, ``_gte``, ``_lt``, ``_lte``, ``_in``,
  ``_nin``, ``_is_null``, ``_and``, ``_or``, ``_not``, nested relations), ``order_by`` and
  ``limit``, and answer only the selected fields.

It records every call it received (:attr:`Prefect1Stub.calls`). Runs created through
``create_flow_run`` stay ``Scheduled`` until an *agent* executes them: :meth:`Prefect1Stub.run_due`
(or a background agent, :meth:`start_agent`) hands each due run to an executor; with
:func:`legacy_executor` that really runs the legacy flow in ``.venv-legacy``
(:func:`devtools.legacy.run_legacy`), so its files land in the prod lake as on the real system.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from flowlib.migration.model import iso, parse_time, utcnow

INPUT_FIELDS = {
    "set_schedule_active": {"flow_id"},
    "set_schedule_inactive": {"flow_id"},
    "archive_flow": {"flow_id"},
    "create_flow_run": {
        "flow_id",
        "version_group_id",
        "parameters",
        "context",
        "scheduled_start_time",
        "idempotency_key",
        "flow_run_name",
        "labels",
        "run_config",
    },
}
WHERE_TYPES = {"flow": "flow_bool_exp", "flow_run": "flow_run_bool_exp"}


class GraphQLError(Exception):
    """An error answered in the ``errors`` list."""

    def __init__(self, message: str, code: str = "GRAPHQL_VALIDATION_FAILED") -> None:
        super().__init__(message)
        self.code = code


# --- a small GraphQL reader: enough for one root field with arguments and a selection set -----
_TOKEN = re.compile(
    r'\s*(?:(?P<punct>[{}()\[\]:,!$])|(?P<string>"(?:[^"\\]|\\.)*")|'
    r"(?P<number>-?\d+(?:\.\d+)?)|(?P<name>[_A-Za-z][_0-9A-Za-z]*))"
)


def _tokens(text: str) -> list[str]:
    text = re.sub(r"#[^\n]*", "", text)
    out, pos = [], 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if not match:
            raise GraphQLError(f"Syntax Error: unexpected character {text[pos : pos + 10]!r}")
        out.append(match.group(match.lastgroup or "name"))
        pos = match.end()
    return out


class _Reader:
    def __init__(self, tokens: list[str]) -> None:
        self.tokens = tokens
        self.pos = 0

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self, expected: str | None = None) -> str:
        item = self.peek()
        if item is None or (expected is not None and item != expected):
            raise GraphQLError(f"Syntax Error: expected {expected or 'a token'}, found {item}")
        self.pos += 1
        return item

    def value(self, variables: Mapping[str, Any]) -> Any:
        item = self.take()
        if item == "$":
            name = self.take()
            return variables.get(name)
        if item == "{":
            obj = {}
            while self.peek() != "}":
                key = self.take()
                self.take(":")
                obj[key] = self.value(variables)
                if self.peek() == ",":
                    self.take()
            self.take("}")
            return obj
        if item == "[":
            items = []
            while self.peek() != "]":
                items.append(self.value(variables))
                if self.peek() == ",":
                    self.take()
            self.take("]")
            return items
        if item.startswith('"'):
            return json.loads(item)
        if re.fullmatch(r"-?\d+(\.\d+)?", item):
            return float(item) if "." in item else int(item)
        return {"true": True, "false": False, "null": None}.get(item, item)

    def selection(self) -> dict[str, Any]:
        self.take("{")
        fields: dict[str, Any] = {}
        while self.peek() != "}":
            name = self.take()
            if self.peek() == "(":
                depth = 0
                while True:
                    item = self.take()
                    depth += item == "("
                    depth -= item == ")"
                    if depth == 0:
                        break
            fields[name] = self.selection() if self.peek() == "{" else None
        self.take("}")
        return fields


@dataclass(frozen=True)
class Operation:
    """One parsed operation: its kind, declared variables, root field, arguments, selection."""

    kind: str
    declared: dict[str, str]
    field: str
    arguments: dict[str, Any]
    selection: dict[str, Any]


def parse_operation(query: str, variables: Mapping[str, Any]) -> Operation:
    """Parse ``query|mutation [name]($v: T, ...) { field(args) { selection } }``."""
    reader = _Reader(_tokens(query))
    kind = "query"
    if reader.peek() in ("query", "mutation"):
        kind = reader.take()
        if reader.peek() not in ("(", "{"):
            reader.take()  # operation name
    declared: dict[str, str] = {}
    if reader.peek() == "(":
        reader.take("(")
        while reader.peek() != ")":
            reader.take("$")
            name = reader.take()
            reader.take(":")
            type_name = reader.take()
            if reader.peek() == "!":
                type_name += reader.take()
            declared[name] = type_name
            if reader.peek() == ",":
                reader.take()
        reader.take(")")
    reader.take("{")
    field_name = reader.take()
    arguments: dict[str, Any] = {}
    if reader.peek() == "(":
        reader.take("(")
        while reader.peek() != ")":
            key = reader.take()
            reader.take(":")
            arguments[key] = reader.value(variables)
            if reader.peek() == ",":
                reader.take()
        reader.take(")")
    selection = reader.selection() if reader.peek() == "{" else {}
    reader.take("}")
    return Operation(kind, declared, field_name, arguments, selection)


# --- Hasura-style filtering -------------------------------------------------------------------
def _comparable(value: Any) -> Any:
    if isinstance(value, str) and re.match(r"\d{4}-\d{2}-\d{2}T", value):
        return parse_time(value)
    return value


def _compare(op: str, actual: Any, expected: Any) -> bool:
    if op == "_is_null":
        return (actual is None) == bool(expected)
    if op in ("_in", "_nin"):
        found = actual in list(expected or [])
        return found if op == "_in" else not found
    a, b = _comparable(actual), _comparable(expected)
    if op == "_eq":
        return bool(a == b)
    if op == "_neq":
        return bool(a != b)
    if a is None or b is None:
        return False
    return {"_gt": a > b, "_gte": a >= b, "_lt": a < b, "_lte": a <= b}[op]


def matches(row: Mapping[str, Any], where: Mapping[str, Any] | None) -> bool:
    """Whether a row satisfies a Hasura ``bool_exp``."""
    for key, cond in (where or {}).items():
        if key == "_and":
            if not all(matches(row, c) for c in cond):
                return False
        elif key == "_or":
            if not any(matches(row, c) for c in cond):
                return False
        elif key == "_not":
            if matches(row, cond):
                return False
        elif isinstance(row.get(key), Mapping):
            if not matches(row[key], cond):
                return False
        elif isinstance(cond, Mapping) and all(str(op).startswith("_") for op in cond):
            unknown = set(cond) - {
                "_eq",
                "_neq",
                "_gt",
                "_gte",
                "_lt",
                "_lte",
                "_in",
                "_nin",
                "_is_null",
            }
            if unknown:
                raise GraphQLError(f"unknown comparison operator(s) {sorted(unknown)}")
            if not all(_compare(op, row.get(key), v) for op, v in cond.items()):
                return False
        else:
            raise GraphQLError(f"field {key!r} not found in type: bool_exp")
    return True


def _sort_key(column: str) -> Callable[[Mapping[str, Any]], tuple[bool, Any]]:
    def key(row: Mapping[str, Any]) -> tuple[bool, Any]:
        return (row.get(column) is None, _comparable(row.get(column)))

    return key


def project(row: Any, selection: Mapping[str, Any]) -> Any:
    """Keep only the selected fields (recursively)."""
    if not isinstance(row, Mapping) or not selection:
        return row
    out = {}
    for name, sub in selection.items():
        if name not in row:
            raise GraphQLError(f"field {name!r} not found in type")
        out[name] = project(row[name], sub) if sub else row[name]
    return out


# --- the stored objects -----------------------------------------------------------------------
@dataclass
class StubFlow:
    """A registered Prefect 1 flow (one version) and what the agent runs for it."""

    id: str
    name: str
    project: str
    version: int = 1
    archived: bool = False
    is_schedule_active: bool = True
    parameters: tuple[str, ...] = ()
    legacy_path: str | None = None

    def row(self) -> dict[str, Any]:
        """The flow as the ``flow`` query's rows look."""
        return {
            "id": self.id,
            "name": self.name,
            "version": self.version,
            "archived": self.archived,
            "is_schedule_active": self.is_schedule_active,
            "version_group_id": f"{self.project}/{self.name}",
            "project": {"id": f"project-{self.project}", "name": self.project},
        }


@dataclass
class StubFlowRun:
    """A Prefect 1 flow run."""

    id: str
    flow_id: str
    name: str
    parameters: dict[str, Any]
    scheduled_start_time: datetime
    state: str = "Scheduled"
    state_message: str = ""
    start_time: datetime | None = None
    end_time: datetime | None = None
    idempotency_key: str | None = None
    written: list[str] = field(default_factory=list)

    def row(self, flow: StubFlow) -> dict[str, Any]:
        """The run as the ``flow_run`` query's rows look."""
        return {
            "id": self.id,
            "name": self.name,
            "flow_id": self.flow_id,
            "state": self.state,
            "state_message": self.state_message,
            "parameters": self.parameters,
            "scheduled_start_time": iso(self.scheduled_start_time),
            "start_time": iso(self.start_time),
            "end_time": iso(self.end_time),
            "idempotency_key": self.idempotency_key,
            "flow": flow.row(),
        }


@dataclass(frozen=True)
class StubCall:
    """One request the stub received."""

    kind: str
    field: str
    variables: dict[str, Any]
    authorized: bool
    error: str | None = None

    @property
    def input(self) -> dict[str, Any]:
        """The ``$input`` of a mutation."""
        return dict(self.variables.get("input") or {})


Executor = Callable[[StubFlow, StubFlowRun], tuple[str, str, list[str]]]
"""Runs one flow run: returns ``(final state, message, files written)``."""


class Prefect1Stub:
    """The Prefect 1 GraphQL API on ``http://127.0.0.1:<port>/graphql`` (see module docstring)."""

    def __init__(self, token: str | None = None, executor: Executor | None = None) -> None:
        self.token = token  # the API key clients must send; None: no auth (a Server)
        self.executor = executor
        self.flows: dict[str, StubFlow] = {}
        self.runs: dict[str, StubFlowRun] = {}
        self.calls: list[StubCall] = []
        self._lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None
        self._agent_stop = threading.Event()
        self._agent: threading.Thread | None = None

    # -- seeding -------------------------------------------------------------------------------
    def add_flow(
        self,
        name: str,
        project: str,
        *,
        parameters: tuple[str, ...] | list[str] = (),
        legacy_path: str | None = None,
        active: bool = True,
    ) -> StubFlow:
        """Register a flow (``legacy_path``: ``<project>/<flow>`` for the legacy executor)."""
        flow = StubFlow(
            id=str(uuid.uuid4()),
            name=name,
            project=project,
            is_schedule_active=active,
            parameters=tuple(parameters),
            legacy_path=legacy_path,
        )
        with self._lock:
            self.flows[flow.id] = flow
        return flow

    def add_run(
        self,
        flow_name: str,
        state: str,
        scheduled: datetime,
        duration: timedelta = timedelta(minutes=1),
        lateness: timedelta = timedelta(0),
    ) -> StubFlowRun:
        """Record a past run (history for ``flowctl health``)."""
        flow = self.flow(flow_name)
        start = scheduled + lateness
        run = StubFlowRun(
            id=str(uuid.uuid4()),
            flow_id=flow.id,
            name=f"seeded-{len(self.runs)}",
            parameters={},
            scheduled_start_time=scheduled,
            state=state,
            start_time=start,
            end_time=start + duration,
        )
        with self._lock:
            self.runs[run.id] = run
        return run

    def flow(self, name: str) -> StubFlow:
        """The newest flow of that name."""
        with self._lock:
            found = [f for f in self.flows.values() if f.name == name]
        if not found:
            raise KeyError(name)
        return max(found, key=lambda f: f.version)

    def runs_of(self, name: str) -> list[StubFlowRun]:
        """Every run of the flows of that name, oldest first."""
        with self._lock:
            ids = {f.id for f in self.flows.values() if f.name == name}
            return sorted(
                (r for r in self.runs.values() if r.flow_id in ids),
                key=lambda r: r.scheduled_start_time,
            )

    def calls_to(self, field_name: str) -> list[StubCall]:
        """The recorded calls of one operation."""
        with self._lock:
            return [c for c in self.calls if c.field == field_name]

    # -- GraphQL -------------------------------------------------------------------------------
    def execute(self, body: Mapping[str, Any], authorization: str | None) -> dict[str, Any]:
        """Answer one GraphQL request body."""
        raw_vars = body.get("variables") or {}
        variables = json.loads(raw_vars) if isinstance(raw_vars, str) else dict(raw_vars)
        variables = variables or {}
        authorized = not self.token or authorization == f"Bearer {self.token}"
        field_name, kind = "?", "?"
        try:
            operation = parse_operation(str(body.get("query") or ""), variables)
            field_name, kind = operation.field, operation.kind
            if not authorized:
                raise GraphQLError(
                    "UNAUTHENTICATED: Missing or invalid Authorization header", "UNAUTHENTICATED"
                )
            with self._lock:
                data = self._resolve(operation, variables)
        except GraphQLError as exc:
            self._record(kind, field_name, variables, authorized, str(exc))
            return {"errors": [{"message": str(exc), "extensions": {"code": exc.code}}]}
        self._record(kind, field_name, variables, authorized, None)
        return {"data": {operation.field: project_any(data, operation.selection)}}

    def _record(
        self, kind: str, field_name: str, variables: dict[str, Any], ok: bool, error: str | None
    ) -> None:
        with self._lock:
            self.calls.append(StubCall(kind, field_name, variables, ok, error))

    def _resolve(self, op: Operation, variables: Mapping[str, Any]) -> Any:
        if op.kind == "mutation":
            if op.field not in INPUT_FIELDS:
                raise GraphQLError(f"Cannot query field {op.field!r} on type 'Mutation'.")
            expected = f"{op.field}_input!"
            wrong = [t for t in op.declared.values() if t.rstrip("!").endswith("_input")]
            if set(op.arguments) != {"input"} or any(t != expected for t in wrong):
                raise GraphQLError(
                    f"{op.field} takes one argument `input: {expected}` (declare "
                    f"`$input: {expected}`)"
                )
            run_input = op.arguments["input"] or {}
            unknown = set(run_input) - INPUT_FIELDS[op.field]
            if unknown:
                raise GraphQLError(
                    f"field(s) {sorted(unknown)} not defined by type {op.field}_input"
                )
            return getattr(self, f"_m_{op.field}")(run_input)
        if op.field not in WHERE_TYPES:
            raise GraphQLError(f"Cannot query field {op.field!r} on type 'Query'.")
        for name, type_name in op.declared.items():
            if name == "where" and type_name.rstrip("!") != WHERE_TYPES[op.field]:
                raise GraphQLError(f"$where must be {WHERE_TYPES[op.field]}, not {type_name}")
        if op.field == "flow":
            rows = [f.row() for f in self.flows.values()]
        else:
            rows = [r.row(self.flows[r.flow_id]) for r in self.runs.values()]
        rows = [r for r in rows if matches(r, op.arguments.get("where"))]
        for column, direction in reversed(list((op.arguments.get("order_by") or {}).items())):
            rows.sort(key=_sort_key(str(column)), reverse=str(direction).startswith("desc"))
        limit = op.arguments.get("limit")
        return rows[: int(limit)] if limit is not None else rows

    def _flow_for(self, run_input: Mapping[str, Any]) -> StubFlow:
        flow = self.flows.get(str(run_input.get("flow_id")))
        if flow is None:
            raise GraphQLError(f"Invalid flow ID: {run_input.get('flow_id')}", "NOT_FOUND")
        return flow

    def _m_set_schedule_active(self, run_input: Mapping[str, Any]) -> dict[str, Any]:
        flow = self._flow_for(run_input)
        if flow.archived:
            return {"success": False, "error": "Flow is archived"}
        flow.is_schedule_active = True
        return {"success": True, "error": None}

    def _m_set_schedule_inactive(self, run_input: Mapping[str, Any]) -> dict[str, Any]:
        flow = self._flow_for(run_input)
        flow.is_schedule_active = False
        for run in self.runs.values():  # the server deletes auto-scheduled future runs
            if run.flow_id == flow.id and run.state == "Scheduled" and run.idempotency_key is None:
                run.state = "Cancelled"
        return {"success": True, "error": None}

    def _m_archive_flow(self, run_input: Mapping[str, Any]) -> dict[str, Any]:
        flow = self._flow_for(run_input)
        flow.archived = True
        flow.is_schedule_active = False
        return {"success": True, "error": None}

    def _m_create_flow_run(self, run_input: Mapping[str, Any]) -> dict[str, Any]:
        if run_input.get("flow_id"):
            flow = self._flow_for(run_input)
        else:
            group = run_input.get("version_group_id")
            live = [
                f
                for f in self.flows.values()
                if f.row()["version_group_id"] == group and not f.archived
            ]
            if not live:
                raise GraphQLError(f"No unarchived flow in version group {group}", "NOT_FOUND")
            flow = live[0]
        if flow.archived:
            raise GraphQLError(f"Flow {flow.id} is archived: no new runs.", "BAD_REQUEST")
        key = run_input.get("idempotency_key")
        if key:
            for run in self.runs.values():
                if run.flow_id == flow.id and run.idempotency_key == key:
                    return {"id": run.id}
        parameters = dict(run_input.get("parameters") or {})
        extra = set(parameters) - set(flow.parameters)
        if flow.parameters and extra:
            raise GraphQLError(f"Extra parameters were supplied: {sorted(extra)}", "BAD_REQUEST")
        scheduled = parse_time(run_input.get("scheduled_start_time")) or utcnow()
        run = StubFlowRun(
            id=str(uuid.uuid4()),
            flow_id=flow.id,
            name=str(run_input.get("flow_run_name") or f"run-{len(self.runs) + 1}"),
            parameters=parameters,
            scheduled_start_time=scheduled,
            idempotency_key=key,
        )
        self.runs[run.id] = run
        return {"id": run.id}

    # -- the agent -----------------------------------------------------------------------------
    def run_due(self, now: datetime | None = None) -> list[StubFlowRun]:
        """Execute every Scheduled run that is due (as a Prefect 1 agent would); return them."""
        now = now or utcnow()
        with self._lock:
            due = [
                r
                for r in self.runs.values()
                if r.state == "Scheduled" and r.scheduled_start_time <= now
            ]
            for run in due:
                run.state, run.start_time = "Running", utcnow()
        for run in due:
            flow = self.flows[run.flow_id]
            written: list[str] = []
            if self.executor is None:
                state, message, written = "Success", "no executor: marked successful", []
            else:
                try:
                    state, message, written = self.executor(flow, run)
                except Exception as exc:  # the agent reports a failed run, it does not die
                    state, message, written = "Failed", f"{type(exc).__name__}: {exc}", []
            with self._lock:
                run.state, run.state_message, run.written = state, message, written
                run.end_time = utcnow()
        return due

    def start_agent(self, poll_seconds: float = 0.2) -> None:
        """Execute due runs in a background thread until :meth:`close`."""
        if self._agent is not None:
            return

        def loop() -> None:
            while not self._agent_stop.wait(poll_seconds):
                self.run_due()

        self._agent = threading.Thread(target=loop, name="prefect1-stub-agent", daemon=True)
        self._agent.start()

    # -- serving -------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """The GraphQL endpoint."""
        if self._server is None:
            raise RuntimeError("the stub is not started")
        return f"http://127.0.0.1:{self._server.server_address[1]}/graphql"

    def start(self, port: int = 0) -> Prefect1Stub:
        """Serve on 127.0.0.1 in a background thread."""
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    body = json.loads(self.rfile.read(length) or b"{}")
                except ValueError:
                    self._send(400, {"errors": [{"message": "body is not JSON"}]})
                    return
                self._send(200, stub.execute(body, self.headers.get("Authorization")))

            def _send(self, status: int, payload: Any) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def close(self) -> None:
        """Stop the agent and the server."""
        self._agent_stop.set()
        if self._agent is not None:
            self._agent.join(timeout=30)
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Prefect1Stub:
        return self if self._server is not None else self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


def project_any(data: Any, selection: Mapping[str, Any]) -> Any:
    """Project a row or a list of rows onto a selection."""
    if isinstance(data, list):
        return [project(row, selection) for row in data]
    return project(data, selection)


def legacy_executor(env: Mapping[str, str], timeout: float = 600) -> Executor:
    """An executor running the legacy flow for real (``devtools.legacy.run_legacy``).

    ``env`` is the legacy run's environment: ``LAKE_PROD_ROOT``, ``SHOP_API_URL``,
    ``SHOP_API_TOKEN``, ``LEDGER_API_URL``, ``LEDGER_API_KEY`` and anything else it needs.
    """

    def execute(flow: StubFlow, run: StubFlowRun) -> tuple[str, str, list[str]]:
        from devtools.legacy import LegacyRunError, run_legacy

        if not flow.legacy_path:
            return "Failed", f"stub flow {flow.name} has no legacy_path to run", []
        try:
            result = run_legacy(
                flow.legacy_path, run.parameters, run.scheduled_start_time, env, timeout=timeout
            )
        except LegacyRunError as exc:
            return "Failed", str(exc)[-2000:], []
        return "Success", "All reference tasks succeeded.", result.written

    return execute
