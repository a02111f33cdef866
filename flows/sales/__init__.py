"""Project ``sales``: flows that read the ``shop`` API."""
