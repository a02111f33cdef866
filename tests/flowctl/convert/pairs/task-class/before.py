from prefect import Task
from prefect.utilities.tasks import defaults_from_attrs


class Greet(Task):
    def __init__(self, greeting="hello", **kwargs):
        self.greeting = greeting
        super().__init__(**kwargs)

    @defaults_from_attrs("greeting")
    def run(self, name, greeting=None):
        """Say hello."""
        return f"{greeting} {name}"


greet = Greet(greeting="hi", name="greet", max_retries=2)
