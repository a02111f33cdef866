from prefect import task
from prefect.client import Secret
from prefect.tasks.secrets import PrefectSecret


@task
def connect():
    return Secret("DB_PASSWORD").get()


token = PrefectSecret("API_TOKEN")
