"""``run_sync`` for the migration modules.

It lives in :mod:`flowlib._aio`, used by :mod:`flowlib.limits` too, which the HTTP path imports:
no import cycle through here.
"""

from flowlib._aio import run_sync

__all__ = ["run_sync"]
