"""The Prefect 1 flows as they ran before the migration to Prefect 2.

Self-contained on purpose: nothing here imports the new packages (``flowlib``, ``flows``,
``tasks``). It runs in its own venv (``bash legacy/setup-venv.sh`` -> ``.venv-legacy``, with
``prefect==1.4.1``) and writes the *prod* lake with the same paths and formats as the migrated
flows, so the two can run side by side during the dual run. See ``legacy/MIGRATION.md``.
"""
