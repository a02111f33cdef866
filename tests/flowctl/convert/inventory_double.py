"""The Prefect 1 API double, extended for ``flowctl legacy inventory`` (test support only).

The lead is moving the double to ``devtools/prefect1_stub.py``; this subclass leaves it alone and
adds what the inventory reads, the way Prefect Server 1.x stores it:

- ``flow`` rows also carry ``schedule`` (JSON column), ``parameters`` (the serialised
  Parameters), ``run_config`` (JSON), ``flow_group_id`` and the ``flow_group`` relation;
- ``flow_group`` is a queryable table (``flow_group_bool_exp``) with ``schedule`` (JSON),
  ``default_parameters``, ``labels``, ``run_config`` and its ``flows``;
- every other root field goes to the double, which fails loudly on what it does not know.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

try:  # where the lead's layout refactor puts it
    from devtools.prefect1_stub import (  # type: ignore[import-not-found]
        GraphQLError,
        Operation,
        Prefect1Stub,
        StubFlow,
        _sort_key,
        matches,
    )
except ImportError:
    from flowlib.migration.prefect1_stub import (
        GraphQLError,
        Operation,
        Prefect1Stub,
        StubFlow,
        _sort_key,
        matches,
    )


@dataclass
class StubFlowGroup:
    """A flow group: what all versions of a flow share on the server."""

    id: str
    name: str
    schedule: dict[str, Any] | None = None
    default_parameters: dict[str, Any] = field(default_factory=dict)
    labels: list[str] = field(default_factory=list)
    run_config: dict[str, Any] | None = None

    def row(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "schedule": self.schedule,
            "default_parameters": self.default_parameters,
            "labels": self.labels,
            "run_config": self.run_config,
        }


class InventoryStub(Prefect1Stub):
    """The double plus ``flow_group`` and the flow columns the inventory reads."""

    def __init__(self, token: str | None = None) -> None:
        super().__init__(token=token)
        self.groups: dict[str, StubFlowGroup] = {}
        self.flow_columns: dict[str, dict[str, Any]] = {}

    def add_version(
        self,
        name: str,
        project: str,
        version: int,
        *,
        group: StubFlowGroup,
        schedule: dict[str, Any] | None = None,
        parameters: list[dict[str, Any]] | None = None,
        run_config: dict[str, Any] | None = None,
        archived: bool = False,
        active: bool = True,
    ) -> StubFlow:
        """Register one version of a flow in a flow group, with its JSON columns."""
        flow = StubFlow(
            id=str(uuid.uuid4()),
            name=name,
            project=project,
            version=version,
            archived=archived,
            is_schedule_active=active,
            parameters=tuple(p["name"] for p in parameters or []),
        )
        with self._lock:
            self.flows[flow.id] = flow
            self.groups[group.id] = group
            self.flow_columns[flow.id] = {
                "schedule": schedule,
                "parameters": list(parameters or []),
                "run_config": run_config,
                "flow_group_id": group.id,
            }
        return flow

    def _flow_row(self, flow: StubFlow) -> dict[str, Any]:
        row = flow.row()
        extra = self.flow_columns.get(flow.id) or {
            "schedule": None,
            "parameters": [],
            "run_config": None,
            "flow_group_id": None,
        }
        row.update(extra)
        group = self.groups.get(extra["flow_group_id"] or "")
        row["flow_group"] = group.row() if group else None
        return row

    def _resolve(self, op: Operation, variables: Mapping[str, Any]) -> Any:
        if op.kind != "query" or op.field not in ("flow", "flow_group"):
            return super()._resolve(op, variables)
        expected = f"{op.field}_bool_exp"
        for name, type_name in op.declared.items():
            if name == "where" and type_name.rstrip("!") != expected:
                raise GraphQLError(f"$where must be {expected}, not {type_name}")
        if op.field == "flow":
            rows = [self._flow_row(f) for f in self.flows.values()]
        else:
            rows = []
            for group in self.groups.values():
                row = group.row()
                row["flows"] = [
                    f.row()
                    for f in self.flows.values()
                    if self.flow_columns.get(f.id, {}).get("flow_group_id") == group.id
                ]
                rows.append(row)
        rows = [r for r in rows if matches(r, op.arguments.get("where"))]
        for column, direction in reversed(list((op.arguments.get("order_by") or {}).items())):
            rows.sort(key=_sort_key(str(column)), reverse=str(direction).startswith("desc"))
        limit = op.arguments.get("limit")
        return rows[: int(limit)] if limit is not None else rows

    def execute(self, body: Mapping[str, Any], authorization: str | None) -> dict[str, Any]:
        """As the double, but an unknown selected column is an ``errors`` answer (as Hasura's)."""
        try:
            return super().execute(body, authorization)
        except GraphQLError as exc:
            return {"errors": [{"message": str(exc), "extensions": {"code": exc.code}}]}
