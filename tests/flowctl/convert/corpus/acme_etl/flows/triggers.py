"""Triggers, results and checkpoints."""

from datetime import timedelta

from prefect import Flow, task
from prefect.engine.results import LocalResult
from prefect.triggers import all_finished


@task(checkpoint=False, nout=2)
def split():
    return 1, 2


@task(result=LocalResult(dir="/tmp/results"), cache_for=timedelta(hours=1))
def cached(a):
    return a


@task(trigger=all_finished)
def cleanup(a, b):
    return a + b


with Flow("triggers") as flow:
    a, b = split()
    c = cached(a)
    cleanup(c, b)
