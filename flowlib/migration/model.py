"""The migration's vocabulary: phases and their transitions, phase records, outcomes.

Plain data, no I/O. A flow's phase moves ``legacy -> shadow -> validated -> cutover ->
decommissioned``; a fail-back or a rollback returns it from ``cutover`` to ``shadow``. Every change
is a :class:`PhaseEvent` (when, who or what, why); the current phase and the latest events form a
:class:`PhaseRecord`, stored where people and automation read and write it (:mod:`.store`).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal, cast, get_args

Phase = Literal["legacy", "shadow", "validated", "cutover", "decommissioned"]
PHASES: tuple[Phase, ...] = get_args(Phase)

#: Where the new deployment writes in each phase (``None``: it does not run).
TARGET_ENV_OF_PHASE: dict[Phase, str | None] = {
    "legacy": None,
    "shadow": "dev",
    "validated": "dev",
    "cutover": "prod",
    "decommissioned": "prod",
}
#: Phases in which the legacy (Prefect 1) flow's schedule is active.
LEGACY_ACTIVE_PHASES: frozenset[Phase] = frozenset({"legacy", "shadow", "validated"})

#: The transitions the tools make; anything else needs ``force`` (and is recorded as forced).
#: ``shadow -> cutover`` is allowed because a cutover checks the latest validation itself.
TRANSITIONS: dict[Phase, frozenset[Phase]] = {
    "legacy": frozenset({"shadow"}),
    "shadow": frozenset({"validated", "legacy", "cutover"}),
    "validated": frozenset({"shadow", "cutover"}),
    "cutover": frozenset({"shadow", "decommissioned"}),
    "decommissioned": frozenset(),
}

Status = Literal["done", "skipped", "refused", "failed"]
REASON_LIMIT = 300
"""Reasons are cut to this many characters in the phase record (the lake history keeps 2000)."""


class MigrationError(RuntimeError):
    """A migration operation cannot proceed; the message says what to do."""


def utcnow() -> datetime:
    """The current time, aware UTC (one place, so tests can freeze it through services)."""
    return datetime.now(UTC)


def iso(moment: datetime | None) -> str | None:
    """ISO 8601 in UTC with an offset, or ``None``."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def parse_time(value: str | None) -> datetime | None:
    """Parse what :func:`iso` wrote (``Z`` accepted); ``None`` stays ``None``."""
    if not value:
        return None
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def check_phase(value: str, where: str = "phase") -> Phase:
    """A valid phase, or an error listing the valid ones."""
    if value not in PHASES:
        raise MigrationError(f"{where}: {value!r} is not a phase; one of {', '.join(PHASES)}.")
    return cast(Phase, value)


def declared_agrees(declared: Phase, recorded: Phase) -> bool:
    """Whether a recorded phase is what the manifest declares.

    ``validated`` is ``shadow`` with a passing latest validation: the validation flow moves a
    flow between the two every day and no manifest declares it, so the two agree.
    """

    def stage(phase: Phase) -> Phase:
        return "shadow" if phase == "validated" else phase

    return stage(declared) == stage(recorded)


def check_transition(previous: Phase | None, phase: Phase, force: bool, key: str) -> None:
    """Raise unless ``previous -> phase`` is a migration step (or ``force``)."""
    if force or previous is None or previous == phase or phase in TRANSITIONS[previous]:
        return
    allowed = ", ".join(sorted(TRANSITIONS[previous])) or "none"
    raise MigrationError(
        f"{key}: {previous} -> {phase} is not a migration step (allowed from {previous}: "
        f"{allowed}); use force to override (it is recorded)."
    )


def flow_key(project: str, flow: str) -> str:
    """``<project>/<flow>`` (the flow module's name), as status tables and logs show it."""
    return f"{project}/{flow}"


def variable_size(text: str) -> int:
    """The length a Prefect server gives a Variable holding ``text``.

    Prefect 3 counts the value's JSON encoding (every quote of a JSON text escaped: a record
    of 4800 characters can count 5400, over the 5000 limit), 2.20 the text itself: this is the
    larger, so a record that fits here fits on both lines.
    """
    return len(json.dumps(text))


@dataclass(frozen=True)
class PhaseEvent:
    """One change of phase (or one notable act in a phase): when, by whom or what, why."""

    at: str
    phase: Phase
    previous: Phase | None
    actor: str
    reason: str = ""
    action: str = "set-phase"
    run_id: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PhaseEvent:
        """Read what :meth:`to_dict` wrote (unknown keys ignored)."""
        return cls(
            at=str(data["at"]),
            phase=check_phase(str(data["phase"])),
            previous=check_phase(str(data["previous"])) if data.get("previous") else None,
            actor=str(data.get("actor", "?")),
            reason=str(data.get("reason", "")),
            action=str(data.get("action", "set-phase")),
            run_id=str(data["run_id"]) if data.get("run_id") else None,
            details=dict(data.get("details") or {}),
        )

    def trimmed(self, limit: int = REASON_LIMIT) -> PhaseEvent:
        """The event with its reason cut to ``limit`` characters."""
        if len(self.reason) <= limit:
            return self
        return replace(self, reason=self.reason[: limit - 1] + "…")


@dataclass(frozen=True)
class PhaseRecord:
    """A flow's current phase, its latest events, and what automation needs to act on it.

    ``plan`` is a snapshot of the flow's manifest entry (legacy name and project, deployment,
    recovery parameters) taken at each change, so the failure hooks and the fail-back watcher,
    which run where the manifests are not, can act from the record alone. ``schedule_moved``
    remembers the new deployment's schedule before a cutover moved it to the legacy slot.
    """

    project: str
    flow: str
    phase: Phase
    since: str
    actor: str
    reason: str = ""
    seq: int = 0
    flow_name: str = ""
    plan: dict[str, Any] = field(default_factory=dict)
    schedule_moved: dict[str, Any] | None = None
    events: tuple[PhaseEvent, ...] = ()
    handover: str | None = None
    failing_back: bool = False

    @property
    def key(self) -> str:
        """``<project>/<flow>``."""
        return flow_key(self.project, self.flow)

    @property
    def since_time(self) -> datetime:
        """When the current phase began."""
        moment = parse_time(self.since)
        assert moment is not None
        return moment

    @property
    def handover_time(self) -> datetime:
        """The first slot the new flow owns in prod (records from before handovers: the start)."""
        return parse_time(self.handover) or self.since_time

    def owns_prod(self, slot: datetime) -> bool:
        """Whether the new flow writes the prod partition of ``slot`` (the invariant's one rule).

        From the handover slot on, while cut over (and not failing back) or decommissioned.
        Every earlier slot, and every slot in any other phase, is the legacy flow's.
        """
        if self.phase == "decommissioned":
            return slot >= self.handover_time
        return self.phase == "cutover" and not self.failing_back and slot >= self.handover_time

    @property
    def last_event(self) -> PhaseEvent | None:
        """The latest event, if any."""
        return self.events[-1] if self.events else None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, events oldest first."""
        data = asdict(self)
        data["events"] = [e.to_dict() for e in self.events]
        return data

    def to_json(self) -> str:
        """Compact JSON (what the Prefect Variable holds)."""
        return json.dumps(self.to_dict(), separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PhaseRecord:
        """Read what :meth:`to_dict` wrote."""
        return cls(
            project=str(data["project"]),
            flow=str(data["flow"]),
            phase=check_phase(str(data["phase"])),
            since=str(data["since"]),
            actor=str(data.get("actor", "?")),
            reason=str(data.get("reason", "")),
            seq=int(data.get("seq", 0)),
            flow_name=str(data.get("flow_name", "")),
            plan=dict(data.get("plan") or {}),
            schedule_moved=dict(data["schedule_moved"]) if data.get("schedule_moved") else None,
            events=tuple(PhaseEvent.from_dict(e) for e in data.get("events") or []),
            handover=str(data["handover"]) if data.get("handover") else None,
            failing_back=bool(data.get("failing_back", False)),
        )

    def fitted(self, max_chars: int, keep_min: int = 1) -> PhaseRecord:
        """This record with reasons trimmed and the oldest events dropped until it fits.

        ``max_chars`` is counted as the server counts a Variable (:func:`variable_size`).
        """
        record = replace(self, events=tuple(e.trimmed() for e in self.events))
        while variable_size(record.to_json()) > max_chars and len(record.events) > keep_min:
            record = replace(record, events=record.events[1:])
        if variable_size(record.to_json()) > max_chars:
            raise MigrationError(
                f"the phase record of {self.key} does not fit in {max_chars} characters even "
                "with one event; shorten the manifest entry's recovery section."
            )
        return record


@dataclass(frozen=True)
class ValidationRecord:
    """The latest validation of one flow's dataset: its verdict and counts, not the whole report."""

    project: str
    flow: str
    passed: bool
    verdict: str
    at: str
    actor: str
    since: str | None = None
    until: str | None = None
    matched: int = 0
    missing_in_dev: int = 0
    only_in_dev: int = 0
    pairs_passed: int = 0
    pairs_failed: int = 0
    pairs_errored: int = 0
    prod_root: str = ""
    dev_root: str = ""
    report_url: str | None = None
    days: list[dict[str, Any]] = field(default_factory=list)

    @property
    def at_time(self) -> datetime:
        """When the validation was recorded."""
        moment = parse_time(self.at)
        assert moment is not None
        return moment

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self)

    def to_json(self) -> str:
        """Compact JSON (what the Prefect Variable holds)."""
        return json.dumps(self.to_dict(), separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ValidationRecord:
        """Read what :meth:`to_dict` wrote (unknown keys ignored)."""
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})

    def summary(self) -> str:
        """One line: verdict, when, counts."""
        window = f" {self.since}..{self.until}" if self.since or self.until else ""
        return (
            f"{self.verdict} at {self.at}{window}: {self.matched} matched, {self.pairs_passed} "
            f"passed, {self.pairs_failed} failed, {self.pairs_errored} errors, "
            f"{self.missing_in_dev} missing in dev"
        )


@dataclass(frozen=True)
class Outcome:
    """What one operation did to one flow; ``flowctl`` prints these and exits non-zero on failure.

    ``status``: ``done`` (changed something), ``skipped`` (nothing to do, e.g. already cut over),
    ``refused`` (a rule said no, e.g. validation did not pass; ``--force`` overrides), ``failed``
    (an error; the message says what happened and what state things were left in).
    """

    project: str
    flow: str
    action: str
    status: Status
    message: str
    phase: Phase | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Done or skipped."""
        return self.status in ("done", "skipped")

    @property
    def key(self) -> str:
        """``<project>/<flow>``."""
        return flow_key(self.project, self.flow)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self)


def exit_code(outcomes: list[Outcome]) -> int:
    """0 when every outcome is done or skipped, 1 when one was refused, 2 when one failed."""
    if any(o.status == "failed" for o in outcomes):
        return 2
    return 1 if any(o.status == "refused" for o in outcomes) else 0
