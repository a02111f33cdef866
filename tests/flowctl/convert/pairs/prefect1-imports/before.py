from prefect import Flow
from prefect.engine.results import LocalResult
from prefect.utilities.notifications import slack_notifier

RESULT = LocalResult(dir="/tmp")
handler = slack_notifier(only_states=["Failed"])
