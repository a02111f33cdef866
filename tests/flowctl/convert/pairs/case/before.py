from prefect import Flow, case, task
from prefect.tasks.control_flow import ifelse, merge, switch


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

with Flow("demo-ifelse") as branching:
    weekend = is_big(7)
    loud = big()
    quiet = small()
    ifelse(weekend, loud, quiet)
    level = is_big(3)
    high = big()
    low = small()
    switch(level, {True: high, False: low})
