"""The imperative API: Flow() with add_task and set_dependencies."""

from prefect import Flow, Parameter, Task, task


@task
def extract(source):
    return [1, 2, 3]


@task
def transform(data):
    return [x * 2 for x in data]


@task
def load(data):
    return len(data)


flow = Flow("imperative-etl")
source = Parameter("source", default="db")
flow.add_task(source)
flow.set_dependencies(task=extract, keyword_tasks={"source": source})
flow.set_dependencies(task=transform, keyword_tasks=dict(data=extract))
flow.set_dependencies(task=load, keyword_tasks={"data": transform}, upstream_tasks=[extract])

if __name__ == "__main__":
    flow.run()
