"""Fields and serialisation shared by every snapshot class in this package."""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from engine.config.policy import PolicyConfig
from engine.errors import InvalidInputError
from policies.base import PolicySnapshot
from policies.serialization import encode_snapshot

__all__ = ["SnapshotBase"]


@dataclass(frozen=True, eq=False, repr=False)
class SnapshotBase(PolicySnapshot):
    """Frozen snapshot with the policy config, a version and the number of rewards absorbed.

    Subclasses are frozen dataclasses too, which pickle with the standard protocol.

    Attributes:
        config: the policy's settings.
        version: snapshot number, strictly increasing per learner.
        n_updates: rewards the learner had absorbed when it took the snapshot.
        policy_id: ``config.id``.
        algorithm: ``config.algorithm``.
    """

    config: PolicyConfig
    version: int
    n_updates: int
    policy_id: str = field(init=False)
    algorithm: str = field(init=False)

    def __post_init__(self) -> None:
        expected = self.expected_algorithms()
        if self.config.algorithm not in expected:
            raise InvalidInputError(
                f"{type(self).__name__} serves algorithm {' or '.join(map(repr, expected))}; "
                f"got a config with algorithm {self.config.algorithm!r}. Use policies.make_learner."
            )
        for name in ("version", "n_updates"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise InvalidInputError(f"snapshot {name} must be a non-negative integer; got {value!r}")
        object.__setattr__(self, "policy_id", self.config.id)
        object.__setattr__(self, "algorithm", self.config.algorithm)

    @classmethod
    @abstractmethod
    def expected_algorithms(cls) -> tuple[str, ...]:
        """Return the ``PolicyConfig.algorithm`` values this class serves."""

    @property
    @abstractmethod
    def dim(self) -> int:
        """Context dimension ``d``, bias included."""

    @abstractmethod
    def _payload(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """Return the class-specific header fields and arrays for :meth:`to_bytes`."""

    def to_bytes(self) -> bytes:
        """Serialise the config, version, counters and parameters (see policies.serialization)."""
        extra_header, arrays = self._payload()
        header = {
            "config": self.config.model_dump(mode="json"),
            "version": self.version,
            "n_updates": self.n_updates,
            "dim": self.dim,
            **extra_header,
        }
        return encode_snapshot(header, arrays)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(policy_id={self.policy_id!r}, algorithm={self.algorithm!r}, "
            f"version={self.version}, n_updates={self.n_updates}, dim={self.dim})"
        )
