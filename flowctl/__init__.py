"""flowctl: the command line of the flow library (``flowctl --help``)."""
