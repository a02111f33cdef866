"""``python -m flowlib.deploy``: see :mod:`flowlib.deploy.cli`."""

from flowlib.deploy.cli import main

main()
