"""dbt through ShellTask: one shared task, called twice."""

from prefect import Flow
from prefect.tasks.shell import ShellTask

dbt = ShellTask(helper_script="cd /opt/dbt", return_all=True, log_stderr=True)

with Flow("dbt-run") as flow:
    seeded = dbt(command="dbt seed")
    ran = dbt(command="dbt run", upstream_tasks=[seeded])
