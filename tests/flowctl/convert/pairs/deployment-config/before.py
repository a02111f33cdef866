"""Schedules kept apart from the flows."""

import pendulum
from prefect.schedules import Schedule
from prefect.schedules.clocks import CronClock

NIGHTLY = Schedule(clocks=[CronClock("0 1 * * *", start_date=pendulum.datetime(2024, 1, 1, tz="Europe/Zurich"))])
TEAM = "data"
