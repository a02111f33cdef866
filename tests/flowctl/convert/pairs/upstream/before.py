from prefect import Flow, task


@task
def first():
    return 1


@task
def second():
    return 2


@task
def third():
    return 3


with Flow("demo-upstream") as flow:
    one = first()
    two = second(upstream_tasks=[one])
    three = third()
    three.set_upstream(two)
