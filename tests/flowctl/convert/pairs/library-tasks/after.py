# Converted from before.py by flowctl convert; see docs/convert.md.
import subprocess

from prefect import task


# runs dbt
@task(name="dbt", retries=2)
def dbt(command: str, env: dict[str, str] | None = None) -> list[str]:
    """Run a shell command (was a Prefect 1 shell task); fails if it fails."""
    result = subprocess.run(  # noqa: S602 - a shell command, as ShellTask ran it
        "cd /opt/dbt" + "\n" + command,
        shell=True,
        check=True,
        capture_output=True,
        text=True,
        env=env,
    )
    lines = result.stdout.splitlines()
    return lines
