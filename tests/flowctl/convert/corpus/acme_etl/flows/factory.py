"""Flows built by a function, and a deepcopy variant."""

from copy import deepcopy

from prefect import Flow, Parameter, task


@task
def say(text):
    print(text)


def build(name, text):
    with Flow(name) as built:
        say(text)
    return built


with Flow("greeting") as flow:
    who = Parameter("who", default="world")
    say(who)

variant = deepcopy(flow)
variant.name = "greeting-copy"
