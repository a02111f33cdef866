"""Prefect 1 project `finance` (ledger API)."""
