"""Run candidate policies next to the serving one: shadow mode and traffic splits.

* :class:`ShadowPolicy` decides with the serving policy and, on the same inputs, with a
  shadow policy whose choice is only reported (for logging and later off-policy
  comparison). Customers see the serving choice only, and a failing shadow never fails
  the decision.
* :class:`TrafficSplit` sends each customer to one of several policies by a stable hash of
  the customer id, so a customer keeps the same policy across decisions and restarts.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from engine.errors import InvalidInputError
from policies.base import PolicySnapshot, SlateChoice

__all__ = ["ShadowDecision", "ShadowPolicy", "RoutedChoice", "TrafficSplit"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ShadowDecision:
    """The choices of both policies for one decision.

    Attributes:
        serving: the choice that customers see.
        shadow: the shadow policy's choice, or None when it failed.
        shadow_error: ``"ExceptionType: message"`` when the shadow failed, else None.
    """

    serving: SlateChoice
    shadow: SlateChoice | None
    shadow_error: str | None = None


class ShadowPolicy(PolicySnapshot):
    """Serve one policy while a second one decides on the same inputs without being shown.

    The shadow draws from its own generator, seeded by ``shadow_seed``, so the serving
    choice is the same as without a shadow for the same ``rng``.

    Args:
        serving: the policy whose choices are returned.
        shadow: the candidate policy; it must accept the same context length.
        on_shadow: called with the :class:`ShadowDecision` of every :meth:`choose_slate`
            call, for example to log it; its exceptions are logged and swallowed.
        shadow_seed: seed of the shadow's generator.

    Attributes:
        policy_id, algorithm, version, context_mean: those of ``serving``.
    """

    def __init__(
        self,
        serving: PolicySnapshot,
        shadow: PolicySnapshot,
        *,
        on_shadow: Callable[[ShadowDecision], None] | None = None,
        shadow_seed: int | None = None,
    ) -> None:
        for name, value in (("serving", serving), ("shadow", shadow)):
            if not isinstance(value, PolicySnapshot):
                raise InvalidInputError(f"{name} must be a PolicySnapshot; got {type(value).__name__}")
        self.serving = serving
        self.shadow = shadow
        self.on_shadow = on_shadow
        self.policy_id = serving.policy_id
        self.algorithm = serving.algorithm
        self.version = serving.version
        self.context_mean = serving.context_mean
        self._shadow_rng = np.random.default_rng(shadow_seed)
        self.shadow_failures = 0

    def __repr__(self) -> str:
        return f"ShadowPolicy(serving={self.serving!r}, shadow={self.shadow!r}, shadow_failures={self.shadow_failures})"

    def decide(
        self,
        context: np.ndarray,
        offer_ids: Sequence[str],
        multipliers: np.ndarray,
        k: int,
        rng: np.random.Generator,
        *,
        shadow_context: np.ndarray | None = None,
    ) -> ShadowDecision:
        """Decide with both policies; errors of the serving policy propagate, the shadow's are reported.

        Args:
            shadow_context: the shadow's context when it uses other features than the
                serving policy (for example a journey observation); default ``context``.
            Other arguments: as in :meth:`PolicySnapshot.choose_slate`.
        """
        serving = self.serving.choose_slate(context, offer_ids, multipliers, k, rng)
        try:
            shadow_input = context if shadow_context is None else shadow_context
            shadow = self.shadow.choose_slate(shadow_input, offer_ids, multipliers, k, self._shadow_rng)
        except Exception as err:  # noqa: BLE001 - the shadow must never break serving
            self.shadow_failures += 1
            logger.warning(
                "shadow_policy_failed",
                extra={"policy": self.shadow.policy_id, "error": type(err).__name__, "failures": self.shadow_failures},
            )
            return ShadowDecision(serving=serving, shadow=None, shadow_error=f"{type(err).__name__}: {err}")
        return ShadowDecision(serving=serving, shadow=shadow)

    def choose_slate(
        self,
        context: np.ndarray,
        offer_ids: Sequence[str],
        multipliers: np.ndarray,
        k: int,
        rng: np.random.Generator,
    ) -> SlateChoice:
        """Return the serving choice; the shadow's goes to ``on_shadow``."""
        decision = self.decide(context, offer_ids, multipliers, k, rng)
        if self.on_shadow is not None:
            try:
                self.on_shadow(decision)
            except Exception as err:  # noqa: BLE001 - a logging hook must not fail the decision
                logger.warning("shadow_hook_failed", extra={"error": type(err).__name__})
        return decision.serving

    def expected_rewards(self, context: np.ndarray, offer_ids: Sequence[str]) -> np.ndarray:
        """Return the serving policy's predicted rewards."""
        return self.serving.expected_rewards(context, offer_ids)

    def to_bytes(self) -> bytes:
        """Serialise the serving policy; a shadow is a deployment setting, not policy state."""
        return self.serving.to_bytes()


@dataclass(frozen=True)
class RoutedChoice:
    """A decision made by the policy a customer was routed to.

    Attributes:
        arm: index of the policy in the split.
        policy_id: that policy's id.
        choice: its slate choice.
    """

    arm: int
    policy_id: str
    choice: SlateChoice


class TrafficSplit:
    """Route each customer to one policy with the configured weights, by a stable hash of the id.

    The hash is BLAKE2b of ``"<seed>:<customer_id>"``, mapped to [0, 1) and compared with
    the cumulative normalised weights. A customer keeps the same arm for as long as the
    weights and the seed stay the same. Changing a weight moves only the customers whose
    hash falls in the part of [0, 1) that changed arm.

    Args:
        arms: ``(weight, snapshot)`` pairs; weights finite and non-negative, with a positive sum.
        seed: salt of the hash, so that two experiments do not split customers alike.

    Raises:
        InvalidInputError: no arms, a negative or non-finite weight, all weights zero, or
            an entry that is not a PolicySnapshot.
    """

    def __init__(self, arms: Sequence[tuple[float, PolicySnapshot]], seed: int = 0) -> None:
        if not arms:
            raise InvalidInputError("arms must contain at least one (weight, snapshot) pair; got none")
        weights = []
        for index, arm in enumerate(arms):
            if not isinstance(arm, tuple) or len(arm) != 2 or not isinstance(arm[1], PolicySnapshot):
                raise InvalidInputError(f"arms[{index}] must be a (weight, PolicySnapshot) pair; got {arm!r}")
            weight = float(arm[0])
            if not math.isfinite(weight) or weight < 0.0:
                raise InvalidInputError(f"arms[{index}] weight must be finite and >= 0; got {arm[0]!r}")
            weights.append(weight)
        total = sum(weights)
        if total <= 0.0:
            raise InvalidInputError(f"arm weights must have a positive sum; got {weights}")
        self.snapshots: tuple[PolicySnapshot, ...] = tuple(arm[1] for arm in arms)
        self.shares: tuple[float, ...] = tuple(weight / total for weight in weights)
        self._bounds = np.cumsum(self.shares)
        self.seed = int(seed)

    def __repr__(self) -> str:
        arms = ", ".join(f"{snapshot.policy_id}={share:.0%}" for snapshot, share in zip(self.snapshots, self.shares))
        return f"TrafficSplit({arms}, seed={self.seed})"

    def arm_of(self, customer_id: str) -> int:
        """Return the arm index of ``customer_id``."""
        if not isinstance(customer_id, str) or not customer_id:
            raise InvalidInputError(f"customer_id must be a non-empty string; got {customer_id!r}")
        digest = hashlib.blake2b(f"{self.seed}:{customer_id}".encode(), digest_size=8).digest()
        point = int.from_bytes(digest, "big") / 2.0**64
        arm = int(np.searchsorted(self._bounds, point, side="right"))
        # Rounding can leave the last bound a hair below 1; such points belong to the last arm with weight.
        return min(arm, max(i for i, share in enumerate(self.shares) if share > 0.0))

    def route(self, customer_id: str) -> PolicySnapshot:
        """Return the snapshot that decides for ``customer_id``."""
        return self.snapshots[self.arm_of(customer_id)]

    def decide(
        self,
        customer_id: str,
        context: np.ndarray,
        offer_ids: Sequence[str],
        multipliers: np.ndarray,
        k: int,
        rng: np.random.Generator,
    ) -> RoutedChoice:
        """Decide with the customer's policy; the slate's propensities are that policy's."""
        arm = self.arm_of(customer_id)
        snapshot = self.snapshots[arm]
        return RoutedChoice(arm=arm, policy_id=snapshot.policy_id, choice=snapshot.choose_slate(context, offer_ids, multipliers, k, rng))
