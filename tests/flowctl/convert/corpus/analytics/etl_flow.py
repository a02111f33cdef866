# The first flow the analytics team wrote; still the template for new ones.
from datetime import timedelta

from helpers import summarize
from prefect import Flow, Parameter, task


@task(max_retries=5, retry_delay=timedelta(seconds=10))
def extract(n):
    return [{"x": i} for i in range(int(n))]


@task
def report(summary):
    print(summary)


with Flow("analytics-etl") as flow:
    n = Parameter("n", default=10)
    summary = task(summarize)(extract(n))
    report(summary)

flow.run(parameters={"n": 3})
