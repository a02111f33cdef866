"""A small client for the Prefect 1 Server/Cloud GraphQL API: the legacy side of a cutover.

It does what the migration needs and nothing more, with the documented operations of Prefect 1
(``prefect==1.4.1``'s ``Client`` sends the same ones):

- ``flow`` query (Hasura ``where``/``order_by``): find a flow by name and project;
- ``set_schedule_active`` / ``set_schedule_inactive`` (``input: {flow_id}``): (un)schedule it;
- ``create_flow_run`` (``input: {flow_id, parameters, scheduled_start_time, idempotency_key,
  flow_run_name}``): a recovery run; the idempotency key makes a repeated fail-back create no
  second run;
- ``archive_flow`` (``input: {flow_id}``): decommission;
- ``flow_run`` query: recent runs, for ``flowctl health``.

Configured by ``PREFECT1_API_URL`` (e.g. ``http://prefect1-apollo:4200/graphql``, or
``https://api.prefect.io`` for Prefect Cloud 1) and ``PREFECT1_API_TOKEN`` (a Cloud API key, sent
as ``Authorization: Bearer``; unset for a Server without auth). Requests use explicit connect and
read timeouts and are retried on connection errors, 429 and 5xx; every operation here is safe to
repeat (``create_flow_run`` through its idempotency key).
"""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx

from flowlib.migration.model import MigrationError, iso, parse_time

API_URL_VAR = "PREFECT1_API_URL"
API_TOKEN_VAR = "PREFECT1_API_TOKEN"  # noqa: S105 - the variable's name, not a secret

FLOW_FIELDS = "id name version archived is_schedule_active project { id name }"
FLOW_RUN_FIELDS = (
    "id name state state_message parameters scheduled_start_time start_time end_time "
    "flow { id name project { name } }"
)

Q_FLOW = (
    "query($where: flow_bool_exp, $limit: Int) {\n"
    "  flow(where: $where, order_by: {version: desc}, limit: $limit) { " + FLOW_FIELDS + " }\n"
    "}"
)
Q_FLOW_RUN = (
    "query($where: flow_run_bool_exp, $limit: Int) {\n"
    "  flow_run(where: $where, order_by: {scheduled_start_time: desc}, limit: $limit) { "
    + FLOW_RUN_FIELDS
    + " }\n}"
)
M_SET_SCHEDULE_ACTIVE = (
    "mutation($input: set_schedule_active_input!) {\n"
    "  set_schedule_active(input: $input) { success error }\n}"
)
M_SET_SCHEDULE_INACTIVE = (
    "mutation($input: set_schedule_inactive_input!) {\n"
    "  set_schedule_inactive(input: $input) { success error }\n}"
)
M_CREATE_FLOW_RUN = (
    "mutation($input: create_flow_run_input!) {\n  create_flow_run(input: $input) { id }\n}"
)
M_ARCHIVE_FLOW = (
    "mutation($input: archive_flow_input!) {\n  archive_flow(input: $input) { success error }\n}"
)


class Prefect1Error(MigrationError):
    """The Prefect 1 API refused or failed a request; the message names the operation."""


@dataclass(frozen=True)
class LegacyFlow:
    """A registered Prefect 1 flow (the newest unarchived version)."""

    id: str
    name: str
    project: str
    version: int
    archived: bool
    is_schedule_active: bool


@dataclass(frozen=True)
class LegacyFlowRun:
    """One Prefect 1 flow run."""

    id: str
    name: str
    state: str
    scheduled_start_time: datetime | None
    start_time: datetime | None
    end_time: datetime | None
    parameters: dict[str, Any] = field(default_factory=dict)
    state_message: str = ""

    @property
    def succeeded(self) -> bool:
        """Prefect 1's ``Success`` state."""
        return self.state == "Success"

    @property
    def failed(self) -> bool:
        """Failed, timed out or cancelled (Prefect 1 state names)."""
        return self.state in ("Failed", "TimedOut", "Cancelled", "Cancelling")

    @property
    def finished(self) -> bool:
        """In a final state."""
        return self.succeeded or self.failed or self.state in ("Skipped",)


class Prefect1Client:
    """The Prefect 1 GraphQL API (see the module docstring)."""

    def __init__(
        self,
        api_url: str,
        token: str | None = None,
        *,
        connect_timeout: float = 10.0,
        read_timeout: float = 30.0,
        max_attempts: int = 4,
        backoff_seconds: float = 0.5,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.api_url = api_url
        self.max_attempts = max_attempts
        self.backoff_seconds = backoff_seconds
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._http = httpx.Client(
            headers=headers,
            timeout=httpx.Timeout(read_timeout, connect=connect_timeout),
            transport=transport,
        )

    def __repr__(self) -> str:
        return f"Prefect1Client({self.api_url!r})"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Prefect1Client:
        """From ``PREFECT1_API_URL`` and ``PREFECT1_API_TOKEN``; an error says what to set."""
        env = os.environ if environ is None else environ
        url = env.get(API_URL_VAR)
        if not url:
            raise Prefect1Error(
                f"{API_URL_VAR} is not set: point it at the Prefect 1 GraphQL API "
                "(Server: http://<apollo>:4200/graphql, Cloud: https://api.prefect.io) and set "
                f"{API_TOKEN_VAR} to an API key if it needs one."
            )
        return cls(url, env.get(API_TOKEN_VAR) or None)

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._http.close()

    def __enter__(self) -> Prefect1Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transport -----------------------------------------------------------------------------
    def graphql(self, query: str, variables: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """POST one operation; return its ``data`` or raise :class:`Prefect1Error`."""
        # Prefect 1's own client sends ``variables`` JSON-encoded; a dict works for both servers
        body = {"query": query, "variables": json.dumps(dict(variables or {}))}
        operation = query.split("{", 2)[1].split("(", 1)[0].strip() if "{" in query else query
        last: Exception | None = None
        for attempt in range(1, self.max_attempts + 1):
            try:
                response = self._http.post(self.api_url, json=body)
            except httpx.TransportError as exc:
                last = exc
            else:
                if response.status_code == 429 or response.status_code >= 500:
                    last = Prefect1Error(f"HTTP {response.status_code}: {response.text[:300]}")
                elif response.status_code >= 400:
                    raise Prefect1Error(
                        f"Prefect 1 API {self.api_url} {operation}: HTTP "
                        f"{response.status_code}: {response.text[:500]}"
                    )
                else:
                    return self._data(response, operation)
            if attempt < self.max_attempts:
                time.sleep(self.backoff_seconds * 2 ** (attempt - 1) * (1 + random.random()))
        raise Prefect1Error(
            f"Prefect 1 API {self.api_url} {operation}: no answer after {self.max_attempts} "
            f"attempts ({last})"
        )

    def _data(self, response: httpx.Response, operation: str) -> dict[str, Any]:
        try:
            payload = response.json()
        except ValueError as exc:
            raise Prefect1Error(
                f"Prefect 1 API {self.api_url} {operation}: not JSON: {response.text[:300]}"
            ) from exc
        errors = payload.get("errors")
        if errors:
            messages = "; ".join(str(e.get("message", e)) for e in errors)
            hint = (
                f" (check {API_TOKEN_VAR})"
                if "UNAUTHENTICATED" in json.dumps(errors) or "Authorization" in messages
                else ""
            )
            raise Prefect1Error(f"Prefect 1 API {self.api_url} {operation}: {messages}{hint}")
        data = payload.get("data")
        if not isinstance(data, dict):
            raise Prefect1Error(f"Prefect 1 API {self.api_url} {operation}: no data in {payload}")
        return data

    # -- operations ----------------------------------------------------------------------------
    def find_flow(self, name: str, project: str) -> LegacyFlow:
        """The newest unarchived version of a flow, by name and project."""
        where = {
            "name": {"_eq": name},
            "project": {"name": {"_eq": project}},
            "archived": {"_eq": False},
        }
        rows = self.graphql(Q_FLOW, {"where": where, "limit": 1})["flow"]
        if not rows:
            raise Prefect1Error(
                f"no unarchived Prefect 1 flow {name!r} in project {project!r} at "
                f"{self.api_url}: check the manifest's legacy name/project (or it is archived)."
            )
        return _flow(rows[0])

    def flow_by_id(self, flow_id: str) -> LegacyFlow:
        """A flow by id (archived or not)."""
        rows = self.graphql(Q_FLOW, {"where": {"id": {"_eq": flow_id}}, "limit": 1})["flow"]
        if not rows:
            raise Prefect1Error(f"no Prefect 1 flow with id {flow_id} at {self.api_url}")
        return _flow(rows[0])

    def _success(self, mutation: str, field_name: str, flow_id: str) -> None:
        result = self.graphql(mutation, {"input": {"flow_id": flow_id}})[field_name] or {}
        if not result.get("success"):
            raise Prefect1Error(
                f"Prefect 1 {field_name} for flow {flow_id} did not succeed: "
                f"{result.get('error') or result}"
            )

    def set_schedule_active(self, flow_id: str) -> None:
        """Turn a flow's schedule on (the scheduler creates its runs again)."""
        self._success(M_SET_SCHEDULE_ACTIVE, "set_schedule_active", flow_id)

    def set_schedule_inactive(self, flow_id: str) -> None:
        """Turn a flow's schedule off (its future auto-scheduled runs are removed)."""
        self._success(M_SET_SCHEDULE_INACTIVE, "set_schedule_inactive", flow_id)

    def archive_flow(self, flow_id: str) -> None:
        """Archive a flow: kept for its history, never scheduled or run again."""
        self._success(M_ARCHIVE_FLOW, "archive_flow", flow_id)

    def create_flow_run(
        self,
        flow_id: str,
        parameters: Mapping[str, Any] | None = None,
        scheduled_start_time: datetime | None = None,
        idempotency_key: str | None = None,
        run_name: str | None = None,
    ) -> str:
        """Create a flow run; the same ``idempotency_key`` returns the same run (24 h)."""
        run_input: dict[str, Any] = {"flow_id": flow_id}
        if parameters is not None:
            run_input["parameters"] = dict(parameters)
        if scheduled_start_time is not None:
            run_input["scheduled_start_time"] = iso(scheduled_start_time)
        if idempotency_key:
            run_input["idempotency_key"] = idempotency_key
        if run_name:
            run_input["flow_run_name"] = run_name
        result = self.graphql(M_CREATE_FLOW_RUN, {"input": run_input})["create_flow_run"]
        if not result or not result.get("id"):
            raise Prefect1Error(f"Prefect 1 create_flow_run for flow {flow_id} returned {result}")
        return str(result["id"])

    def flow_runs(
        self, name: str, project: str, since: datetime, limit: int = 500
    ) -> list[LegacyFlowRun]:
        """Runs of a flow (every version) scheduled since ``since``, newest first."""
        where = {
            "flow": {"name": {"_eq": name}, "project": {"name": {"_eq": project}}},
            "scheduled_start_time": {"_gte": iso(since)},
        }
        rows = self.graphql(Q_FLOW_RUN, {"where": where, "limit": limit})["flow_run"]
        return [
            LegacyFlowRun(
                id=str(r["id"]),
                name=str(r.get("name") or ""),
                state=str(r.get("state") or ""),
                scheduled_start_time=parse_time(r.get("scheduled_start_time")),
                start_time=parse_time(r.get("start_time")),
                end_time=parse_time(r.get("end_time")),
                parameters=dict(r.get("parameters") or {}),
                state_message=str(r.get("state_message") or ""),
            )
            for r in rows
        ]


def _flow(row: Mapping[str, Any]) -> LegacyFlow:
    return LegacyFlow(
        id=str(row["id"]),
        name=str(row["name"]),
        project=str((row.get("project") or {}).get("name", "")),
        version=int(row.get("version") or 0),
        archived=bool(row.get("archived")),
        is_schedule_active=bool(row.get("is_schedule_active")),
    )
