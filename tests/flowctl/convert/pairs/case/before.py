from prefect import Flow, case, task
from prefect.tasks.control_flow import merge


@task
def is_big(n):
    return n > 10


@task
def big():
    return "big"


@task
def small():
    return "small"


with Flow("demo-case") as flow:
    cond = is_big(5)
    with case(cond, True):
        a = big()
    with case(cond, False):
        b = small()
    result = merge(a, b)
