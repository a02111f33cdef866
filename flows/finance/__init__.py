"""Project ``finance``: flows that read the ``ledger`` API."""
