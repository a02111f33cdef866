"""The schedule picture renders, as SVG and PNG, and picks the week with a collision."""

from __future__ import annotations

from datetime import UTC, datetime
from xml.etree import ElementTree

from flowctl.deployments.picture import picture_week, render_schedule_picture
from flowctl.deployments.schedules import Plan


def test_renders_svg_and_png_of_the_repository_schedules(tmp_path):
    svg = render_schedule_picture(tmp_path / "week.svg")
    root = ElementTree.parse(svg).getroot()
    assert root.tag.endswith("svg")
    png = render_schedule_picture(tmp_path / "week.png", start=datetime(2026, 7, 8, tzinfo=UTC))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_svg_is_reproducible(tmp_path):
    first = render_schedule_picture(tmp_path / "a.svg").read_text()
    assert render_schedule_picture(tmp_path / "b.svg").read_text() == first


def test_the_default_week_is_the_first_with_a_collision(plan_files):
    assert picture_week(Plan.load()) == datetime(2026, 1, 5, tzinfo=UTC)
    # 04:50 UTC collides with the legacy fx run (06:00 Zurich) only in summer time: 04:00 UTC
    plan_files.edit("finance", "transactions-daily", cron="50 3 * * *")
    plan = plan_files.plan()
    week = picture_week(plan)
    assert week.month == 3 and week.weekday() == 0  # the week DST starts
