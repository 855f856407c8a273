from __future__ import annotations

import numpy as np
import pytest

from engine.config.offers import OfferCatalog, OfferSpec
from engine.config.rewards import RewardConfig
from engine.errors import InvalidInputError
from envs.population import TRAIT_NAMES
from envs.response import (
    OUTCOMES,
    POSITION_FACTORS,
    PREFERENCE_NORM,
    ResponseModel,
    draw_outcome,
    position_factor,
    preference_for_offer,
)


def _spec(offer_id: str, category: str, business_value: float = 1.0) -> OfferSpec:
    return OfferSpec(
        id=offer_id, title=f"Offer {offer_id}", actionUrl="app://x", category=category, business_value=business_value
    )


def _top_trait(offer: OfferSpec) -> str:
    preference = preference_for_offer(offer)
    return TRAIT_NAMES[int(np.argmax(preference.weights))]


@pytest.mark.parametrize(
    ("offer_id", "category", "trait"),
    [
        ("travel-insurance", "insurance", "travel"),
        ("fx-card", "credit", "travel"),
        ("overdraft-protection-transfer", "liquidity", "overdraft"),
        ("budgeting-course", "education", "overdraft"),
        ("savings-goal", "savings", "savings"),
        ("cashback-card-preapproved", "credit", "credit_appetite"),
        ("life-insurance-family", "insurance", "household"),
        ("fraud-alerts-setup", "service", "engagement"),
    ],
)
def test_preference_follows_keywords(offer_id: str, category: str, trait: str) -> None:
    assert _top_trait(_spec(offer_id, category)) == trait


def test_preference_savings_keyword_ignored_outside_savings() -> None:
    preference = preference_for_offer(_spec("liquidity-transfer-from-savings", "liquidity"))
    weights = dict(zip(TRAIT_NAMES, preference.weights))
    assert "savings" not in preference.keywords
    assert weights["overdraft"] > 1.0
    assert weights["savings"] < 0


def test_preference_unknown_offer_gets_category_default() -> None:
    preference = preference_for_offer(_spec("zz-perk", "liquidity"))
    assert preference.keywords == ()
    assert TRAIT_NAMES[int(np.argmax(preference.weights))] == "overdraft"


def test_preference_is_stable_and_normed() -> None:
    first = preference_for_offer(_spec("mystery-perk", "service"))
    second = preference_for_offer(_spec("mystery-perk", "service"))
    other = preference_for_offer(_spec("other-perk", "service"))
    assert np.array_equal(first.weights, second.weights)
    assert first.bias == second.bias
    assert not np.array_equal(first.weights, other.weights)
    assert np.linalg.norm(first.weights) == pytest.approx(PREFERENCE_NORM)


def test_position_factor_decreases() -> None:
    factors = [position_factor(position) for position in range(1, 9)]
    assert factors[: len(POSITION_FACTORS)] == list(POSITION_FACTORS)
    assert all(later < earlier for earlier, later in zip(factors, factors[1:]))


def test_position_factor_rejects_zero() -> None:
    with pytest.raises(InvalidInputError, match="position must be >= 1"):
        position_factor(0)


@pytest.fixture()
def model(catalog: OfferCatalog, reward_config: RewardConfig) -> ResponseModel:
    return ResponseModel(catalog, reward_config)


def test_outcome_probabilities_are_distributions(model: ResponseModel) -> None:
    rng = np.random.default_rng(0)
    n_offers = len(model.offer_ids)
    for _ in range(50):
        z = rng.normal(size=len(TRAIT_NAMES)) * 2
        recent = rng.integers(0, 6, n_offers).astype(float)
        owned = rng.random(n_offers) < 0.2
        probabilities = model.outcome_probabilities(z, int(rng.integers(1, 6)), recent, owned)
        assert probabilities.shape == (n_offers, len(OUTCOMES))
        assert (probabilities >= 0).all()
        np.testing.assert_allclose(probabilities.sum(axis=1), 1.0)


def test_outcome_position_fatigue_and_owning_lower_accepts(model: ResponseModel) -> None:
    z = np.zeros(len(TRAIT_NAMES))
    none = np.zeros(len(model.offer_ids))
    not_owned = np.zeros(len(model.offer_ids), dtype=bool)
    top = model.outcome_probabilities(z, 1, none, not_owned)[:, 0]
    third = model.outcome_probabilities(z, 3, none, not_owned)[:, 0]
    tired = model.outcome_probabilities(z, 1, none + 3, not_owned)[:, 0]
    owned = model.outcome_probabilities(z, 1, none, ~not_owned)[:, 0]
    assert (third < top).all()
    assert (tired < top).all()
    assert (owned < 0.1 * top).all()


def test_outcome_rejects_rise_for_poor_matches(model: ResponseModel) -> None:
    index = model.offer_index["overdraft-buffer"]
    overdraft = TRAIT_NAMES.index("overdraft")
    matched = np.zeros(len(TRAIT_NAMES))
    matched[overdraft] = 2.0
    none = np.zeros(len(model.offer_ids))
    owned = np.zeros(len(model.offer_ids), dtype=bool)
    good = model.outcome_probabilities(matched, 1, none, owned)[index]
    poor = model.outcome_probabilities(-matched, 1, none, owned)[index]
    assert good[OUTCOMES.index("accept")] > 5 * poor[OUTCOMES.index("accept")]
    assert poor[OUTCOMES.index("reject")] > 2 * good[OUTCOMES.index("reject")]


def test_outcome_rewards_follow_reward_config(model: ResponseModel, reward_config: RewardConfig) -> None:
    assert model.outcome_reward("cashback-card", "accept") == pytest.approx(3.0)
    assert model.outcome_reward("cashback-card", "click") == pytest.approx(0.3)
    assert model.outcome_reward("cashback-card", "reject") == pytest.approx(0.0)  # max(0, -0.05)
    assert model.outcome_reward("cashback-card", "nothing") == pytest.approx(0.0)
    summed = ResponseModel(
        model.catalog, reward_config.model_copy(update={"combine": "sum", "business_value_weighting": False})
    )
    assert summed.outcome_reward("cashback-card", "accept") == pytest.approx(1.1)
    assert summed.outcome_reward("cashback-card", "reject") == pytest.approx(-0.05)


def test_draw_outcome_uses_cumulative_order() -> None:
    probabilities = [0.1, 0.2, 0.3, 0.1, 0.3]
    assert draw_outcome(probabilities, 0.05) == "accept"
    assert draw_outcome(probabilities, 0.15) == "click"
    assert draw_outcome(probabilities, 0.5) == "reject"
    assert draw_outcome(probabilities, 0.65) == "dismiss"
    assert draw_outcome(probabilities, 0.99) == "nothing"
