"""``run_sync`` for the migration modules (it lives in :mod:`flowlib._aio`, below them)."""

from __future__ import annotations

from flowlib._aio import run_sync

__all__ = ["run_sync"]
