"""Nightly backup with ShellTask in a Docker image."""

from prefect import Flow
from prefect.run_configs import DockerRun
from prefect.schedules import Schedule
from prefect.schedules.clocks import CronClock
from prefect.storage import Docker
from prefect.tasks.shell import ShellTask

shell = ShellTask(return_all=True, max_retries=1)
dump = ShellTask(helper_script="cd /tmp", command="echo dump")

with Flow(
    "shell-backup",
    schedule=Schedule(clocks=[CronClock("15 3 * * *")]),
    run_config=DockerRun(image="acme/backup:1.2", env={"TARGET": "s3://backups"}),
    storage=Docker(registry_url="registry.acme.example", image_name="backup-flows", image_tag="v3"),
) as flow:
    listing = shell(command="ls -la /data")
    done = dump()
