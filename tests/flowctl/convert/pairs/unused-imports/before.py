from datetime import timedelta

import pendulum
from prefect import Flow, task
from prefect.schedules import Schedule
from prefect.schedules.clocks import IntervalClock

import json  # unused before the conversion: stays


@task
def ping():
    return "pong"


with Flow(
    "demo-unused",
    schedule=Schedule(clocks=[IntervalClock(timedelta(hours=2), start_date=pendulum.datetime(2024, 1, 1, 0, 30))]),
) as flow:
    ping()
