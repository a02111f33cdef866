from prefect import Flow, Parameter, task
from prefect.run_configs import KubernetesRun
from prefect.storage import Azure


@task(max_retries=2, retry_delay=__import__("datetime").timedelta(minutes=1))
def ingest(container):
    return f"ingested {container}"


with Flow(
    "azure-ingest",
    storage=Azure(container="flows", blob_name="azure_ingest.py"),
    run_config=KubernetesRun(image="acme/ingest:7", memory_limit="2Gi", cpu_limit="2", labels=["aks"]),
) as flow:
    container = Parameter("container", default="raw")
    ingest(container)
