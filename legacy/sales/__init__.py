"""Prefect 1 project `sales` (shop API)."""
