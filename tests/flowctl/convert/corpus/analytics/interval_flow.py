from datetime import timedelta

import pendulum
from prefect import Flow, task
from prefect.schedules import Schedule
from prefect.schedules.clocks import IntervalClock


@task
def poll():
    return "polled"


with Flow(
    "every-7-minutes",
    schedule=Schedule(clocks=[IntervalClock(timedelta(minutes=7), start_date=pendulum.datetime(2024, 1, 1, tz="UTC"))]),
) as flow:
    poll()
