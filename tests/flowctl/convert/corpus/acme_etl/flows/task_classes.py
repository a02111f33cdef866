"""Task subclasses with run(), one with defaults_from_attrs."""

from prefect import Flow, Task
from prefect.utilities.tasks import defaults_from_attrs


class Multiply(Task):
    def __init__(self, factor=2, **kwargs):
        self.factor = factor
        super().__init__(**kwargs)

    @defaults_from_attrs("factor")
    def run(self, value, factor=None):
        return value * factor


class Add(Task):
    def run(self, a, b):
        return a + b


multiply = Multiply(factor=3, name="triple")
add = Add()

with Flow("task-classes") as flow:
    tripled = multiply(2)
    total = add(tripled, 4)
