# Converted from before.py by flowctl convert; see docs/convert.md.
from prefect import task


class Greet:
    def __init__(self, greeting="hello", **kwargs):
        self.greeting = greeting
        super().__init__(**kwargs)

    def run(self, name, greeting=None):
        """Say hello."""
        greeting = self.greeting if greeting is None else greeting
        return f"{greeting} {name}"


greet = task(Greet(greeting="hi").run, name="greet", retries=2)
