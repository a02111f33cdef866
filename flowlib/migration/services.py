"""What the migration operations talk to, in one object, so tests can swap any part.

:func:`default_services` wires the real ones: phases in Prefect Variables, the history in the prod
lake, deployments through the Prefect client, the Prefect 1 API from ``PREFECT1_API_URL``,
notifications through ``FLOWLIB_NOTIFY_BLOCK``, the manifests in ``migration/``.
"""

from __future__ import annotations

import getpass
import logging
import os
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from flowlib.migration.manifest import Manifests
from flowlib.migration.model import utcnow
from flowlib.migration.notify import BlockNotifier, Notifier
from flowlib.migration.prefect1 import Prefect1Client
from flowlib.migration.prefect_api import DeploymentOps, PrefectDeployments
from flowlib.migration.store import HistoryLog, LakeHistory, PhaseStore, VariableStore

log = logging.getLogger("flowlib.migration")
ACTOR_VAR = "FLOWLIB_ACTOR"
FLIP_WAIT_SECONDS = 300.0
"""How long a fail-back waits for a prod commit in progress before it takes the holder for dead
(a killed pod never releases its slot) and frees the commit lock; a publish takes seconds."""


def server_commit_lock(project: str, flow: str) -> AbstractContextManager[None]:
    """The flow's prod commit lock on the Prefect server (:func:`flowlib.limits.exclusive`)."""
    from flowlib.limits import commit_lock_name, exclusive

    return exclusive(commit_lock_name(project, flow), FLIP_WAIT_SECONDS, take_over=True)


@dataclass
class Services:
    """What the migration operations use, in one object.

    The phase store, history, Prefect API, Prefect 1 API, notifier, manifests, clock, and the
    lock a fail-back shares with the flow's prod commits (``commit_lock(project, flow)``).
    """

    store: PhaseStore
    deployments: DeploymentOps
    notifier: Notifier
    legacy_factory: Callable[[], Prefect1Client]
    history: HistoryLog | None = None
    manifests_loader: Callable[[], Manifests] = Manifests.load
    now: Callable[[], datetime] = utcnow
    commit_lock: Callable[[str, str], AbstractContextManager[None]] = server_commit_lock
    _legacy: Prefect1Client | None = field(default=None, repr=False)
    _manifests: Manifests | None = field(default=None, repr=False)

    @property
    def legacy(self) -> Prefect1Client:
        """The Prefect 1 client, created on first use (errors name the variable to set)."""
        if self._legacy is None:
            self._legacy = self.legacy_factory()
        return self._legacy

    @property
    def manifests(self) -> Manifests:
        """The manifests, loaded on first use."""
        if self._manifests is None:
            self._manifests = self.manifests_loader()
        return self._manifests

    def close(self) -> None:
        """Close the Prefect 1 client if one was opened."""
        if self._legacy is not None:
            self._legacy.close()
            self._legacy = None


def default_services(manifest_dir: Path | None = None) -> Services:
    """The real services, configured from the environment and the Prefect profile."""

    def load() -> Manifests:
        return Manifests.load(manifest_dir)

    return Services(
        store=VariableStore(),
        deployments=PrefectDeployments(),
        notifier=BlockNotifier.from_env(),
        legacy_factory=Prefect1Client.from_env,
        history=LakeHistory("prod"),
        manifests_loader=load,
    )


def default_actor(prefix: str = "user") -> str:
    """Who acts: ``FLOWLIB_ACTOR`` when set, else ``user:<login>``."""
    configured = os.environ.get(ACTOR_VAR)
    if configured:
        return configured
    try:
        name = getpass.getuser()
    except Exception:  # no login name in some containers
        name = "unknown"
    return f"{prefix}:{name}"


def describe(value: Any) -> str:
    """An exception as ``Type: message`` for outcomes and logs."""
    if isinstance(value, BaseException):
        return f"{type(value).__name__}: {value}"
    return str(value)
