"""Runs on the analytics box; the code is read from disk."""

from prefect import Flow, task
from prefect.storage import Local


@task
def crunch():
    return 42


with Flow("local-job", storage=Local(directory="/opt/flows")) as flow:
    crunch()

if __name__ == "__main__":
    state = flow.run()
    print(state)
