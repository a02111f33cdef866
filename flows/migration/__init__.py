"""Project ``migration``: flows that check the migrated flows against the legacy ones."""
