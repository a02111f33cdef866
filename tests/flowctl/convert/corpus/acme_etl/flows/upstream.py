"""Ordering without data: upstream_tasks, set_upstream, set_downstream."""

from prefect import Flow, task


@task
def create_table():
    return "created"


@task
def load_rows():
    return 10


@task
def vacuum():
    return "vacuumed"


@task
def notify():
    return "sent"


with Flow("upstream") as flow:
    created = create_table()
    loaded = load_rows(upstream_tasks=[created])
    cleaned = vacuum()
    cleaned.set_upstream(loaded)
    sent = notify()
    cleaned.set_downstream(sent)
