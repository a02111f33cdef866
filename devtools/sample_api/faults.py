"""Fault injection for the sample API.

Flows must survive rate limits, server errors, slow answers and broken bodies; the sample API
reproduces each on demand so tests and benchmarks can prove the retry path works. Faults are
queued in a registry shared by all handler threads, hence the lock: two concurrent requests must
never both consume the last remaining fault.
"""

from __future__ import annotations

import math
import threading
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

__all__ = ["Fault", "FaultMode", "FaultRegistry", "parse_fault_spec"]


class FaultMode(StrEnum):
    """How a request hit by a fault fails."""

    RATE_LIMITED = "429"
    """Answer ``429`` with a ``Retry-After`` header."""
    SERVER_ERROR = "500"
    """Answer ``500``."""
    SLOW = "slow"
    """Answer normally after sleeping ``delay`` seconds."""
    TRUNCATE = "truncate"
    """Answer normally but send only the first half of the body (a ``200`` with broken JSON)."""


@dataclass(frozen=True)
class Fault:
    """A fault affecting the next ``count`` requests whose path starts with ``path``.

    Attributes:
        path: Path prefix, e.g. ``/shop/v1/orders``.
        mode: How to fail.
        count: How many matching requests to affect (>= 1).
        retry_after: Seconds sent in ``Retry-After`` (mode ``429``).
        delay: Seconds to sleep before answering (mode ``slow``).
    """

    path: str
    mode: FaultMode
    count: int = 1
    retry_after: float = 1.0
    delay: float = 1.0

    def __post_init__(self) -> None:
        """Reject faults that could never fire or would break the server."""
        if not self.path.startswith("/"):
            raise ValueError(f"path must start with '/': {self.path!r}")
        if isinstance(self.count, bool) or not isinstance(self.count, int) or self.count < 1:
            raise ValueError(f"count must be an integer >= 1: {self.count!r}")
        for name in ("retry_after", "delay"):
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
                or value < 0
            ):
                raise ValueError(f"{name} must be a number >= 0: {value!r}")

    @classmethod
    def from_json(cls, payload: Any) -> Fault:
        """Build a fault from the ``POST /_admin/faults`` body.

        Raises:
            ValueError: Naming the offending field when the body is malformed.
        """
        if not isinstance(payload, dict):
            raise ValueError("body must be a JSON object")
        unknown = set(payload) - {"path", "mode", "count", "retry_after", "delay"}
        if unknown:
            raise ValueError(f"unknown field(s): {', '.join(sorted(unknown))}")
        if not isinstance(payload.get("path"), str):
            raise ValueError("path is required and must be a string")
        try:
            mode = FaultMode(str(payload.get("mode")))
        except ValueError:
            choices = ", ".join(m.value for m in FaultMode)
            raise ValueError(f"mode must be one of {choices}: {payload.get('mode')!r}") from None
        return cls(
            path=payload["path"],
            mode=mode,
            count=payload.get("count", 1),
            retry_after=payload.get("retry_after", 1.0),
            delay=payload.get("delay", 1.0),
        )

    def to_json(self) -> dict[str, Any]:
        """Return the fault as the JSON object the admin endpoints speak."""
        data = asdict(self)
        data["mode"] = self.mode.value
        return data


def parse_fault_spec(spec: str) -> Fault:
    """Parse the command-line form ``PATH:MODE:COUNT[:ARG]``.

    ``ARG`` is ``retry_after`` for mode ``429`` and ``delay`` for mode ``slow`` (ignored
    otherwise), e.g. ``/shop/v1/orders:429:3:2`` or ``/ledger:slow:1:0.5``.

    Raises:
        ValueError: If the spec is malformed.
    """
    parts = spec.split(":")
    if len(parts) not in (3, 4):
        raise ValueError(f"fault must look like PATH:MODE:COUNT[:ARG]: {spec!r}")
    path, mode_text, count_text = parts[:3]
    try:
        mode = FaultMode(mode_text)
        count = int(count_text)
        arg = float(parts[3]) if len(parts) == 4 else 1.0
    except ValueError:
        raise ValueError(f"fault must look like PATH:MODE:COUNT[:ARG]: {spec!r}") from None
    if mode is FaultMode.RATE_LIMITED:
        return Fault(path=path, mode=mode, count=count, retry_after=arg)
    if mode is FaultMode.SLOW:
        return Fault(path=path, mode=mode, count=count, delay=arg)
    return Fault(path=path, mode=mode, count=count)


class FaultRegistry:
    """Thread-safe queue of pending faults, consumed one request at a time.

    Faults fire in the order they were added; a request consumes at most one fault (the first
    whose path prefix matches).
    """

    def __init__(self, faults: tuple[Fault, ...] | list[Fault] = ()) -> None:
        self._lock = threading.Lock()
        self._pending: list[list[Any]] = []  # [fault, remaining]
        for fault in faults:
            self.add(fault)

    def add(self, fault: Fault) -> None:
        """Queue ``fault`` for its next ``fault.count`` matching requests."""
        with self._lock:
            self._pending.append([fault, fault.count])

    def clear(self, path: str | None = None) -> int:
        """Drop the pending faults (only those of ``path`` when given); return how many."""
        with self._lock:
            kept = [e for e in self._pending if path is not None and e[0].path != path]
            dropped = len(self._pending) - len(kept)
            self._pending[:] = kept
            return dropped

    def take(self, path: str) -> Fault | None:
        """Consume one firing of the first fault matching ``path``, if any.

        Returns:
            The fault to apply to this request, or ``None`` when the request runs normally.
        """
        with self._lock:
            for index, entry in enumerate(self._pending):
                fault: Fault = entry[0]
                if path.startswith(fault.path):
                    entry[1] -= 1
                    if entry[1] <= 0:
                        del self._pending[index]
                    return fault
        return None

    def pending(self) -> list[dict[str, Any]]:
        """Return the pending faults, ``count`` being what is left of each."""
        with self._lock:
            return [entry[0].to_json() | {"count": entry[1]} for entry in self._pending]
