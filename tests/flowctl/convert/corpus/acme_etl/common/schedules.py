"""Schedules live here so ops can see them in one place."""

from datetime import timedelta

import pendulum
from prefect.schedules import Schedule
from prefect.schedules.clocks import CronClock, IntervalClock

NIGHTLY = Schedule(clocks=[CronClock("30 1 * * *", start_date=pendulum.datetime(2024, 1, 1, tz="Europe/Berlin"))])
EVERY_15_MIN = Schedule(
    clocks=[IntervalClock(timedelta(minutes=15), start_date=pendulum.datetime(2024, 1, 1, 0, 5, tz="UTC"))]
)
