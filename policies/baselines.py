"""Baseline policies to compare the linear bandits against: uniform random, static, epsilon-greedy.

``random`` and ``static`` do not learn; their learner only counts rewards so that
versions and counters behave like those of every other policy. ``epsilon_greedy``
learns a ridge model, per offer or shared, exactly as LinUCB does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from engine.config.policy import PolicyConfig
from engine.errors import ConfigError, InvalidInputError
from policies.base import BanditLearner, SlateChoice
from policies.inputs import (
    validate_batch,
    validate_context,
    validate_decision,
    validate_dim,
    validate_offer_id,
    validate_reward,
)
from policies.linear import LinearLearner, LinearSnapshot
from policies.ridge import score_contributions
from policies.slate_draws import draw_greedy_slate, draw_plackett_luce_slate, slate_choice_of
from policies.snapshot_base import SnapshotBase

__all__ = [
    "FixedPolicySnapshot",
    "RandomSnapshot",
    "StaticSnapshot",
    "EpsilonGreedySnapshot",
    "FixedPolicyLearner",
    "EpsilonGreedyLearner",
]


@dataclass(frozen=True, eq=False, repr=False)
class FixedPolicySnapshot(SnapshotBase):
    """Snapshot of a policy without a reward model; its expected rewards are all 0.

    Attributes:
        context_dim: context length ``d`` that inputs are checked against.
    """

    context_dim: int

    def __post_init__(self) -> None:
        super().__post_init__()
        validate_dim(self.context_dim)

    @property
    def dim(self) -> int:
        """Context dimension ``d``, bias included."""
        return self.context_dim

    @property
    def context_mean(self) -> None:
        """Always None, because the policy keeps no contexts and so has no reference customer."""
        return None

    def expected_rewards(self, context: np.ndarray, offer_ids: Sequence[str]) -> np.ndarray:
        """Return zeros, shape ``(n,)``, because the policy has no reward model."""
        validate_context(context, self.dim)
        return np.zeros(len(offer_ids))

    def _payload(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return {}, {}

    @classmethod
    def from_payload(
        cls, config: PolicyConfig, header: Mapping[str, Any], arrays: Mapping[str, np.ndarray]
    ) -> FixedPolicySnapshot:
        """Rebuild a snapshot from decoded bytes (see :meth:`SnapshotBase.to_bytes`)."""
        try:
            return cls(
                config=config, version=header["version"], n_updates=header["n_updates"], context_dim=header["dim"]
            )
        except KeyError as err:
            raise InvalidInputError(f"snapshot of policy {config.id!r} lacks the header field {err}") from err


@dataclass(frozen=True, eq=False, repr=False)
class RandomSnapshot(FixedPolicySnapshot):
    """Uniform random slates: Plackett-Luce with equal weights, propensity ``1 / m`` with ``m`` candidates left."""

    @classmethod
    def expected_algorithms(cls) -> tuple[str, ...]:
        """Return ``("random",)``."""
        return ("random",)

    def choose_slate(
        self,
        context: np.ndarray,
        offer_ids: Sequence[str],
        multipliers: np.ndarray,
        k: int,
        rng: np.random.Generator,
    ) -> SlateChoice:
        """Draw ``min(k, n)`` candidates uniformly without replacement; the multipliers are ignored."""
        validate_decision(context, offer_ids, multipliers, k, self.dim)
        n = len(offer_ids)
        draw = draw_plackett_luce_slate(np.ones(n), k, rng=rng, fallback_values=np.zeros(n))
        return slate_choice_of(draw, np.zeros(n), None)


@dataclass(frozen=True, eq=False, repr=False)
class StaticSnapshot(FixedPolicySnapshot):
    """Static ranking by multiplier (business value and levers), the bank's rule-based default.

    Deterministic: propensity 1 at every position, except that exact ties in the
    multipliers are broken uniformly at random. ``exploration.min_propensity_share`` is
    not applied, so offline evaluation of other policies cannot use this one's logs for
    slates it never shows.
    """

    @classmethod
    def expected_algorithms(cls) -> tuple[str, ...]:
        """Return ``("static",)``."""
        return ("static",)

    def choose_slate(
        self,
        context: np.ndarray,
        offer_ids: Sequence[str],
        multipliers: np.ndarray,
        k: int,
        rng: np.random.Generator,
    ) -> SlateChoice:
        """Place the ``min(k, n)`` candidates with the highest multipliers, highest first."""
        _, weights = validate_decision(context, offer_ids, multipliers, k, self.dim)
        draw = draw_greedy_slate(weights, k, share=0.0, rng=rng)
        return slate_choice_of(draw, np.zeros(len(offer_ids)), None)


@dataclass(frozen=True, eq=False, repr=False)
class EpsilonGreedySnapshot(LinearSnapshot):
    """Epsilon-greedy over a ridge model's posterior means.

    Each position places the candidate with the highest ``(x . theta_i) * multiplier_i``
    among those remaining, except that with probability ``eps`` it places a uniform pick
    among the remaining ``m``, so the propensity is ``eps / m + (1 - eps) * 1[greedy]``
    (exact ties share the greedy part). ``eps`` is the larger of ``exploration.epsilon``
    and ``exploration.min_propensity_share``, so the floor applies here too.
    """

    @classmethod
    def expected_algorithms(cls) -> tuple[str, ...]:
        """Return ``("epsilon_greedy",)``."""
        return ("epsilon_greedy",)

    def choose_slate(
        self,
        context: np.ndarray,
        offer_ids: Sequence[str],
        multipliers: np.ndarray,
        k: int,
        rng: np.random.Generator,
    ) -> SlateChoice:
        """Draw an ordered slate of ``min(k, len(offer_ids))`` candidates, greedy with uniform exploration."""
        x, weights = validate_decision(context, offer_ids, multipliers, k, self.dim)
        rows = self.params.rows_of(offer_ids)
        coefficients = self.params.coefficients(rows)
        means = coefficients @ x
        exploration = self.config.exploration
        share = max(exploration.epsilon, exploration.min_propensity_share)
        draw = draw_greedy_slate(means * weights, k, share=share, rng=rng)
        return slate_choice_of(draw, means, score_contributions(coefficients, x, self.params.context_mean))


class EpsilonGreedyLearner(LinearLearner):
    """Ridge model of an epsilon-greedy policy (see :class:`LinearLearner` for the arguments)."""

    SNAPSHOT_CLASSES: ClassVar[Mapping[str, type[LinearSnapshot]]] = {"epsilon_greedy": EpsilonGreedySnapshot}


class FixedPolicyLearner(BanditLearner):
    """Learner of ``random`` and ``static``: checks and counts rewards, learns nothing.

    Args:
        config: the policy; ``config.algorithm`` must be ``"random"`` or ``"static"``.
        dim: context length ``d``, bias included; inputs are checked against it.
    """

    SNAPSHOT_CLASSES: ClassVar[Mapping[str, type[FixedPolicySnapshot]]] = {
        "random": RandomSnapshot,
        "static": StaticSnapshot,
    }

    def __init__(self, config: PolicyConfig, *, dim: int) -> None:
        if config.algorithm not in self.SNAPSHOT_CLASSES:
            raise ConfigError(
                f"FixedPolicyLearner serves algorithm 'random' or 'static'; policy {config.id!r} has "
                f"{config.algorithm!r}. Use policies.make_learner."
            )
        self.config = config
        self.policy_id = config.id
        self.algorithm = config.algorithm
        self.dim = validate_dim(dim)
        self._n_updates = 0
        self._version = 0

    @property
    def n_updates(self) -> int:
        """Number of rewards absorbed since the policy was created."""
        return self._n_updates

    @property
    def version(self) -> int:
        """Version of the last snapshot published (0 before the first)."""
        return self._version

    def update_one(self, offer_id: str, context: np.ndarray, reward: float) -> None:
        """Check the reward's inputs and count it; the policy does not change."""
        validate_offer_id(offer_id)
        validate_context(context, self.dim)
        validate_reward(reward)
        self._n_updates += 1

    def update_many(self, offer_ids: Sequence[str], contexts: np.ndarray, rewards: np.ndarray) -> None:
        """Check and count a batch; ``contexts`` has shape ``(m, d)`` and ``rewards`` shape ``(m,)``."""
        validate_batch(offer_ids, contexts, rewards, self.dim)
        super().update_many(offer_ids, contexts, rewards)

    def snapshot(self) -> FixedPolicySnapshot:
        """Return a snapshot with the next version."""
        self._version += 1
        snapshot_class = self.SNAPSHOT_CLASSES[self.algorithm]
        return snapshot_class(
            config=self.config, version=self._version, n_updates=self._n_updates, context_dim=self.dim
        )

    @classmethod
    def from_snapshot(cls, snapshot: FixedPolicySnapshot) -> FixedPolicyLearner:
        """Return a learner whose counters continue from ``snapshot``."""
        learner = cls(snapshot.config, dim=snapshot.dim)
        learner._n_updates = snapshot.n_updates
        learner._version = snapshot.version
        return learner

    def __repr__(self) -> str:
        return (
            f"FixedPolicyLearner(policy_id={self.policy_id!r}, algorithm={self.algorithm!r}, "
            f"dim={self.dim}, n_updates={self._n_updates}, version={self._version})"
        )
