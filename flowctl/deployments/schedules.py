"""Staggered schedules: no two starts on one source API within a gap, legacy and new alike.

A *lane* is one recurring start rule of one flow: the legacy Prefect 1 schedule
(``legacy/schedules.json``, checked against the legacy modules by ``tests/legacy``) or a schedule
of the new deployment (``deployments/<project>/prefect.yaml``). The legacy lane runs while the
flow's migration phase (its ``phase:`` tag) is ``legacy``, ``shadow`` or ``validated``; after
``cutover`` the legacy flow is off and the new flow may take its slot back.

The rule: for every source API, no two scheduled starts of its active lanes fall less than
``gap`` apart (default 15 minutes). It is a weekly rule evaluated, by default, over 53 consecutive
weeks from a reference Monday, so that both halves of daylight-saving time and the switch nights
are covered: starts are computed from the cron expressions with croniter in each schedule's time
zone, then compared in UTC.

The generator gives each flow a slot like Jenkins' ``H``: the legacy schedule with its minute
replaced by one picked from a hash of the flow's name, moving to the next minute while the slot
collides with starts already placed (the running legacy lanes, then the flows placed before it).
The result depends only on the flows, their legacy schedules, phases and the gap, so it is stable
across runs.
"""

from __future__ import annotations

import bisect
import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from croniter import croniter

from flowctl.deployments.prefect_yaml import DeploymentConfig, PrefectYamlError, deployments
from flowlib import REPO_ROOT

LEGACY_SCHEDULES = REPO_ROOT / "legacy" / "schedules.json"
DEFAULT_GAP = timedelta(minutes=15)
WEEK = timedelta(days=7)
DEFAULT_WEEKS = 53
# A fixed reference Monday: the checker and the generator give the same answer whenever they run.
REFERENCE_START = datetime(2026, 1, 5, tzinfo=UTC)
LEGACY_RUNNING_PHASES = frozenset({"legacy", "shadow", "validated"})

LaneKind = Literal["legacy", "new"]


class ScheduleError(ValueError):
    """A schedule cannot be read, checked or placed; the message names the flow and file."""


@dataclass(frozen=True)
class Schedule:
    """A recurring start rule: a cron expression in a time zone, or an anchored interval."""

    cron: str | None = None
    timezone: str = "UTC"
    interval: timedelta | None = None
    anchor: datetime | None = None

    def __post_init__(self) -> None:
        if (self.cron is None) == (self.interval is None):
            raise ScheduleError(f"{self}: give exactly one of cron and interval.")
        if self.cron is not None and not croniter.is_valid(self.cron):
            raise ScheduleError(f"cron {self.cron!r} is not a valid cron expression.")
        try:
            ZoneInfo(self.timezone)
        except (KeyError, ValueError) as exc:
            raise ScheduleError(f"time zone {self.timezone!r} is unknown.") from exc

    def describe(self) -> str:
        """``0 2 * * * UTC`` or ``every 1:00:00 from 00:05 UTC``."""
        if self.cron is not None:
            return f"{self.cron} {self.timezone}"
        anchor = self.anchor or REFERENCE_START
        return f"every {self.interval} from {anchor.astimezone(UTC):%H:%M} UTC"

    def as_cron(self) -> Schedule:
        """The same starts as a cron schedule in UTC.

        Intervals of minutes dividing an hour or of hours dividing a day have one, e.g. the
        legacy "every hour from 00:05" is ``5 * * * *``.
        """
        if self.cron is not None:
            return self
        assert self.interval is not None
        anchor = (self.anchor or REFERENCE_START).astimezone(UTC)
        seconds = int(self.interval.total_seconds())
        minutes, hours = seconds // 60, seconds // 3600
        if seconds % 60 == 0 and 0 < minutes < 60 and 60 % minutes == 0:
            return Schedule(cron=f"{anchor.minute % minutes}-59/{minutes} * * * *")
        if seconds % 3600 == 0 and hours == 1:
            return Schedule(cron=f"{anchor.minute} * * * *")
        if seconds % 3600 == 0 and 0 < hours <= 24 and 24 % hours == 0:
            return Schedule(cron=f"{anchor.minute} {anchor.hour % hours}-23/{hours} * * *")
        raise ScheduleError(f"{self.describe()} has no equivalent cron expression.")

    def starts(self, start: datetime, end: datetime) -> Iterator[datetime]:
        """Every start in ``[start, end)``, as aware UTC datetimes, in order."""
        if self.interval is not None:
            step = self.interval
            anchor = (self.anchor or REFERENCE_START).astimezone(UTC)
            skip = -((anchor - start) // step) if start > anchor else 0  # ceil((start-anchor)/step)
            moment = anchor + skip * step
            while moment < end:
                yield moment
                moment += step
            return
        assert self.cron is not None
        tz = ZoneInfo(self.timezone)
        it = croniter(self.cron, (start - timedelta(microseconds=1)).astimezone(tz))
        previous = None
        while True:
            moment = it.get_next(datetime).astimezone(UTC)
            if moment >= end:
                return
            if moment >= start and moment != previous:
                yield moment
            previous = moment


@lru_cache(maxsize=256)
def _starts_cached(schedule: Schedule, start: datetime, end: datetime) -> tuple[datetime, ...]:
    return tuple(schedule.starts(start, end))


@dataclass(frozen=True)
class Lane:
    """One flow's recurring starts on its source API: its legacy or its new schedule."""

    project: str
    flow: str
    source: str
    kind: LaneKind
    schedule: Schedule

    @property
    def label(self) -> str:
        """``legacy sales/products_snapshot``."""
        return f"{self.kind} {self.project}/{self.flow}"

    def starts(self, start: datetime, end: datetime) -> tuple[datetime, ...]:
        """The lane's starts in ``[start, end)`` (UTC, cached)."""
        return _starts_cached(self.schedule, start, end)


@dataclass(frozen=True)
class Start:
    """One scheduled start of one lane."""

    lane: Lane
    at: datetime


@dataclass(frozen=True)
class Collision:
    """Two starts on one source API less than the gap apart."""

    first: Start
    second: Start

    @property
    def source(self) -> str:
        """The source API both starts call."""
        return self.first.lane.source

    @property
    def legacy_only(self) -> bool:
        """Both starts are legacy: the Prefect 1 schedules collided before the migration.

        Not the migration's to fix (the legacy flows are frozen); such a pair is reported, not
        failed, and disappears once one of the two flows is cut over.
        """
        return self.first.lane.kind == "legacy" and self.second.lane.kind == "legacy"

    @property
    def delta(self) -> timedelta:
        """How far apart the two starts are."""
        return self.second.at - self.first.at

    def describe(self) -> str:
        """One line: the source, both lanes with their start times, and the distance."""
        minutes = self.delta.total_seconds() / 60
        return (
            f"{self.source}: {self.first.lane.label} at {_iso(self.first.at)} and "
            f"{self.second.lane.label} at {_iso(self.second.at)} ({minutes:g} min apart)"
        )


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%a %Y-%m-%dT%H:%MZ")


def horizon(start: datetime | None = None, weeks: int = DEFAULT_WEEKS) -> tuple[datetime, datetime]:
    """``[start, start + weeks)``; default: the reference Monday, 53 weeks."""
    begin = (start or REFERENCE_START).astimezone(UTC)
    return begin, begin + weeks * WEEK


def collisions(
    lanes: Iterable[Lane],
    gap: timedelta = DEFAULT_GAP,
    start: datetime | None = None,
    weeks: int = DEFAULT_WEEKS,
) -> list[Collision]:
    """Every pair of starts on one source API less than ``gap`` apart, in time order.

    Args:
        lanes: The lanes that start runs (legacy lanes still running, active new schedules).
        gap: The minimum distance between two starts on one source API.
        start: The first moment of the horizon (default: the reference Monday).
        weeks: The horizon's length in weeks.

    Returns:
        The colliding pairs (a lane may collide with itself when it starts more often than gap).
    """
    begin, end = horizon(start, weeks)
    by_source: dict[str, list[Start]] = defaultdict(list)
    for lane in lanes:
        by_source[lane.source].extend(Start(lane, at) for at in lane.starts(begin, end))
    found = []
    for source in sorted(by_source):
        starts = sorted(by_source[source], key=lambda s: (s.at, s.lane.label))
        for i, first in enumerate(starts):
            for second in starts[i + 1 :]:
                if second.at - first.at >= gap:
                    break
                found.append(Collision(first, second))
    return sorted(found, key=lambda c: (c.first.at, c.source))


def blocking(found: Iterable[Collision]) -> list[Collision]:
    """The collisions the migration causes (at least one new start): the checker fails on these."""
    return [c for c in found if not c.legacy_only]


def summarize(found: Sequence[Collision], examples: int = 3) -> str:
    """Collisions grouped by pair of lanes: how many, and the first few with their times."""
    groups: dict[tuple[str, str, str], list[Collision]] = defaultdict(list)
    for c in found:
        first, second = sorted([c.first.lane.label, c.second.lane.label])
        groups[(c.source, first, second)].append(c)
    lines = []
    for (source, first, second), items in sorted(groups.items()):
        lines.append(f"{source}: {first} <-> {second}: {len(items)} collision(s), e.g.")
        lines.extend(f"    {c.describe()}" for c in items[:examples])
    return "\n".join(lines)


# --- inputs --------------------------------------------------------------------------------
@dataclass(frozen=True)
class LegacySchedule:
    """One legacy flow's schedule (``legacy/schedules.json``)."""

    project: str
    flow: str
    legacy_name: str
    source: str
    schedule: Schedule


INVENTORY_FORMAT = "flowctl-legacy-inventory"


def _inventory_entries(path: Path, inventory: dict[str, Any]) -> list[dict[str, Any]]:
    """``flowctl legacy inventory``'s flows as schedule entries: what the Prefect 1 server runs.

    A flow maps to this repository through its manifest entry (``legacy.name`` and ``project``
    in ``migration/<project>.yaml``, which also names its source API). Archived flows and flows
    whose schedule is off start nothing and are left out; a flow's first clock is its slot.
    """
    from flowlib.migration.manifest import Manifests

    plans = {(p.legacy.name, p.legacy.project): p for p in Manifests.load().plans}
    entries = []
    for flow in inventory.get("flows") or []:
        plan = plans.get((str(flow.get("name")), str(flow.get("project"))))
        clocks = [c for c in flow.get("clocks") or [] if c.get("kind") in ("cron", "interval")]
        if plan is None or flow.get("archived") or not flow.get("schedule_active") or not clocks:
            continue
        clock = clocks[0]
        entries.append(
            {
                **{
                    k: clock[k]
                    for k in ("kind", "cron", "interval_seconds", "anchor")
                    if k in clock
                },
                "timezone": clock.get("timezone") or "UTC",
                "project": plan.project,
                "flow": plan.flow,
                "legacy_name": plan.legacy.name,
                "source_api": plan.source_api,
            }
        )
    if not entries:
        raise ScheduleError(f"{path}: the inventory has no scheduled flow of this repository.")
    return entries


def load_legacy(path: Path = LEGACY_SCHEDULES) -> dict[tuple[str, str], LegacySchedule]:
    """The legacy schedules by ``(project, flow)``.

    From ``legacy/schedules.json`` (kept by hand), or from an inventory file written by
    ``flowctl legacy inventory`` (what the Prefect 1 server actually runs).
    """
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ScheduleError(f"{path}: cannot read: {exc}") from exc
    if isinstance(entries, dict) and entries.get("format") == INVENTORY_FORMAT:
        entries = _inventory_entries(path, entries)
    found = {}
    for e in entries:
        if e["kind"] == "cron":
            schedule = Schedule(cron=e["cron"], timezone=e.get("timezone") or "UTC")
        elif e["kind"] == "interval":
            schedule = Schedule(
                interval=timedelta(seconds=int(e["interval_seconds"])),
                anchor=datetime.fromisoformat(e["anchor"]),
                timezone=e.get("timezone") or "UTC",
            )
        else:
            raise ScheduleError(f"{path}: {e['flow']}: unknown kind {e['kind']!r}.")
        found[(e["project"], e["flow"])] = LegacySchedule(
            project=e["project"],
            flow=e["flow"],
            legacy_name=e["legacy_name"],
            source=e["source_api"],
            schedule=schedule,
        )
    return found


def deployment_schedules(dep: DeploymentConfig) -> list[tuple[Schedule, bool]]:
    """A deployment's cron schedules with their ``active`` flag (``active`` must be written)."""
    found = []
    for i, entry in enumerate(dep.schedules):
        if entry.cron is None:
            raise ScheduleError(f"{dep.where}: schedule {i} has no cron (only cron is used here).")
        if entry.active is None:
            raise ScheduleError(f"{dep.where}: schedule {i} does not state active: true|false.")
        found.append((Schedule(cron=entry.cron, timezone=entry.timezone or "UTC"), entry.active))
    return found


@dataclass(frozen=True)
class Plan:
    """What the checker and the generator look at: the deployments and their legacy flows."""

    deployments: tuple[DeploymentConfig, ...]
    legacy: dict[tuple[str, str], LegacySchedule] = field(repr=False)

    @classmethod
    def load(cls, legacy_path: Path = LEGACY_SCHEDULES) -> Plan:
        """Every project's ``prefect.yaml`` and ``legacy/schedules.json``."""
        return cls(deployments=tuple(deployments()), legacy=load_legacy(legacy_path))

    def legacy_of(self, dep: DeploymentConfig) -> LegacySchedule | None:
        """The legacy flow a deployment twins (same project and module name), if any."""
        return self.legacy.get((dep.project, dep.module_name))

    def legacy_running(self, dep: DeploymentConfig) -> bool:
        """Whether the deployment's legacy flow still runs (phase legacy, shadow, validated)."""
        return self.legacy_of(dep) is not None and dep.phase in LEGACY_RUNNING_PHASES

    @property
    def on_source_apis(self) -> list[DeploymentConfig]:
        """The deployments that call a source API (a ``source:`` tag); the rule is about them."""
        return [d for d in self.deployments if d.source_api is not None]

    def no_longer_shadowed(self) -> list[DeploymentConfig]:
        """Deployments whose legacy flow no longer runs (cutover, decommissioned).

        The generator moves these back to their legacy slot when it is free.
        """
        return [
            d
            for d in self.on_source_apis
            if self.legacy_of(d) is not None and not self.legacy_running(d)
        ]

    def lanes(self, include_inactive: bool = False) -> list[Lane]:
        """The lanes that start runs: running legacy flows and active new schedules."""
        found = []
        for dep in self.on_source_apis:
            legacy = self.legacy_of(dep)
            if legacy is not None and self.legacy_running(dep):
                if legacy.source != dep.source:
                    raise ScheduleError(
                        f"{dep.where}: tag source:{dep.source} but the legacy flow reads "
                        f"{legacy.source} ({LEGACY_SCHEDULES.name})."
                    )
                found.append(
                    Lane(dep.project, dep.module_name, legacy.source, "legacy", legacy.schedule)
                )
            for schedule, active in deployment_schedules(dep):
                if active or include_inactive:
                    found.append(Lane(dep.project, dep.module_name, dep.source, "new", schedule))
        return found


def check(
    plan: Plan | None = None,
    gap: timedelta = DEFAULT_GAP,
    start: datetime | None = None,
    weeks: int = DEFAULT_WEEKS,
) -> list[Collision]:
    """The collisions of the current files (``Plan.load()`` by default)."""
    return collisions((plan or Plan.load()).lanes(), gap, start, weeks)


# --- generator -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Proposal:
    """The generator's slot for one deployment, and why."""

    deployment: DeploymentConfig
    current: Schedule | None
    proposed: Schedule
    reason: str

    @property
    def changed(self) -> bool:
        """Whether the proposal differs from the file."""
        return self.current != self.proposed

    def describe(self) -> str:
        """One line for the terminal."""
        dep = self.deployment
        was = self.current.describe() if self.current else "none"
        mark = "" if self.changed else " (unchanged)"
        head = f"{dep.project}/{dep.name}: {self.proposed.describe()}{mark}"
        return f"{head}  [was {was}; {self.reason}]"


def slot_hash(name: str) -> int:
    """A stable hash of a flow's name (sha256; Python's ``hash`` changes between runs)."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big")


def with_minute(schedule: Schedule, minute: int) -> Schedule:
    """The schedule's cron form with its minute field replaced (the ``H`` of this generator)."""
    cron = schedule.as_cron()
    assert cron.cron is not None
    fields = cron.cron.split()
    if not fields[0].isdigit():
        raise ScheduleError(
            f"{schedule.describe()}: the generator moves the minute of schedules that start "
            "at one minute of the hour; this one's minute field is not a number."
        )
    return Schedule(cron=" ".join([str(minute), *fields[1:]]), timezone=cron.timezone)


class _Occupied:
    """The sorted starts already placed on one source API."""

    def __init__(self) -> None:
        self.times: list[datetime] = []

    def add(self, starts: Iterable[datetime]) -> None:
        self.times = sorted([*self.times, *starts])

    def first_collision(
        self, schedule: Schedule, begin: datetime, end: datetime, gap: timedelta
    ) -> datetime | None:
        previous = None
        for at in schedule.starts(begin, end):
            if previous is not None and at - previous < gap:
                return at
            previous = at
            i = bisect.bisect_left(self.times, at)
            if i < len(self.times) and self.times[i] - at < gap:
                return at
            if i > 0 and at - self.times[i - 1] < gap:
                return at
        return None


def _frequency(schedule: Schedule, begin: datetime) -> int:
    return len(_starts_cached(schedule.as_cron(), begin, begin + WEEK))


def propose(
    plan: Plan | None = None,
    gap: timedelta = DEFAULT_GAP,
    start: datetime | None = None,
    weeks: int = DEFAULT_WEEKS,
) -> list[Proposal]:
    """A collision-free slot for every deployment with a legacy twin, deterministically.

    Deployments without a source API are not concerned; those on a source API without a legacy
    twin keep their schedules, which the others avoid.

    Order of placement per source API: flows whose legacy flow no longer runs (phase cutover or
    decommissioned) first, back in their legacy slot when it is free; then the others, the most
    frequent first (an hourly flow has fewer free minutes than a daily one), then by flow name.
    Each of those takes the minute ``slot_hash(flow name) % 60`` of its legacy schedule, or the
    next free one.

    Raises:
        ScheduleError: A flow has no free minute in its hour, or no legacy schedule to start from.
    """
    plan = plan or Plan.load()
    begin, end = horizon(start, weeks)
    occupied: dict[str, _Occupied] = defaultdict(_Occupied)
    for dep in plan.on_source_apis:
        legacy = plan.legacy_of(dep)
        if legacy is not None and plan.legacy_running(dep):
            occupied[legacy.source].add(_starts_cached(legacy.schedule, begin, end))
        elif legacy is None:  # a flow without legacy twin keeps its schedule: occupied as is
            for schedule, active in deployment_schedules(dep):
                if active:
                    occupied[dep.source].add(_starts_cached(schedule, begin, end))
    twins = [d for d in plan.on_source_apis if plan.legacy_of(d) is not None]

    def order(dep: DeploymentConfig) -> tuple[int, int, str]:
        legacy = plan.legacy_of(dep)
        returning = 0 if not plan.legacy_running(dep) else 1
        freq = _frequency(legacy.schedule, begin) if legacy else 0
        return (returning, -freq, dep.project + "/" + dep.name)

    proposals = []
    for dep in sorted(twins, key=order):
        legacy = plan.legacy_of(dep)
        assert legacy is not None
        current = [s for s, _active in deployment_schedules(dep)]
        if len(current) > 1:
            raise ScheduleError(f"{dep.where}: the generator handles one schedule per deployment.")
        slots = occupied[dep.source]
        proposed: Schedule | None = None
        reason = ""
        if not plan.legacy_running(dep):
            back = legacy.schedule.as_cron()
            if slots.first_collision(back, begin, end, gap) is None:
                proposed = back
                reason = f"legacy slot: phase {dep.phase}, the legacy flow no longer runs"
        if proposed is None:
            flow_name = f"{dep.project}-{dep.module_name.replace('_', '-')}"
            first = slot_hash(flow_name) % 60
            skipped = []
            for step in range(60):
                minute = (first + step) % 60
                candidate = with_minute(legacy.schedule, minute)
                clash = slots.first_collision(candidate, begin, end, gap)
                if clash is None:
                    proposed = candidate
                    break
                skipped.append(minute)
            if proposed is None:
                raise ScheduleError(
                    f"{dep.where}: no minute of {legacy.schedule.describe()} is {gap} away from "
                    f"the other starts on {dep.source}; lower the gap or move a flow's hour."
                )
            reason = f"H slot: hash of {flow_name} -> minute {first}"
            if skipped:
                reason += f", skipped {len(skipped)} occupied minute(s)"
        slots.add(_starts_cached(proposed, begin, end))
        proposals.append(Proposal(dep, current[0] if current else None, proposed, reason))
    return sorted(proposals, key=lambda p: (p.deployment.project, p.deployment.name))


def apply_proposals(proposals: Sequence[Proposal]) -> list[Path]:
    """Write the proposed crons into the ``prefect.yaml`` files, keeping comments and anchors.

    Returns:
        The files that changed.
    """
    from flowctl.deployments.yaml_edit import set_schedule

    by_file: dict[Path, list[Proposal]] = defaultdict(list)
    for p in proposals:
        if p.changed:
            by_file[p.deployment.path].append(p)
    for path, items in by_file.items():
        updates: dict[str, dict[str, Any]] = {}
        for p in items:
            assert p.proposed.cron is not None
            updates[p.deployment.name] = {"cron": p.proposed.cron, "timezone": p.proposed.timezone}
        set_schedule(path, updates)
    return sorted(by_file)


def validate_plan(plan: Plan) -> None:
    """Fail on what the checker cannot read (missing ``active:``, tags, legacy twins)."""
    for dep in plan.on_source_apis:
        try:
            if plan.legacy_of(dep) is not None:
                dep.phase  # noqa: B018 - validates the tag
            deployment_schedules(dep)
        except PrefectYamlError as exc:
            raise ScheduleError(str(exc)) from exc
