"""Greedy, Plackett-Luce and Thompson slate draws: exact propensities and sampling frequencies."""

from __future__ import annotations

import itertools
import math
from collections import Counter

import numpy as np
import pytest

from engine.errors import InvalidInputError
from policies.slate_draws import draw_greedy_slate, draw_plackett_luce_slate, draw_thompson_slate
from policy_cases import plackett_luce_probability


def greedy_probability(values: np.ndarray, remaining: list[int], index: int, share: float) -> float:
    best = max(values[j] for j in remaining)
    tied = [j for j in remaining if values[j] == best]
    return share / len(remaining) + ((1.0 - share) / len(tied) if index in tied else 0.0)


def test_greedy_without_share_is_deterministic() -> None:
    values = np.array([0.1, 0.9, 0.5, 0.7])
    draw = draw_greedy_slate(values, 3, share=0.0, rng=np.random.default_rng(0))
    assert draw.order == (1, 3, 2)
    assert draw.propensities == (1.0, 1.0, 1.0)
    np.testing.assert_array_equal(draw.first_position_dist, [0.0, 1.0, 0.0, 0.0])


def test_greedy_breaks_ties_uniformly() -> None:
    values = np.array([1.0, 0.2, 1.0, 1.0])
    firsts = Counter()
    for seed in range(3000):
        draw = draw_greedy_slate(values, 4, share=0.0, rng=np.random.default_rng(seed))
        firsts[draw.order[0]] += 1
        assert draw.propensities == (1 / 3, 1 / 2, 1.0, 1.0)
        assert draw.order[-1] == 1
    np.testing.assert_allclose(draw.first_position_dist, [1 / 3, 0.0, 1 / 3, 1 / 3])
    for index in (0, 2, 3):
        assert firsts[index] / 3000 == pytest.approx(1 / 3, abs=0.04)


@pytest.mark.parametrize("share", [0.0, 0.3, 1.0])
def test_greedy_propensities_follow_formula(share: float) -> None:
    values = np.array([0.4, 0.9, 0.9, 0.1, 0.6])
    rng = np.random.default_rng(1)
    for _ in range(200):
        draw = draw_greedy_slate(values, 4, share=share, rng=rng)
        remaining = list(range(5))
        for index, propensity in zip(draw.order, draw.propensities):
            assert propensity == pytest.approx(greedy_probability(values, remaining, index, share), rel=1e-12)
            remaining.remove(index)


def test_greedy_slate_frequencies_match_propensity() -> None:
    values = np.array([0.3, 0.8, 0.5])
    rng = np.random.default_rng(2)
    counts: Counter[tuple[int, ...]] = Counter()
    logged: dict[tuple[int, ...], float] = {}
    n_draws = 6000
    for _ in range(n_draws):
        draw = draw_greedy_slate(values, 2, share=0.4, rng=rng)
        counts[draw.order] += 1
        logged[draw.order] = math.prod(draw.propensities)
    assert sum(logged.values()) == pytest.approx(1.0)
    for order, probability in logged.items():
        assert counts[order] / n_draws == pytest.approx(probability, abs=4 * math.sqrt(0.25 / n_draws))


def test_plackett_luce_frequencies_match_products() -> None:
    weights = np.array([0.5, 0.3, 0.15, 0.05])
    rng = np.random.default_rng(3)
    counts: Counter[tuple[int, ...]] = Counter()
    n_draws = 8000
    for _ in range(n_draws):
        draw = draw_plackett_luce_slate(weights, 2, rng=rng, fallback_values=np.zeros(4))
        counts[draw.order] += 1
        assert draw.propensities[0] == pytest.approx(weights[draw.order[0]])
        assert math.prod(draw.propensities) == pytest.approx(plackett_luce_probability(weights, draw.order))
    for order in itertools.permutations(range(4), 2):
        expected = plackett_luce_probability(weights, order)
        assert counts[order] / n_draws == pytest.approx(expected, abs=4 * math.sqrt(0.25 / n_draws))


def test_plackett_luce_skips_zero_weights() -> None:
    weights = np.array([0.0, 0.6, 0.0, 0.4])
    for seed in range(200):
        draw = draw_plackett_luce_slate(weights, 2, rng=np.random.default_rng(seed), fallback_values=np.zeros(4))
        assert sorted(draw.order) == [1, 3]


def test_plackett_luce_falls_back_to_ranking() -> None:
    weights = np.array([0.0, 1.0, 0.0, 0.0])
    fallback = np.array([0.2, 5.0, 0.9, 0.2])
    firsts_after = Counter()
    for seed in range(400):
        draw = draw_plackett_luce_slate(weights, 4, rng=np.random.default_rng(seed), fallback_values=fallback)
        assert draw.order[:2] == (1, 2)
        assert draw.propensities == (1.0, 1.0, 0.5, 1.0)
        firsts_after[draw.order[2]] += 1
    assert set(firsts_after) == {0, 3}


def test_plackett_luce_rejects_zero_weights() -> None:
    with pytest.raises(InvalidInputError, match=r"Plackett-Luce weights must have a positive sum; got \[0.0, 0.0\]"):
        draw_plackett_luce_slate(np.zeros(2), 1, rng=np.random.default_rng(0), fallback_values=np.zeros(2))


# Four posterior draws (rows) of three candidates (columns). Candidate 1 wins rows 0-2 and
# candidate 2 wins row 3. Among {0, 2}, candidate 2 wins rows 0, 1 and 3; among {0, 1},
# candidate 1 wins rows 0-2 and candidate 0 wins row 3.
THOMPSON_VALUES = np.array(
    [
        [0.1, 0.9, 0.5],
        [0.2, 0.8, 0.3],
        [0.4, 0.7, 0.1],
        [0.6, 0.2, 0.95],
    ]
)


def thompson_probability(order: tuple[int, ...], share: float) -> float:
    """Return the probability of ``order`` under THOMPSON_VALUES, worked out by hand."""
    wins = {
        frozenset({0, 1, 2}): {0: 0.0, 1: 0.75, 2: 0.25},
        frozenset({0, 2}): {0: 0.25, 2: 0.75},
        frozenset({0, 1}): {0: 0.25, 1: 0.75},
        frozenset({1, 2}): {1: 0.75, 2: 0.25},
    }
    remaining = {0, 1, 2}
    probability = 1.0
    for index in order:
        probability *= (1.0 - share) * wins[frozenset(remaining)][index] + share / len(remaining)
        remaining.remove(index)
    return probability


@pytest.mark.parametrize("share", [0.0, 0.3])
def test_thompson_propensities_are_conditional_win_shares(share: float) -> None:
    rng = np.random.default_rng(5)
    for _ in range(200):
        draw = draw_thompson_slate(THOMPSON_VALUES, 2, share=share, rng=rng, may_tie=False)
        assert math.prod(draw.propensities) == pytest.approx(thompson_probability(draw.order, share), rel=1e-12)
        assert draw.propensities[0] == pytest.approx(draw.first_position_dist[draw.order[0]], rel=1e-12)
    expected_first = [share / 3, (1.0 - share) * 0.75 + share / 3, (1.0 - share) * 0.25 + share / 3]
    np.testing.assert_allclose(draw.first_position_dist, expected_first)


def test_thompson_slate_frequencies_match_products() -> None:
    rng = np.random.default_rng(6)
    counts: Counter[tuple[int, ...]] = Counter()
    n_draws = 8000
    for _ in range(n_draws):
        counts[draw_thompson_slate(THOMPSON_VALUES, 2, share=0.3, rng=rng).order] += 1
    total = sum(thompson_probability(order, 0.3) for order in itertools.permutations(range(3), 2))
    assert total == pytest.approx(1.0)
    for order in itertools.permutations(range(3), 2):
        expected = thompson_probability(order, 0.3)
        assert counts[order] / n_draws == pytest.approx(expected, abs=4 * math.sqrt(0.25 / n_draws))


def test_thompson_without_share_never_places_a_loser() -> None:
    # Candidate 0 wins no row among any set that contains candidate 1 or 2 with it.
    values = np.array([[0.0, 0.9, 0.5], [0.1, 0.3, 0.8]])
    for seed in range(200):
        draw = draw_thompson_slate(values, 2, share=0.0, rng=np.random.default_rng(seed))
        assert 0 not in draw.order
        assert draw.propensities[1] == 1.0


def test_thompson_splits_exact_ties() -> None:
    values = np.array([[1.0, 1.0, 0.0]] * 3)
    draw = draw_thompson_slate(values, 1, share=0.0, rng=np.random.default_rng(7), may_tie=True)
    np.testing.assert_allclose(draw.first_position_dist, [0.5, 0.5, 0.0])
    assert draw.propensities == (0.5,)


def test_draws_stop_at_candidate_count() -> None:
    rng = np.random.default_rng(4)
    greedy = draw_greedy_slate(np.array([1.0, 2.0]), 5, share=0.1, rng=rng)
    plackett_luce = draw_plackett_luce_slate(np.array([0.5, 0.5]), 5, rng=rng, fallback_values=np.zeros(2))
    thompson = draw_thompson_slate(np.array([[0.2, 0.4], [0.9, 0.1]]), 5, share=0.1, rng=rng)
    assert sorted(greedy.order) == [0, 1]
    assert sorted(plackett_luce.order) == [0, 1]
    assert sorted(thompson.order) == [0, 1]
    assert greedy.propensities[-1] == 1.0
    assert plackett_luce.propensities[-1] == 1.0
    assert thompson.propensities[-1] == 1.0
