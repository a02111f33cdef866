"""``python -m flowctl``: the same as the ``flowctl`` script."""

from flowctl.cli import main

main()
