# Converted from before.py by flowctl convert; see docs/convert.md.

# TODO(flowctl convert): Prefect 1 prefect.engine.results.LocalResult: has no
#   Prefect 2 form the converter knows; replace its uses (this placeholder keeps the
#   module importable: LocalResult = None) (see
#   https://docs.prefect.io/2.20/guides/migration-guide/)
LocalResult = None
# TODO(flowctl convert): Prefect 1 prefect.utilities.notifications.slack_notifier:
#   has no Prefect 2 form the converter knows; replace its uses (this placeholder
#   keeps the module importable: slack_notifier = None) (see
#   https://docs.prefect.io/2.20/guides/migration-guide/)
slack_notifier = None

# TODO(flowctl convert): use of Prefect 1 LocalResult: this still needs Prefect 1;
#   rewrite it for Prefect 2 or delete it (see
#   https://docs.prefect.io/2.20/guides/migration-guide/)
RESULT = LocalResult(dir="/tmp")
# TODO(flowctl convert): use of Prefect 1 slack_notifier: this still needs Prefect
#   1; rewrite it for Prefect 2 or delete it (see
#   https://docs.prefect.io/2.20/guides/migration-guide/)
handler = slack_notifier(only_states=["Failed"])
