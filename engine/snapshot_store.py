"""Policy snapshot storage and the atomically swapped snapshot that decisions read.

The learner publishes serialised snapshots with increasing versions; serving code polls
:meth:`SnapshotStore.latest_version` (cheap) and loads a new snapshot only when the
version changed. :class:`SnapshotHolder` swaps the snapshot in one reference assignment,
so a decision always sees one complete snapshot, never a mix of two.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from typing import Generic, TypeVar

__all__ = ["SnapshotStore", "InMemorySnapshotStore", "SnapshotHolder"]

S = TypeVar("S")


class SnapshotStore(ABC):
    """Versioned policy snapshots and learner checkpoints."""

    @abstractmethod
    def publish(self, policy_id: str, version: int, data: bytes) -> None:
        """Store snapshot ``version`` and make it the latest when it is newer."""

    @abstractmethod
    def latest_version(self, policy_id: str) -> int | None:
        """Return the newest published version, or None."""

    @abstractmethod
    def load(self, policy_id: str, version: int | None = None) -> tuple[int, bytes] | None:
        """Return (version, data) of ``version`` or of the latest; None when absent."""

    @abstractmethod
    def save_checkpoint(self, name: str, data: bytes) -> None:
        """Store a learner checkpoint blob (policy state plus consumer progress)."""

    @abstractmethod
    def load_checkpoint(self, name: str) -> bytes | None:
        """Return the checkpoint blob, or None."""


class InMemorySnapshotStore(SnapshotStore):
    """Keeps the latest ``keep`` versions of each policy in a dict."""

    def __init__(self, keep: int = 5) -> None:
        self._keep = keep
        self._versions: dict[str, dict[int, bytes]] = {}
        self._checkpoints: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def publish(self, policy_id: str, version: int, data: bytes) -> None:
        with self._lock:
            versions = self._versions.setdefault(policy_id, {})
            versions[version] = data
            for old in sorted(versions)[: -self._keep]:
                del versions[old]

    def latest_version(self, policy_id: str) -> int | None:
        versions = self._versions.get(policy_id)
        return max(versions) if versions else None

    def load(self, policy_id: str, version: int | None = None) -> tuple[int, bytes] | None:
        with self._lock:
            versions = self._versions.get(policy_id) or {}
            chosen = max(versions) if version is None and versions else version
            if chosen is None or chosen not in versions:
                return None
            return chosen, versions[chosen]

    def save_checkpoint(self, name: str, data: bytes) -> None:
        with self._lock:
            self._checkpoints[name] = data

    def load_checkpoint(self, name: str) -> bytes | None:
        return self._checkpoints.get(name)


class SnapshotHolder(Generic[S]):
    """The snapshot that decisions read, replaced atomically by :meth:`swap`."""

    def __init__(self, snapshot: S) -> None:
        self._snapshot = snapshot
        self._lock = threading.Lock()

    @property
    def current(self) -> S:
        return self._snapshot

    def swap(self, snapshot: S) -> S:
        """Install ``snapshot`` and return the one it replaced."""
        with self._lock:
            previous = self._snapshot
            self._snapshot = snapshot
            return previous
