"""The soak's plan: which slot does what, and which fault lands where, from a seed.

Pure and deterministic: ``build_plan(seed, short)`` gives the same plan for the same seed, so a
failing soak is replayed with ``make soak SEED=n``. The driver (:mod:`devtools.soak.driver`)
carries it out on real parts.

The lifecycle of every soaked flow (one slot = one day of the daily legacy schedules; all flows
move together): legacy -> shadow (3 slots, validated each slot) -> cutover (the
real gate: 3 passing days) -> a fault that must fail it back -> shadow again -> ... -> cutover ->
decommission. Each cycle's fail-back fault is drawn from the seed, as are the slots of the
faults that must be refused or absorbed (set-env, stale redeploy, server restart, re-run and
backfill).
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field
from typing import Any

# faults that must make the cut-over flow fail back (and lose no slot)
FAILBACK_FAULTS = ("http-5xx-storm", "sigkill-flow-run", "worker-stopped", "lake-unwritable")
SHADOW_SLOTS = 3  # the gate's validation.cutover_days: consecutive passing days before a cutover
LOOKBACK_JUMP = 5  # days skipped after a fail-back: the next cutover is 8 days after the failure


@dataclass(frozen=True)
class Fault:
    """One injected fault: at which slot (its start), what."""

    slot: int
    kind: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self)


@dataclass
class Plan:
    """Per slot: the phase actions at its end, and the faults at its start."""

    seed: int
    slots: int
    deploy_at: int  # start of this slot: deploy the new flow and begin the shadow
    cutover_after: list[int] = field(default_factory=list)  # end of these slots: cutover
    decommission_after: int | None = None
    faults: list[Fault] = field(default_factory=list)
    # the calendar day (from the soak's first) of each slot: consecutive, except that after a
    # fail-back the calendar jumps past the watcher's 7-day look-back (see docs/soak.md)
    days: list[int] = field(default_factory=list)

    def faults_at(self, slot: int) -> list[str]:
        """The kinds of fault that start with ``slot``."""
        return [f.kind for f in self.faults if f.slot == slot]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (the journal keeps it)."""
        data = asdict(self)
        data["faults"] = [f.to_dict() for f in self.faults]
        return data


def build_plan(seed: int, short: bool = False) -> Plan:
    """The plan of a full soak (4 fail-back cycles, every fault) or a short one (one cycle).

    Full: slot 0 legacy; 1-3 shadow; then per cycle: cutover, the fail-back fault in the first
    cut-over slot, three shadow slots; after the last cycle two cut-over slots (a stale
    redeploy, a re-run and a backfill), decommission, one decommissioned slot. Short: legacy,
    three shadow slots, cutover, a 5xx storm (fail-back) and a stale redeploy in the cut-over
    slot, one shadow slot.
    """
    rng = random.Random(seed)
    if short:
        plan = Plan(seed=seed, slots=6, deploy_at=1, cutover_after=[3], days=list(range(6)))
        plan.faults = [Fault(4, "stale-redeploy"), Fault(4, "http-5xx-storm")]
        return plan
    cycles = list(FAILBACK_FAULTS)
    rng.shuffle(cycles)
    plan = Plan(seed=seed, slots=0, deploy_at=1, days=[0, 1, 2, 3])
    slot = 1 + SHADOW_SLOTS  # first cut-over slot: the fault hits it
    shadow: list[int] = [1, 2, 3]
    for kind in cycles:
        plan.cutover_after.append(slot - 1)
        plan.faults.append(Fault(slot, kind))
        shadow += list(range(slot + 1, slot + 1 + SHADOW_SLOTS))
        jump = plan.days[-1] + 1 + LOOKBACK_JUMP
        plan.days += [plan.days[-1] + 1] + [jump + i for i in range(SHADOW_SLOTS)]
        slot += 1 + SHADOW_SLOTS
    plan.cutover_after.append(slot - 1)
    quiet = [slot, slot + 1]
    plan.decommission_after = slot + 1
    plan.slots = slot + 3
    plan.days += [plan.days[-1] + 1 + i for i in range(3)]
    # the faults that must be refused or absorbed, at seeded slots of the right phase
    plan.faults.append(Fault(rng.choice(shadow[1:]), "set-env-past-gate"))
    plan.faults.append(Fault(rng.choice(quiet), "stale-redeploy"))
    plan.faults.append(Fault(rng.choice(quiet), "rerun-and-backfill"))
    plan.faults.append(Fault(rng.choice(range(2, plan.slots)), "server-restart"))
    plan.faults.sort(key=lambda f: (f.slot, f.kind))
    return plan
