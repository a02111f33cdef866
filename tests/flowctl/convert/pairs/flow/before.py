"""A flow with parameters, a schedule, a run config and a register call."""

from prefect import Flow, Parameter, task
from prefect.executors import LocalDaskExecutor
from prefect.run_configs import KubernetesRun
from prefect.schedules import CronSchedule


@task
def load(day, limit):
    return [day] * limit


# the nightly load
with Flow(
    "demo-load",
    schedule=CronSchedule("0 4 * * *"),
    run_config=KubernetesRun(image="demo:1", labels=["k8s"]),
    executor=LocalDaskExecutor(),
) as flow:
    day = Parameter("day", default=None)
    limit = Parameter("limit", default=10)
    region = Parameter("region", required=True)
    rows = load(day, limit)  # keep this comment

if __name__ == "__main__":
    flow.register(project_name="demo")
