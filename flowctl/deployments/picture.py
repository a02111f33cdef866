"""A picture of one week's starts per source API, legacy and new side by side (SVG or PNG).

One row of panels per source API. Left: the week, Monday to Monday (UTC), one lane per flow and
kind, the legacy lane right above its new twin, a tick per start. Right: the same lanes by minute
within the hour, where the stagger shows at a glance. A collision the migration causes is a red
cross on both starts; a collision the legacy schedules already had is an orange one.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from flowctl.deployments.schedules import (
    DEFAULT_GAP,
    DEFAULT_WEEKS,
    WEEK,
    Collision,
    Lane,
    Plan,
    collisions,
    horizon,
)

NEW_COLOUR = "#1f77b4"
LEGACY_COLOUR = "#7f7f7f"
BLOCKING_COLOUR = "#d62728"
LEGACY_ONLY_COLOUR = "#ff7f0e"


def _monday(moment: datetime) -> datetime:
    day = moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return day - timedelta(days=day.weekday())


def picture_week(
    plan: Plan, gap: timedelta = DEFAULT_GAP, start: datetime | None = None
) -> datetime:
    """The Monday of the week to draw.

    ``start``'s week, else the first week with a blocking collision in the checker's horizon, else
    the reference week.
    """
    if start is not None:
        return _monday(start)
    found = [c for c in collisions(plan.lanes(), gap) if not c.legacy_only]
    return _monday(found[0].first.at if found else horizon()[0])


def _lane_order(lanes: Sequence[Lane]) -> list[Lane]:
    kind_rank = {"legacy": 0, "new": 1}
    return sorted(lanes, key=lambda lane: (lane.project, lane.flow, kind_rank[lane.kind]))


def render_schedule_picture(
    out: str | Path,
    plan: Plan | None = None,
    gap: timedelta = DEFAULT_GAP,
    start: datetime | None = None,
) -> Path:
    """Draw one week of starts per source API into ``out`` (``.svg`` or ``.png``).

    Args:
        out: The file to write; its suffix picks the format.
        plan: The deployments and legacy schedules (default: the repository's files).
        gap: The minimum distance between two starts on one source API.
        start: Any moment of the week to draw (default: see :func:`picture_week`).

    Returns:
        The written path.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out)
    if out.suffix not in (".svg", ".png"):
        raise ValueError(f"{out}: the picture is written as .svg or .png")
    plan = plan or Plan.load()
    week_start = picture_week(plan, gap, start)
    week_end = week_start + WEEK
    lanes = plan.lanes()
    found: list[Collision] = collisions(lanes, gap, week_start, weeks=1)
    sources = sorted({lane.source for lane in lanes})

    plt.rcParams["svg.hashsalt"] = "flowlib-schedules"  # reproducible SVG ids
    heights = [max(2, len([la for la in lanes if la.source == s])) for s in sources]
    fig, axes = plt.subplots(
        len(sources),
        2,
        figsize=(16, 1.2 + 0.55 * sum(heights) + 0.9 * len(sources)),
        gridspec_kw={"width_ratios": [4, 1], "height_ratios": heights},
        squeeze=False,
    )
    hours = (week_end - week_start).total_seconds() / 3600
    for row, source in enumerate(sources):
        week_ax, minute_ax = axes[row]
        ordered = _lane_order([la for la in lanes if la.source == source])
        y_of = {lane: len(ordered) - 1 - i for i, lane in enumerate(ordered)}
        for lane in ordered:
            colour = LEGACY_COLOUR if lane.kind == "legacy" else NEW_COLOUR
            starts = lane.starts(week_start, week_end)
            xs = [(at - week_start).total_seconds() / 3600 for at in starts]
            y = y_of[lane]
            week_ax.scatter(xs, [y] * len(xs), marker="|", s=120, color=colour, linewidths=1.2)
            minutes = sorted({at.minute + at.second / 60 for at in starts})
            minute_ax.scatter(minutes, [y] * len(minutes), marker="|", s=160, color=colour)
            half = gap.total_seconds() / 60
            for m in minutes:  # the band wraps around the hour
                for left in (m - half - 60, m - half, m - half + 60):
                    minute_ax.barh(y, 2 * half, left=left, height=0.5, color=colour, alpha=0.12)
        for c in found:
            if c.source != source:
                continue
            colour = LEGACY_ONLY_COLOUR if c.legacy_only else BLOCKING_COLOUR
            for s in (c.first, c.second):
                x = (s.at - week_start).total_seconds() / 3600
                week_ax.scatter([x], [y_of[s.lane]], marker="x", s=60, color=colour, zorder=3)
                minute_ax.scatter(
                    [s.at.minute], [y_of[s.lane]], marker="x", s=60, color=colour, zorder=3
                )
        labels = [f"{lane.label}  ({lane.schedule.describe()})" for lane in ordered]
        for ax in (week_ax, minute_ax):
            ax.set_yticks(range(len(ordered)))
            ax.set_ylim(-0.7, len(ordered) - 0.3)
            ax.grid(axis="x", color="#dddddd", linewidth=0.6)
        week_ax.set_yticklabels(list(reversed(labels)), fontsize=8)
        minute_ax.set_yticklabels([])
        week_ax.set_xlim(0, hours)
        week_ax.set_xticks([d * 24 for d in range(8)])
        week_ax.set_xticklabels(
            [f"{(week_start + timedelta(days=d)):%a %d %b}" for d in range(8)], fontsize=8
        )
        week_ax.set_xticks([h for h in range(0, int(hours) + 1, 6)], minor=True)
        blocking = sum(1 for c in found if c.source == source and not c.legacy_only)
        legacy_only = sum(1 for c in found if c.source == source and c.legacy_only)
        week_ax.set_title(
            f"source API `{source}`: {blocking} collision(s) caused by the migration, "
            f"{legacy_only} between legacy flows (gap {gap.total_seconds() / 60:g} min)",
            fontsize=10,
            loc="left",
            color=BLOCKING_COLOUR if blocking else "black",
        )
        minute_ax.set_xlim(0, 60)
        minute_ax.set_xticks(range(0, 61, 15))
        minute_ax.set_title("minute within the hour (UTC), ±gap", fontsize=9)
    fig.suptitle(
        f"Scheduled starts, week of {week_start:%Y-%m-%d} (UTC): legacy (grey) above new (blue); "
        "x = collision (red: migration, orange: legacy only)",
        fontsize=11,
    )
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    metadata = {"Date": None} if out.suffix == ".svg" else {}
    fig.savefig(out, metadata=metadata)
    plt.close(fig)
    return out


__all__ = ["DEFAULT_WEEKS", "picture_week", "render_schedule_picture"]
