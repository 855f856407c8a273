"""Slate draws that return the exact probability of every placement they make.

Three randomisations cover every policy in this package:

* :func:`draw_greedy_slate`: at each position, place the best remaining candidate, except
  that a share of the probability is spread uniformly over the remaining candidates.
* :func:`draw_plackett_luce_slate`: sequential sampling without replacement with
  probability proportional to a weight (the Plackett-Luce model).
* :func:`draw_thompson_slate`: at each position, place a candidate with the probability
  that it scores highest among the remaining ones in a set of posterior draws.

Both loop over Python lists because a slate has a few positions and a few dozen
candidates: list arithmetic is faster than numpy's per-call overhead at that size.
"""

from __future__ import annotations

import bisect
import itertools
import math
from typing import NamedTuple

import numpy as np

from engine.errors import InvalidInputError
from policies.base import SlateChoice

__all__ = ["SlateDraw", "draw_greedy_slate", "draw_plackett_luce_slate", "draw_thompson_slate", "slate_choice_of"]


class SlateDraw(NamedTuple):
    """An ordered slate with the conditional probability of each placement.

    Attributes:
        order: candidate indices, position 1 first.
        propensities: probability that ``order[i]`` was placed at position ``i + 1`` given
            the candidates placed above it.
        first_position_dist: shape ``(n,)``; probability of each candidate at position 1.
    """

    order: tuple[int, ...]
    propensities: tuple[float, ...]
    first_position_dist: np.ndarray


def draw_greedy_slate(values: np.ndarray, k: int, *, share: float, rng: np.random.Generator) -> SlateDraw:
    """Draw ``min(k, n)`` candidates, each the best remaining one unless a uniform pick replaces it.

    At a position with ``m`` remaining candidates, of which the set ``T`` ties at the
    highest value, candidate ``j`` is placed with probability::

        P(j) = share / m + (1 - share) * 1[j in T] / |T|

    so ``share = 0`` gives a deterministic ranking with ties broken uniformly at random,
    and ``share = 1`` gives uniform sampling without replacement. Ties are exact float
    equality.

    Args:
        values: shape ``(n,)``, finite; higher is better.
        k: slate size requested; at most ``n`` candidates are placed.
        share: probability in [0, 1] of a uniform pick at each position.
        rng: source of randomness.
    """
    n = len(values)
    ranked: list[int] = np.argsort(-values, kind="stable").tolist()
    value_list: list[float] = values.tolist()
    n_tied = _count_tied(value_list, ranked)
    first_position_dist = np.full(n, share / n)
    first_position_dist[ranked[:n_tied]] += (1.0 - share) / n_tied
    order: list[int] = []
    propensities: list[float] = []
    _place_greedy(value_list, ranked, min(k, n), share, rng, order, propensities)
    return SlateDraw(tuple(order), tuple(propensities), first_position_dist)


def draw_plackett_luce_slate(
    weights: np.ndarray,
    k: int,
    *,
    rng: np.random.Generator,
    fallback_values: np.ndarray,
) -> SlateDraw:
    """Draw ``min(k, n)`` candidates by sequential sampling without replacement from ``weights``.

    Position ``i`` places candidate ``j`` with probability ``w_j / sum(w_l for l not yet
    placed)``, so an ordered slate has probability ``prod_i w_(i) / sum_(l >= i) w_(l)``
    (the Plackett-Luce model). The logged propensities are these conditional probabilities.

    When every remaining weight is zero (possible only without a propensity floor), the
    remaining positions are filled deterministically by ``fallback_values``, ties broken
    uniformly at random, and logged with those exact probabilities.

    Args:
        weights: shape ``(n,)``, non-negative, with a positive sum.
        k: slate size requested.
        rng: source of randomness.
        fallback_values: shape ``(n,)``; ranking used once the weights are exhausted.
    """
    weight_list: list[float] = weights.tolist()
    n = len(weight_list)
    total = list(itertools.accumulate(weight_list))[-1]
    if not total > 0.0:
        raise InvalidInputError(f"Plackett-Luce weights must have a positive sum; got {weight_list}")
    first_position_dist = weights / total
    remaining = list(range(n))
    order: list[int] = []
    propensities: list[float] = []
    for position in range(min(k, n)):
        cumulative = list(itertools.accumulate(weight_list))
        total = cumulative[-1]
        if total <= 0.0:
            fallback_list: list[float] = fallback_values.tolist()
            ranked = sorted(remaining, key=fallback_list.__getitem__, reverse=True)
            _place_greedy(fallback_list, ranked, min(k, n) - position, 0.0, rng, order, propensities)
            break
        # bisect_right never lands on a zero weight: that would need cumulative[j - 1] <= u < cumulative[j].
        index = bisect.bisect_right(cumulative, rng.random() * total)
        if index >= n:  # u rounded up to the total; take the last candidate with weight left
            index = max(j for j in remaining if weight_list[j] > 0.0)
        order.append(index)
        propensities.append(min(1.0, weight_list[index] / total))
        weight_list[index] = 0.0
        remaining.remove(index)
    return SlateDraw(tuple(order), tuple(propensities), first_position_dist)


def draw_thompson_slate(
    values: np.ndarray,
    k: int,
    *,
    share: float,
    rng: np.random.Generator,
    may_tie: bool = True,
) -> SlateDraw:
    """Draw ``min(k, n)`` candidates, each with its share of wins among the candidates left.

    ``values`` contains ``S`` posterior draws of every candidate's value. At a position with
    the set ``R`` of remaining candidates, candidate ``j`` is placed with probability::

        P(j) = (1 - share) * w_j(R) + share / |R|

    where ``w_j(R)`` is the fraction of draws in which ``j`` has the highest value within
    ``R`` (an exact tie splits the draw equally). Position 1 is thus Thompson sampling
    with ``S`` draws, and every later position is Thompson sampling over the candidates
    not yet placed, with the same draws. The logged propensities are these conditional
    probabilities, exact for the draw made; with ``share > 0`` every remaining candidate
    keeps at least ``share / |R|`` at every position.

    Args:
        values: shape ``(S, n)``, finite; higher is better.
        k: slate size requested; at most ``n`` candidates are placed.
        share: probability in [0, 1] spread uniformly over the remaining candidates.
        rng: source of randomness for the placements (the draws are already made).
        may_tie: False when no two columns can be exactly equal in a row, which allows a
            faster count of the winners.
    """
    n = values.shape[1]
    # Placed columns are set to -inf in a private copy, so later positions count wins
    # among the remaining candidates without gathering their columns again. A placed
    # column never wins a row: every remaining value is finite.
    work = np.array(values, dtype=np.float64)
    placed = [False] * n
    order: list[int] = []
    propensities: list[float] = []
    first_position_dist = np.zeros(n)
    # Python lists beat numpy for the per-position arithmetic on a few dozen candidates.
    win_weight = 1.0 - share
    for position in range(min(k, n)):
        floor = share / (n - position)
        wins = _win_frequencies(work, may_tie).tolist()
        probabilities = [0.0 if done else win_weight * win + floor for win, done in zip(wins, placed)]
        cumulative = list(itertools.accumulate(probabilities))
        total = cumulative[-1]
        if position == 0:
            first_position_dist = np.array(probabilities) / total
        # bisect_right never lands on a zero probability (a placed candidate included)
        # unless u rounded up to the total.
        index = bisect.bisect_right(cumulative, rng.random() * total)
        if index >= n:
            index = max(j for j in range(n) if probabilities[j] > 0.0)
        order.append(index)
        propensities.append(min(1.0, probabilities[index] / total))
        placed[index] = True
        work[:, index] = -np.inf
    return SlateDraw(tuple(order), tuple(propensities), first_position_dist)


def _win_frequencies(values: np.ndarray, may_tie: bool) -> np.ndarray:
    """Return the share of rows of ``values`` in which each column is the maximum."""
    n_samples, n = values.shape
    if not may_tie:
        return np.bincount(values.argmax(axis=1), minlength=n) / n_samples
    winners = values == values.max(axis=1, keepdims=True)
    n_winners = winners.sum(axis=1, keepdims=True)
    return (winners / n_winners).mean(axis=0)


def slate_choice_of(draw: SlateDraw, scores: np.ndarray, contributions: np.ndarray | None) -> SlateChoice:
    """Wrap a draw as the :class:`SlateChoice` that snapshots return."""
    return SlateChoice(
        order=draw.order,
        propensities=draw.propensities,
        slate_propensity=math.prod(draw.propensities),
        first_position_dist=draw.first_position_dist,
        scores=scores,
        contributions=contributions,
    )


def _count_tied(values: list[float], ranked: list[int]) -> int:
    """Return how many leading entries of ``ranked`` (sorted best first) tie with the first."""
    best = values[ranked[0]]
    n_tied = 1
    while n_tied < len(ranked) and values[ranked[n_tied]] == best:
        n_tied += 1
    return n_tied


def _place_greedy(
    values: list[float],
    ranked: list[int],
    positions: int,
    share: float,
    rng: np.random.Generator,
    order: list[int],
    propensities: list[float],
) -> None:
    """Append ``positions`` greedy-or-uniform placements to ``order``, removing them from ``ranked``.

    ``ranked`` contains the remaining candidates sorted by value, best first, so the greedy
    pick is always at its head.
    """
    for _ in range(positions):
        m = len(ranked)
        n_tied = _count_tied(values, ranked)
        # Draw the branch only when both are possible, so share 0 and 1 use one draw fewer.
        if share >= 1.0 or (share > 0.0 and rng.random() < share):
            slot = int(rng.integers(m))
        else:
            slot = int(rng.integers(n_tied)) if n_tied > 1 else 0
        greedy_probability = (1.0 - share) / n_tied if slot < n_tied else 0.0
        order.append(ranked.pop(slot))
        propensities.append(min(1.0, share / m + greedy_probability))
