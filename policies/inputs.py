"""Checks on the inputs of snapshots and learners, raising InvalidInputError with the fix."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from engine.errors import InvalidInputError

__all__ = [
    "validate_dim",
    "validate_context",
    "validate_decision",
    "validate_batch",
    "validate_reward",
    "validate_offer_id",
]


def validate_dim(dim: int) -> int:
    """Return ``dim`` as an int if it is a positive integer, else raise InvalidInputError."""
    if not isinstance(dim, (int, np.integer)) or isinstance(dim, bool) or dim < 1:
        raise InvalidInputError(
            f"dim (context length, bias included) must be a positive integer; got {dim!r}. "
            "Pass FeatureEncoder.dim of the policy's feature set."
        )
    return int(dim)


def validate_context(context: np.ndarray, dim: int) -> np.ndarray:
    """Return ``context`` as a float64 vector of shape ``(dim,)``, without copying a float64 input.

    Raises:
        InvalidInputError: the shape is not ``(dim,)`` or an entry is NaN or infinite.
    """
    x = np.asarray(context, dtype=np.float64)
    if x.shape != (dim,):
        raise InvalidInputError(
            f"context must be a vector of shape ({dim},) for this policy; got shape {x.shape}. "
            "Encode it with the FeatureEncoder of the policy's feature set."
        )
    if not np.isfinite(x).all():
        raise InvalidInputError(
            f"context must contain only finite numbers; got NaN or infinity at index {int(np.argmin(np.isfinite(x)))}"
        )
    return x


def validate_decision(
    context: np.ndarray,
    offer_ids: Sequence[str],
    multipliers: np.ndarray,
    k: int,
    dim: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Check the arguments of ``choose_slate`` and return ``(context, multipliers)`` as float64 arrays.

    Raises:
        InvalidInputError: no candidates, a repeated offer id, ``k`` below 1, a bad context,
            or multipliers that are not ``n`` finite non-negative numbers.
    """
    n = len(offer_ids)
    if n == 0:
        raise InvalidInputError("offer_ids must name at least one candidate; got an empty sequence")
    if len(set(offer_ids)) != n:
        repeated = sorted({offer_id for offer_id in offer_ids if offer_ids.count(offer_id) > 1})
        raise InvalidInputError(f"offer_ids must be distinct; got {', '.join(map(repr, repeated))} more than once")
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k < 1:
        raise InvalidInputError(f"k (slate size) must be an integer of at least 1; got {k!r}")
    x = validate_context(context, dim)
    weights = np.asarray(multipliers, dtype=np.float64)
    if weights.shape != (n,):
        raise InvalidInputError(
            f"multipliers must have shape ({n},), one per offer id; got shape {weights.shape}"
        )
    # min() is NaN when any entry is NaN and NaN >= 0 is False, so this also rejects NaN.
    if not (weights.min() >= 0.0 and np.isfinite(weights).all()):
        raise InvalidInputError(
            f"multipliers must be finite and non-negative; got {weights.tolist()}. "
            "Use 0 to suppress an offer's score."
        )
    return x, weights


def validate_reward(reward: float) -> float:
    """Return ``reward`` as a float, raising InvalidInputError if it is not a finite number."""
    try:
        value = float(reward)
    except (TypeError, ValueError) as err:
        raise InvalidInputError(f"reward must be a finite number; got {reward!r}") from err
    if not math.isfinite(value):
        raise InvalidInputError(f"reward must be a finite number; got {value}")
    return value


def validate_offer_id(offer_id: str) -> str:
    """Return ``offer_id`` if it is a non-empty string, else raise InvalidInputError."""
    if not isinstance(offer_id, str) or not offer_id:
        raise InvalidInputError(f"offer_id must be a non-empty string; got {offer_id!r}")
    return offer_id


def validate_batch(offer_ids: Sequence[str], contexts: np.ndarray, rewards: np.ndarray, dim: int) -> None:
    """Raise InvalidInputError unless the batch has one context row and one reward per offer id."""
    m = len(offer_ids)
    if np.shape(contexts) != (m, dim) or np.shape(rewards) != (m,):
        raise InvalidInputError(
            f"a batch of {m} offer ids needs contexts of shape ({m}, {dim}) and rewards of shape ({m},); "
            f"got {np.shape(contexts)} and {np.shape(rewards)}"
        )
