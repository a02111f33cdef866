"""Where phases, their history and validation verdicts live at run time.

Decision (docs/cutover.md):

- **Current phase**: a Prefect Variable per flow, ``migration_phase__<project>__<flow>``, holding
  a JSON :class:`~flowlib.migration.model.PhaseRecord`: the phase, since when, by whom and why,
  the latest events (as many as fit in the 5000-character value limit of Prefect 2 and 3), and a
  snapshot of the flow's plan. People read and edit it in the UI or with ``prefect variable``;
  hooks, the watcher and ``flowctl`` read and write it through the same API.
- **Full history**: every event, appended to ``_state/migration/<project>/<flow>.json`` in the
  prod lake (written atomically through :mod:`flowlib.lake`, the last 1000 kept). Best effort: a
  lake that cannot be written costs a warning, never a phase change.
- **Latest validation**: a Variable per flow, ``migration_validation__<project>__<flow>``, holding
  a :class:`~flowlib.migration.model.ValidationRecord` (the verdict and counts; the full report
  stays in the validation flow's artifact).
- **Fail-back claims**: ``migration_claim__<run id>``, created atomically (a name exists once), so
  the failure hook and the watcher never fail the same run back twice at the same time.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from flowlib import compat
from flowlib.migration._aio import run_sync
from flowlib.migration.model import (
    MigrationError,
    PhaseEvent,
    PhaseRecord,
    ValidationRecord,
    iso,
    parse_time,
    utcnow,
)

log = logging.getLogger("flowlib.migration")

PHASE_PREFIX = "migration_phase__"
VALIDATION_PREFIX = "migration_validation__"
CLAIM_PREFIX = "migration_claim__"
VARIABLE_VALUE_LIMIT = 4800
"""Below the 5000-character value limit of Prefect 2.20 and 3.x."""
HISTORY_LIMIT = 1000
HISTORY_REASON_LIMIT = 2000


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9_]+", "_", text.lower()).strip("_")


def phase_variable(project: str, flow: str) -> str:
    """The Variable holding a flow's phase record."""
    return f"{PHASE_PREFIX}{_slug(project)}__{_slug(flow)}"


def validation_variable(project: str, flow: str) -> str:
    """The Variable holding a flow's latest validation."""
    return f"{VALIDATION_PREFIX}{_slug(project)}__{_slug(flow)}"


def claim_variable(key: str) -> str:
    """The Variable claiming one fail-back (``key``: the failed run's id)."""
    return f"{CLAIM_PREFIX}{_slug(key)}"[:255]


def history_path(project: str, flow: str) -> str:
    """The full history's path in the prod lake."""
    return f"_state/migration/{project}/{flow}.json"


class PhaseStore(Protocol):
    """Phase records, validation records and claims."""

    def read(self, project: str, flow: str) -> PhaseRecord | None:
        """A flow's phase record, or ``None`` when it has none yet."""
        ...

    def write(self, record: PhaseRecord) -> None:
        """Store a flow's phase record."""
        ...

    def records(self) -> list[PhaseRecord]:
        """Every flow's phase record."""
        ...

    def read_validation(self, project: str, flow: str) -> ValidationRecord | None:
        """A flow's latest validation."""
        ...

    def write_validation(self, record: ValidationRecord) -> None:
        """Store a flow's latest validation."""
        ...

    def claim(self, key: str, owner: str, ttl: timedelta) -> bool:
        """Take an exclusive claim (expired claims are taken over); True when taken."""
        ...

    def release(self, key: str) -> None:
        """Drop a claim."""
        ...


class HistoryLog(Protocol):
    """The append-only history of phase events."""

    def append(self, project: str, flow: str, event: PhaseEvent) -> None:
        """Add one event."""
        ...

    def read(self, project: str, flow: str) -> list[PhaseEvent]:
        """Every stored event, oldest first."""
        ...


def parse_record(name: str, text: str) -> PhaseRecord:
    """The phase record a Variable named ``name`` holds; the error says how to repair it."""
    try:
        return PhaseRecord.from_dict(json.loads(text))
    except (ValueError, KeyError, TypeError) as exc:
        raise MigrationError(
            f"Prefect Variable {name} does not hold a phase record ({exc}); fix it in the UI "
            f"(`prefect variable inspect {name}`) or delete it and set the phase again."
        ) from exc


class VariableStore:
    """:class:`PhaseStore` on Prefect Variables (the current profile's API)."""

    def read(self, project: str, flow: str) -> PhaseRecord | None:
        """A flow's phase record."""
        from prefect import get_client

        name = phase_variable(project, flow)

        async def read() -> str | None:
            async with get_client() as client:
                return await read_variable_text(client, name)

        text = run_sync(read)
        return parse_record(name, text) if text is not None else None

    def write(self, record: PhaseRecord) -> None:
        """Store a record, dropping its oldest events if it would not fit in a Variable."""
        from prefect import get_client

        name = phase_variable(record.project, record.flow)
        text = record.fitted(VARIABLE_VALUE_LIMIT).to_json()

        async def write() -> None:
            async with get_client() as client:
                await compat.write_variable_text(client, name, text)

        run_sync(write)

    def records(self) -> list[PhaseRecord]:
        """Every flow's phase record (malformed ones are logged and skipped)."""
        from prefect import get_client

        async def read() -> dict[str, str]:
            async with get_client() as client:
                return await variables_with_prefix(client, PHASE_PREFIX)

        out = []
        for name, text in sorted(run_sync(read).items()):
            try:
                out.append(parse_record(name, text))
            except MigrationError as exc:
                log.warning("%s", exc)
        return out

    def read_validation(self, project: str, flow: str) -> ValidationRecord | None:
        """A flow's latest validation."""
        from prefect import get_client

        name = validation_variable(project, flow)

        async def read() -> str | None:
            async with get_client() as client:
                return await read_variable_text(client, name)

        text = run_sync(read)
        if text is None:
            return None
        try:
            return ValidationRecord.from_dict(json.loads(text))
        except (ValueError, TypeError) as exc:
            raise MigrationError(
                f"Prefect Variable {name} does not hold a validation record ({exc}); run "
                "`flowctl validate` again or delete it."
            ) from exc

    def write_validation(self, record: ValidationRecord) -> None:
        """Store a flow's latest validation."""
        from prefect import get_client

        name = validation_variable(record.project, record.flow)
        text = record.to_json()

        async def write() -> None:
            async with get_client() as client:
                await compat.write_variable_text(client, name, text)

        run_sync(write)

    def claim(self, key: str, owner: str, ttl: timedelta) -> bool:
        """Create the claim Variable; take over one older than ``ttl`` (its owner died)."""
        from prefect import get_client

        name = claim_variable(key)
        now = utcnow()
        value = json.dumps({"owner": owner, "at": iso(now)})

        async def claim() -> bool:
            async with get_client() as client:
                if await create_variable_once(client, name, value):
                    return True
                text = await read_variable_text(client, name)
                held = json.loads(text) if text else {}
                taken = parse_time(held.get("at")) if isinstance(held, dict) else None
                if taken is not None and now - taken < ttl:
                    return False
                await delete_variable(client, name)
                return await create_variable_once(client, name, value)

        return run_sync(claim)

    def release(self, key: str) -> None:
        """Delete the claim Variable."""
        from prefect import get_client

        name = claim_variable(key)

        async def release() -> None:
            async with get_client() as client:
                await delete_variable(client, name)

        run_sync(release)


class MemoryStore:
    """:class:`PhaseStore` in memory (unit tests, dry runs)."""

    def __init__(self, max_chars: int = VARIABLE_VALUE_LIMIT) -> None:
        self.phases: dict[tuple[str, str], PhaseRecord] = {}
        self.validations: dict[tuple[str, str], ValidationRecord] = {}
        self.claims: dict[str, tuple[str, datetime]] = {}
        self.max_chars = max_chars
        self._lock = threading.Lock()

    def read(self, project: str, flow: str) -> PhaseRecord | None:
        """A flow's phase record."""
        return self.phases.get((project, flow))

    def write(self, record: PhaseRecord) -> None:
        """Store a record (fitted like a Variable)."""
        self.phases[(record.project, record.flow)] = record.fitted(self.max_chars)

    def records(self) -> list[PhaseRecord]:
        """Every record."""
        return [self.phases[k] for k in sorted(self.phases)]

    def read_validation(self, project: str, flow: str) -> ValidationRecord | None:
        """A flow's latest validation."""
        return self.validations.get((project, flow))

    def write_validation(self, record: ValidationRecord) -> None:
        """Store a flow's latest validation."""
        self.validations[(record.project, record.flow)] = record

    def claim(self, key: str, owner: str, ttl: timedelta) -> bool:
        """Take a claim unless a fresh one is held (atomic, like creating a Variable)."""
        now = utcnow()
        with self._lock:
            held = self.claims.get(key)
            if held is not None and now - held[1] < ttl:
                return False
            self.claims[key] = (owner, now)
            return True

    def release(self, key: str) -> None:
        """Drop a claim."""
        self.claims.pop(key, None)


class LakeHistory:
    """:class:`HistoryLog` in the prod lake: ``_state/migration/<project>/<flow>.json``."""

    def __init__(self, target_env: str = "prod") -> None:
        self.target_env = target_env

    def _lake(self) -> Any:
        from flowlib.lake import Lake
        from flowlib.settings import resolve_lake

        return Lake(resolve_lake(self.target_env))

    def append(self, project: str, flow: str, event: PhaseEvent) -> None:
        """Read, append, keep the last :data:`HISTORY_LIMIT`, write atomically."""
        lake = self._lake()
        path = history_path(project, flow)
        doc = lake.read_json(path) or {"project": project, "flow": flow, "events": []}
        events = list(doc.get("events") or [])
        events.append(event.trimmed(HISTORY_REASON_LIMIT).to_dict())
        doc["events"] = events[-HISTORY_LIMIT:]
        lake.write_json(path, doc)

    def read(self, project: str, flow: str) -> list[PhaseEvent]:
        """Every stored event, oldest first."""
        doc = self._lake().read_json(history_path(project, flow)) or {}
        return [PhaseEvent.from_dict(e) for e in doc.get("events") or []]


class MemoryHistory:
    """:class:`HistoryLog` in memory."""

    def __init__(self) -> None:
        self.events: dict[tuple[str, str], list[PhaseEvent]] = {}

    def append(self, project: str, flow: str, event: PhaseEvent) -> None:
        """Add one event."""
        self.events.setdefault((project, flow), []).append(event)

    def read(self, project: str, flow: str) -> list[PhaseEvent]:
        """Every stored event."""
        return list(self.events.get((project, flow), []))


def with_event(record: PhaseRecord, event: PhaseEvent) -> PhaseRecord:
    """The record after ``event``: its phase, since, actor, reason, and the event appended."""
    changed = event.phase != record.phase
    return replace(
        record,
        phase=event.phase,
        since=event.at if changed else record.since,
        actor=event.actor,
        reason=event.reason,
        seq=record.seq + 1,
        events=(*record.events, event),
    )


# --- Variables: text values, atomic claims, listing by prefix ----------------------------------


async def read_variable_text(client: Any, name: str) -> str | None:
    """A Variable's value as text (2.20 stores strings; 3.x JSON, where we store strings)."""
    variable = await client.read_variable_by_name(name)
    if variable is None:
        return None
    value = variable.value
    if isinstance(value, str):
        return value
    import json

    return json.dumps(value)


async def create_variable_once(client: Any, name: str, value: str) -> bool:
    """Create a Variable unless one of that name exists: an atomic claim. True if created."""
    from prefect.client.schemas.actions import VariableCreate

    try:
        await client.create_variable(VariableCreate(name=name, value=value))
    except Exception as exc:
        if compat.http_status(exc) == 409:
            return False
        raise
    return True


async def delete_variable(client: Any, name: str) -> bool:
    """Delete a Variable; False when there was none."""
    from prefect.exceptions import ObjectNotFound

    try:
        await client.delete_variable_by_name(name)
    except ObjectNotFound:
        return False
    return True


async def variables_with_prefix(client: Any, prefix: str, page: int = 200) -> dict[str, str]:
    """Every Variable whose name starts with ``prefix``: name -> value text."""
    import json

    found: dict[str, str] = {}
    offset = 0
    while True:
        body = {
            "variables": {"name": {"like_": f"{prefix}%"}},
            "limit": page,
            "offset": offset,
            "sort": "NAME_ASC",
        }
        response = await client._client.post("/variables/filter", json=body)
        response.raise_for_status()
        rows = response.json()
        for row in rows:
            name, value = row["name"], row["value"]
            if name.startswith(prefix):
                found[name] = value if isinstance(value, str) else json.dumps(value)
        if len(rows) < page:
            return found
        offset += page
