"""``python -m flowctl.deployments``: see :mod:`flowctl.deployments.cli`."""

from flowctl.deployments.cli import main

main()
