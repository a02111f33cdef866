"""Tasks shared by several flows."""

from datetime import timedelta

import prefect
from prefect import task

from acme_etl.common.helpers import API_URL, api_session


@task(max_retries=3, retry_delay=timedelta(minutes=2), timeout=600)
def fetch_page(endpoint, page):
    logger = prefect.context.get("logger")
    logger.info("fetching %s page %s", endpoint, page)
    response = api_session().get(f"{API_URL}/{endpoint}", params={"page": page}, timeout=30)
    response.raise_for_status()
    return response.json()["items"]


@task(log_stdout=True, tags=["db"])
def store(rows, table):
    print(f"storing {len(rows)} rows into {table}")
    return len(rows)
