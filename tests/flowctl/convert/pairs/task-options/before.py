from datetime import timedelta

from prefect import task


@task(max_retries=3, retry_delay=timedelta(minutes=1), timeout=300, log_stdout=True, nout=1)
def fetch(url):
    return url


@task(checkpoint=False, trigger=None)
def keep(x):
    return x
