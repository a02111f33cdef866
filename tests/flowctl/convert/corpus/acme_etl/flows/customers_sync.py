"""Customers: our AcmeFlow subclass, a required parameter, map over chunks, flatten."""

from prefect import Parameter, flatten, task

from acme_etl.common.flows import AcmeFlow
from acme_etl.common.helpers import chunk
from acme_etl.common.schedules import EVERY_15_MIN


@task
def list_ids(region):
    return [f"{region}-{i}" for i in range(100)]


@task
def split(ids):
    return chunk(ids, 25)


@task(max_retries=2, retry_delay=__import__("datetime").timedelta(seconds=30))
def load_chunk(ids):
    return [{"id": i} for i in ids]


@task
def count_rows(rows):
    return len(rows)


with AcmeFlow("customers-sync", schedule=EVERY_15_MIN) as flow:
    region = Parameter("region", required=True)
    ids = list_ids(region)
    chunks = split(ids)
    loaded = load_chunk.map(chunks)
    total = count_rows(flatten(loaded))
