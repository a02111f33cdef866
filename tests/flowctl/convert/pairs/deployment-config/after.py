# Converted from before.py by flowctl convert; see docs/convert.md.
"""Schedules kept apart from the flows."""

# TODO(flowctl convert): Prefect 1 Schedule at module level: its values are in the
#   deployment entry (deployments/<project>/prefect.yaml: schedules,
#   work_pool.job_variables, pull); the assignment is kept as a comment (see
#   legacy/MIGRATION.md)
# NIGHTLY = Schedule(
#     clocks=[
#         CronClock("0 1 * * *", start_date=pendulum.datetime(2024, 1, 1, tz="Europe/Zurich"))
#     ]
# )
TEAM = "data"
