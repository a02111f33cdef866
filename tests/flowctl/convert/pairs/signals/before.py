from prefect import task
from prefect.engine import signals
from prefect.engine.signals import SKIP


@task
def check(rows):
    if rows is None:
        raise signals.FAIL("no rows")
    if not rows:
        raise SKIP("nothing to do")
    return rows
