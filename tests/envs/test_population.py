from __future__ import annotations

import numpy as np
import pytest

from engine.errors import InvalidInputError
from envs.population import PAY_CADENCES, SEGMENTS, TRAIT_NAMES, sample_population


def test_population_same_seed_same_customers() -> None:
    first = sample_population(300, np.random.default_rng(11))
    second = sample_population(300, np.random.default_rng(11))
    assert first.customer_ids == second.customer_ids
    assert np.array_equal(first.latent, second.latent)
    assert [c.monthly_income for c in first.customers] == [c.monthly_income for c in second.customers]
    assert [c.subscriptions for c in first.customers] == [c.subscriptions for c in second.customers]


def test_population_other_seed_differs() -> None:
    first = sample_population(50, np.random.default_rng(1))
    second = sample_population(50, np.random.default_rng(2))
    assert not np.array_equal(first.latent, second.latent)


def test_population_covers_segments_and_cadences() -> None:
    population = sample_population(1000, np.random.default_rng(3))
    segments = {customer.segment for customer in population.customers}
    cadences = {customer.pay_cadence for customer in population.customers}
    assert segments == {segment.name for segment in SEGMENTS}
    assert cadences == set(PAY_CADENCES)
    assert len({customer.home.country for customer in population.customers}) >= 5


def test_population_latent_is_standardised() -> None:
    population = sample_population(800, np.random.default_rng(4))
    assert population.latent.shape == (800, len(TRAIT_NAMES))
    np.testing.assert_allclose(population.latent.mean(axis=0), 0.0, atol=1e-9)
    np.testing.assert_allclose(population.latent.std(axis=0), 1.0, atol=1e-9)


def test_population_segments_shape_traits() -> None:
    population = sample_population(2000, np.random.default_rng(5))

    def mean_of(segment: str, attribute: str) -> float:
        return float(np.mean([getattr(c, attribute) for c in population.customers if c.segment == segment]))

    assert mean_of("affluent", "monthly_income") > 2 * mean_of("student", "monthly_income")
    assert mean_of("stretched", "overdraft_tendency") > 2 * mean_of("affluent", "overdraft_tendency")
    assert mean_of("family", "household_size") > mean_of("young_professional", "household_size") + 1
    assert mean_of("retiree", "logins_per_day") < mean_of("student", "logins_per_day")
    assert all(c.pay_cadence == "pension" for c in population.customers if c.segment == "retiree")


def test_population_budgets_are_positive() -> None:
    population = sample_population(500, np.random.default_rng(6))
    for customer in population.customers:
        assert customer.monthly_income > 0
        assert all(amount >= 0 for amount in customer.budgets.values()), customer.customer_id
        assert customer.budgets["groceries"] > 0, customer.customer_id


def test_population_single_customer_has_zero_latent() -> None:
    population = sample_population(1, np.random.default_rng(0))
    assert np.array_equal(population.latent, np.zeros((1, len(TRAIT_NAMES))))


@pytest.mark.parametrize("size", [0, -3, 2.5])
def test_population_rejects_bad_size(size: object) -> None:
    with pytest.raises(InvalidInputError, match=r"n_customers must be an int >= 1; got"):
        sample_population(size, np.random.default_rng(0))  # type: ignore[arg-type]
