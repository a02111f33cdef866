"""Inventory check: branch on stock level with case/merge; SKIP when closed; FAIL on bad data."""

from prefect import Flow, Parameter, case, task
from prefect.engine import signals
from prefect.tasks.control_flow import merge


@task
def stock_level(sku):
    if not sku:
        raise signals.FAIL("no sku given")
    return 3


@task
def is_low(level):
    return level < 5


@task
def reorder(sku):
    return f"reordered {sku}"


@task
def all_good(sku):
    return f"{sku} ok"


@task
def check_open(day):
    if day == "sunday":
        raise signals.SKIP("closed on sundays")
    return True


with Flow("inventory-check") as flow:
    sku = Parameter("sku", default="A-1")
    day = Parameter("day", default="monday")
    check_open(day)
    low = is_low(stock_level(sku))
    with case(low, True):
        ordered = reorder(sku)
    with case(low, False):
        fine = all_good(sku)
    outcome = merge(ordered, fine)
