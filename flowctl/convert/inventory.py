"""``flowctl legacy inventory``: what the Prefect 1 server knows, as a file the converter reads.

Through the Prefect 1 GraphQL API (Hasura queries on ``flow``, ``flow_group`` and ``flow_run``)
it reads every flow's versions, project, schedule (a JSON column on ``flow`` and on
``flow_group``; the group's wins, as on the server), default parameters (``flow_group``),
labels, run config, archived state and last run, and writes one JSON document::

    {"format": "flowctl-legacy-inventory", "version": 1, "api": "<url>", "read_at": "<iso>",
     "flows": [{"name", "project", "flow_id", "flow_group_id", "version", "versions",
                "archived", "schedule_active", "clocks": [{"kind", "cron",
                "interval_seconds", "anchor", "timezone", "parameter_defaults"}],
                "parameters", "default_parameters", "labels", "run_config", "last_run"}]}

``flowctl convert --inventory FILE`` takes schedules, parameter defaults, labels and run configs
from it instead of from the code: the server is what actually ran.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flowctl.convert.model import Clock

if TYPE_CHECKING:
    from flowctl.convert.engine import Conversion

FORMAT = "flowctl-legacy-inventory"

Q_FLOWS = (
    "query($where: flow_bool_exp, $limit: Int) {\n"
    "  flow(where: $where, order_by: {version: desc}, limit: $limit) {\n"
    "    id name version archived is_schedule_active schedule parameters run_config\n"
    "    project { name }\n"
    "    flow_group { id name schedule default_parameters labels run_config }\n"
    "  }\n}"
)
Q_LAST_RUN = (
    "query($where: flow_run_bool_exp, $limit: Int) {\n"
    "  flow_run(where: $where, order_by: {scheduled_start_time: desc}, limit: $limit) {\n"
    "    id state scheduled_start_time start_time end_time\n"
    "  }\n}"
)


def _tz_datetime(value: Any) -> tuple[str | None, str]:
    """Prefect 1 serialises a clock's start date as ``{"dt": ..., "tz": ...}``."""
    if isinstance(value, Mapping):
        from zoneinfo import ZoneInfo

        tz = str(value.get("tz") or "UTC")
        dt = datetime.fromisoformat(str(value["dt"]))
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=ZoneInfo(tz))
        return dt.isoformat(), tz
    if isinstance(value, str):
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return dt.isoformat(), "UTC"
    return None, "UTC"


def clocks_of(schedule: Any) -> list[dict[str, Any]]:
    """A Prefect 1 serialised schedule (the JSON column) → the inventory's clocks."""
    if not isinstance(schedule, Mapping):
        return []
    out = []
    for raw in schedule.get("clocks") or []:
        anchor, tz = _tz_datetime(raw.get("start_date"))
        kind = str(raw.get("type", ""))
        clock: dict[str, Any] = {
            "anchor": anchor,
            "timezone": tz,
            "parameter_defaults": dict(raw.get("parameter_defaults") or {}),
        }
        if kind == "CronClock":
            clock.update(kind="cron", cron=raw["cron"])
        elif kind == "IntervalClock":
            interval = raw["interval"]  # microseconds in Prefect 1's schema
            clock.update(
                kind="interval",
                interval_seconds=timedelta(microseconds=int(interval)).total_seconds(),
            )
        else:
            clock.update(kind=kind or "unknown")
        out.append(clock)
    return out


def read_inventory(client: Any, *, last_runs: bool = True) -> dict[str, Any]:
    """Read every flow (all versions) from a :class:`flowlib.migration.prefect1.Prefect1Client`."""
    rows = client.graphql(Q_FLOWS, {"where": {}, "limit": 10000})["flow"]
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        group = (row.get("flow_group") or {}).get("id") or row["id"]
        groups.setdefault(group, []).append(row)
    flows = []
    for group_id, versions in groups.items():
        versions = sorted(versions, key=lambda r: int(r.get("version") or 0), reverse=True)
        live = next((r for r in versions if not r.get("archived")), versions[0])
        group = live.get("flow_group") or {}
        schedule = group.get("schedule") or live.get("schedule")
        run_config = live.get("run_config") or group.get("run_config") or {}
        labels = group.get("labels")
        if labels is None:
            labels = (run_config or {}).get("labels") or []
        entry: dict[str, Any] = {
            "name": live["name"],
            "project": (live.get("project") or {}).get("name"),
            "flow_id": live["id"],
            "flow_group_id": group_id,
            "version": live.get("version"),
            "versions": [r.get("version") for r in versions],
            "archived": bool(live.get("archived")),
            "schedule_active": bool(live.get("is_schedule_active")),
            "clocks": clocks_of(schedule),
            "parameters": [
                p.get("name") for p in live.get("parameters") or [] if isinstance(p, Mapping)
            ],
            "default_parameters": dict(group.get("default_parameters") or {}),
            "labels": sorted(str(x) for x in labels),
            "run_config": dict(run_config or {}),
            "last_run": None,
        }
        if last_runs:
            ids = [r["id"] for r in versions]
            runs = client.graphql(Q_LAST_RUN, {"where": {"flow_id": {"_in": ids}}, "limit": 1})[
                "flow_run"
            ]
            entry["last_run"] = runs[0] if runs else None
        flows.append(entry)
    flows.sort(key=lambda f: (str(f["project"]), str(f["name"])))
    return {
        "format": FORMAT,
        "version": 1,
        "api": getattr(client, "api_url", None),
        "read_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "flows": flows,
    }


def load_inventory(path: Path) -> dict[str, Any]:
    """Read an inventory file; raises ValueError when it is not one."""
    data = json.loads(path.read_text("utf-8"))
    if not isinstance(data, Mapping) or data.get("format") != FORMAT:
        raise ValueError(f"not a {FORMAT} file (write one with `flowctl legacy inventory`)")
    return dict(data)


def apply_inventory(conversion: Conversion, inventory: Mapping[str, Any]) -> list[str]:
    """Take schedules, parameter defaults, labels and run configs from the inventory."""
    notes: list[str] = []
    by_name: dict[tuple[str, str | None], Mapping[str, Any]] = {}
    for flow in inventory.get("flows") or []:
        by_name[(flow["name"], flow.get("project"))] = flow
        by_name.setdefault((flow["name"], None), flow)
    for module in conversion.modules:
        for info in module.flows:
            flow = by_name.get((info.legacy_name, info.project)) or by_name.get(
                (info.legacy_name, None)
            )
            if flow is None:
                notes.append(f"{info.path_out}: flow {info.legacy_name!r} is not in the inventory")
                continue
            if flow.get("archived"):
                notes.append(
                    f"{info.path_out}: flow {info.legacy_name!r} is archived on the server"
                )
            if info.project is None:
                info.project = flow.get("project")
            info.clocks = [
                Clock(
                    kind=c["kind"],
                    cron=c.get("cron"),
                    interval_seconds=c.get("interval_seconds"),
                    anchor=c.get("anchor"),
                    timezone=c.get("timezone") or "UTC",
                    parameter_defaults=dict(c.get("parameter_defaults") or {}),
                )
                for c in flow.get("clocks") or []
                if c.get("kind") in ("cron", "interval")
            ]
            defaults = flow.get("default_parameters") or {}
            for param in info.params:
                if param.name in defaults:
                    param.default = defaults[param.name]
            info.labels = list(flow.get("labels") or [])
            run_config = dict(flow.get("run_config") or {})
            if run_config:
                kind = run_config.pop("type", None)
                run_config.pop("labels", None)
                info.run_config = {
                    "type": kind,
                    **{k: v for k, v in run_config.items() if v is not None},
                }
    return notes
