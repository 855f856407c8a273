"""The oracle policy: ranks eligible offers by the simulator's true expected reward.

It exists only in simulation, as the ceiling other policies are measured against. The
simulation loop sets ``customer_id`` and ``now`` before each decision, because the
snapshot interface passes only the encoded context.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

import numpy as np

from policies.base import PolicySnapshot, SlateChoice

if TYPE_CHECKING:
    from envs.bank import SyntheticBank

__all__ = ["OracleSnapshot"]


class OracleSnapshot(PolicySnapshot):
    """Deterministic top-k by true expected reward times multipliers (propensity 1)."""

    policy_id = "oracle"
    algorithm = "oracle"
    version = 0

    def __init__(self, bank: "SyntheticBank") -> None:
        self.bank = bank
        self.customer_id: str | None = None
        self.now: datetime | None = None

    def expected_rewards(self, context: np.ndarray, offer_ids: Sequence[str]) -> np.ndarray:
        if self.customer_id is None:
            raise RuntimeError("set OracleSnapshot.customer_id before each decision")
        return np.array(
            [self.bank.expected_reward(self.customer_id, offer_id, 1, self.now) for offer_id in offer_ids]
        )

    def choose_slate(
        self,
        context: np.ndarray,
        offer_ids: Sequence[str],
        multipliers: np.ndarray,
        k: int,
        rng: np.random.Generator,
    ) -> SlateChoice:
        scores = self.expected_rewards(context, offer_ids)
        order = tuple(int(i) for i in np.argsort(-(scores * multipliers), kind="stable")[: min(k, len(offer_ids))])
        first = np.zeros(len(offer_ids))
        if order:
            first[order[0]] = 1.0
        return SlateChoice(
            order=order,
            propensities=tuple(1.0 for _ in order),
            slate_propensity=1.0,
            first_position_dist=first,
            scores=scores,
            contributions=None,
        )

    def to_bytes(self) -> bytes:
        raise NotImplementedError("the oracle reads the simulator's hidden state and cannot be serialised")
