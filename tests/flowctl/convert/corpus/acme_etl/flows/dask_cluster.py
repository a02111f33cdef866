"""A big job on the shared Dask cluster, code on S3."""

from prefect import Flow, Parameter, task
from prefect.executors import DaskExecutor
from prefect.run_configs import UniversalRun
from prefect.storage import S3


@task
def crunch(n):
    return sum(range(int(n)))


with Flow(
    "dask-cluster",
    executor=DaskExecutor(address="tcp://dask-scheduler:8786"),
    run_config=UniversalRun(labels=["dask"], env={"DASK_QUIET": "1"}),
    storage=S3(bucket="acme-flows", key="dask_cluster.py"),
) as flow:
    n = Parameter("n", default=1_000_000)
    crunch(n)
