"""One flow, two clocks with different parameter defaults (EU and US runs)."""

from datetime import timedelta

import pendulum
from prefect import Flow, Parameter, task
from prefect.schedules import IntervalSchedule, Schedule
from prefect.schedules.clocks import CronClock

EU = CronClock("0 6 * * *", start_date=pendulum.datetime(2024, 1, 1, tz="Europe/Paris"), parameter_defaults={"region": "eu"})
US = CronClock(
    "0 6 * * *", start_date=pendulum.datetime(2024, 1, 1, tz="America/New_York"), parameter_defaults={"region": "us"}
)
HOURLY = IntervalSchedule(start_date=pendulum.datetime(2024, 1, 1, 0, 10, tz="UTC"), interval=timedelta(hours=1))


@task
def sync(region):
    return region


with Flow("multi-clock", schedule=Schedule(clocks=[EU, US])) as flow:
    region = Parameter("region", default="eu")
    sync(region)

with Flow("hourly-sync", schedule=HOURLY) as hourly_flow:
    sync("all")
