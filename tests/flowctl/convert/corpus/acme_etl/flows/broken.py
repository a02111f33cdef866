from prefect import Flow

with Flow("broken" as flow:
    pass
