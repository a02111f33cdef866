"""ifelse and switch."""

from prefect import Flow, Parameter, task
from prefect.tasks.control_flow import ifelse, switch


@task
def is_weekend(day):
    return day in ("sat", "sun")


@task
def relax():
    return "relax"


@task
def work():
    return "work"


with Flow("ifelse-switch") as flow:
    day = Parameter("day", default="mon")
    weekend = is_weekend(day)
    r = relax()
    w = work()
    ifelse(weekend, r, w)
    switch(day, {"mon": w, "sun": r})
