from prefect import Flow, task, unmapped


@task
def files():
    return ["a.csv", "b.csv"]


@task
def load(name, prefix):
    return prefix + name


with Flow("mapped-files") as flow:
    names = files()
    load.map(names, prefix=unmapped("s3://raw/"))
