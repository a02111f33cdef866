# Converted from before.py by flowctl convert; see docs/convert.md.

from prefect import task


@task(retries=3, retry_delay_seconds=60, timeout_seconds=300, log_prints=True)
def fetch(url):
    return url


# TODO(flowctl convert): @task(trigger=...): dropped a trigger: Prefect 2 tasks run
#   when called; pass wait_for=[...] and wrap upstream futures in allow_failure()
#   for all_finished/any_failed; was None (see legacy/MIGRATION.md)
@task(persist_result=False)
def keep(x):
    return x
