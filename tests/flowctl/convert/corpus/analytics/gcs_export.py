from prefect import Flow, task
from prefect.run_configs import LocalRun
from prefect.storage import GCS


@task(timeout=120)
def export():
    return "gs://acme-exports/latest.csv"


with Flow(
    "gcs-export",
    run_config=LocalRun(working_dir="/opt/analytics", env={"GOOGLE_CLOUD_PROJECT": "acme"}),
    storage=GCS(bucket="acme-flows", key="gcs_export.py"),
) as flow:
    export()
