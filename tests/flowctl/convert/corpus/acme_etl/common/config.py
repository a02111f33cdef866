"""Run configs and storage shared by the flows."""

from prefect.run_configs import KubernetesRun
from prefect.storage import GitHub

IMAGE = "registry.acme.example/etl:2024.05"

K8S = KubernetesRun(
    image=IMAGE,
    cpu_request="500m",
    memory_request="1Gi",
    env={"LOG_LEVEL": "INFO"},
    labels=["k8s", "etl"],
)
STORAGE = GitHub(repo="acme/etl-flows", path="acme_etl/flows/orders_daily.py", ref="main")
