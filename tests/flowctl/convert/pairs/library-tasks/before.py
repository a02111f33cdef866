from prefect.tasks.shell import ShellTask

# runs dbt
dbt = ShellTask(helper_script="cd /opt/dbt", return_all=True, max_retries=2)
