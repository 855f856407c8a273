"""Interfaces shared by every bandit policy.

A policy has two halves. A :class:`BanditLearner` is mutable and owned by one learner
process; it absorbs rewards. A :class:`PolicySnapshot` is an immutable copy of the
learner's parameters that decision code reads; the learner publishes a new one from time
to time and decision code swaps it in atomically.

Vocabulary: ``context`` is the encoded feature vector of one customer (shape ``(d,)``,
last entry the bias); ``offer_ids`` are the eligible candidates of one decision;
``multipliers`` (shape ``(n,)``) are the arbitration factors (business value and levers)
that scale each candidate's predicted reward; a ``propensity`` is the probability with
which the policy made a choice.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["SlateChoice", "PolicySnapshot", "BanditLearner"]


@dataclass(frozen=True)
class SlateChoice:
    """An ordered slate drawn by a policy, with the exact probabilities of the draw.

    Attributes:
        order: indices into ``offer_ids``; ``order[0]`` is position 1.
        propensities: ``propensities[i]`` is the probability that ``order[i]`` was placed at
            position ``i + 1`` given the offers placed above it.
        slate_propensity: probability of the whole ordered slate (product of ``propensities``).
        first_position_dist: shape ``(n,)``; probability of each candidate being placed
            first. Sums to 1.
        scores: shape ``(n,)``; the policy's expected reward for each candidate (posterior
            mean for Bayesian policies), before multipliers.
        contributions: shape ``(n, d)`` or None; how much each context entry adds to each
            candidate's score relative to an average customer. Used to explain decisions.
    """

    order: tuple[int, ...]
    propensities: tuple[float, ...]
    slate_propensity: float
    first_position_dist: np.ndarray
    scores: np.ndarray
    contributions: np.ndarray | None = None


class PolicySnapshot(ABC):
    """Immutable, picklable view of a policy's parameters at one version."""

    policy_id: str
    algorithm: str
    version: int
    #: Mean context seen by the learner, shape ``(d,)``, or None before any update. Reasons
    #: use it to say whether a customer is above or below average on a feature.
    context_mean: np.ndarray | None = None

    @abstractmethod
    def choose_slate(
        self,
        context: np.ndarray,
        offer_ids: Sequence[str],
        multipliers: np.ndarray,
        k: int,
        rng: np.random.Generator,
    ) -> SlateChoice:
        """Draw an ordered slate of ``min(k, len(offer_ids))`` distinct candidates."""

    @abstractmethod
    def expected_rewards(self, context: np.ndarray, offer_ids: Sequence[str]) -> np.ndarray:
        """Return the predicted reward of each candidate for this context, shape ``(n,)``."""

    @abstractmethod
    def to_bytes(self) -> bytes:
        """Serialise the snapshot (parameters, version, config) for a snapshot store."""


class BanditLearner(ABC):
    """Mutable policy state that learns from rewards."""

    policy_id: str
    algorithm: str

    @property
    @abstractmethod
    def n_updates(self) -> int:
        """Number of rewards absorbed since the policy was created."""

    @abstractmethod
    def update_one(self, offer_id: str, context: np.ndarray, reward: float) -> None:
        """Absorb one reward for ``offer_id`` shown in ``context``; an unseen offer id starts from the prior."""

    def update_many(self, offer_ids: Sequence[str], contexts: np.ndarray, rewards: np.ndarray) -> None:
        """Absorb a batch; ``contexts`` has shape ``(m, d)`` and ``rewards`` shape ``(m,)``."""
        for offer_id, context, reward in zip(offer_ids, contexts, rewards):
            self.update_one(offer_id, context, float(reward))

    def update_with_feedback(
        self, offer_id: str, context: np.ndarray, reward: float, feedback: Sequence[str]
    ) -> None:
        """Absorb one reward together with the feedback types that produced it (click, reject, ...).

        Learners that read the reward alone ignore ``feedback``; the funnel model also
        learns from it.
        """
        self.update_one(offer_id, context, reward)

    @abstractmethod
    def snapshot(self) -> PolicySnapshot:
        """Return an immutable copy of the current parameters with a new, higher version."""
