from prefect import Flow, flatten, task, unmapped


@task
def pages():
    return [[1, 2], [3]]


@task
def fetch(page, base):
    return [base + str(page)]


with Flow("demo-map") as flow:
    batches = pages()
    results = fetch.map(flatten(batches), base=unmapped("https://x/"))
    fetch.map([1, 2], unmapped("y"))
