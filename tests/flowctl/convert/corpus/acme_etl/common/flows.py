"""Our Flow subclass: every flow gets the team's state handler."""

from prefect import Flow

from acme_etl.common.handlers import notify_on_failure


class AcmeFlow(Flow):
    def __init__(self, name, **kwargs):
        kwargs.setdefault("state_handlers", [notify_on_failure])
        super().__init__(name, **kwargs)
