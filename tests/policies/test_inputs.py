"""Invalid inputs to choose_slate and update_one raise InvalidInputError naming the value."""

from __future__ import annotations

import numpy as np
import pytest

from engine.config.offers import OfferSpec
from engine.errors import InvalidInputError
from policies import default_offer_feature_vector, offer_feature_vector, offer_features_of
from policies.offer_features import OFFER_FEATURE_NAMES
from policy_cases import DIM, OFFER_IDS, POLICY_CASES, PolicyCase, random_context, trained_learner

CONTEXT = random_context(np.random.default_rng(0))
ONES = np.ones(len(OFFER_IDS))

CHOOSE_ERRORS = [
    ({"context": np.ones(DIM + 1)}, r"context must be a vector of shape \(5,\) for this policy; got shape \(6,\)"),
    ({"context": np.array([0.1, np.nan, 0.0, 0.0, 1.0])}, r"context must contain only finite numbers; got NaN or infinity at index 1"),
    ({"context": np.array([1e200, 0.0, 0.0, np.inf, 1.0])}, r"got NaN or infinity at index 3"),
    ({"offer_ids": ()}, r"offer_ids must name at least one candidate; got an empty sequence"),
    ({"offer_ids": ("a1", "b2", "a1")}, r"offer_ids must be distinct; got 'a1' more than once"),
    ({"k": 0}, r"k \(slate size\) must be an integer of at least 1; got 0"),
    ({"k": 2.0}, r"k \(slate size\) must be an integer of at least 1; got 2.0"),
    ({"multipliers": np.ones(3)}, r"multipliers must have shape \(5,\), one per offer id; got shape \(3,\)"),
    ({"multipliers": np.array([1.0, -0.5, 1.0, 1.0, 1.0])}, r"multipliers must be finite and non-negative; got \[1.0, -0.5"),
    ({"multipliers": np.array([1.0, np.nan, 1.0, 1.0, 1.0])}, r"multipliers must be finite and non-negative; got \[1.0, nan"),
    ({"multipliers": np.array([1.0, np.inf, 1.0, 1.0, 1.0])}, r"multipliers must be finite and non-negative; got \[1.0, inf"),
]


@pytest.mark.parametrize("case", POLICY_CASES, ids=lambda case: case.case_id)
@pytest.mark.parametrize(("override", "message"), CHOOSE_ERRORS, ids=[f"choose-{i}" for i in range(len(CHOOSE_ERRORS))])
def test_choose_slate_rejects(case: PolicyCase, override: dict, message: str) -> None:
    snapshot = trained_learner(case, rounds=5).snapshot()
    arguments = {"context": CONTEXT, "offer_ids": OFFER_IDS, "multipliers": ONES, "k": 2, **override}
    offer_ids = arguments["offer_ids"]
    if "multipliers" not in override and len(offer_ids) != len(OFFER_IDS):
        arguments["multipliers"] = np.ones(len(offer_ids))
    with pytest.raises(InvalidInputError, match=message):
        snapshot.choose_slate(rng=np.random.default_rng(0), **arguments)


UPDATE_ERRORS = [
    ({"offer_id": ""}, r"offer_id must be a non-empty string; got ''"),
    ({"offer_id": 7}, r"offer_id must be a non-empty string; got 7"),
    ({"context": np.ones((1, DIM))}, r"context must be a vector of shape \(5,\) for this policy; got shape \(1, 5\)"),
    ({"reward": float("nan")}, r"reward must be a finite number; got nan"),
    ({"reward": "high"}, r"reward must be a finite number; got 'high'"),
]


@pytest.mark.parametrize("case", POLICY_CASES, ids=lambda case: case.case_id)
@pytest.mark.parametrize(("override", "message"), UPDATE_ERRORS, ids=[f"update-{i}" for i in range(len(UPDATE_ERRORS))])
def test_update_one_rejects(case: PolicyCase, override: dict, message: str) -> None:
    learner = trained_learner(case, rounds=5)
    arguments = {"offer_id": OFFER_IDS[0], "context": CONTEXT, "reward": 1.0, **override}
    with pytest.raises(InvalidInputError, match=message):
        learner.update_one(**arguments)
    assert learner.n_updates == 5


@pytest.mark.parametrize("case", POLICY_CASES, ids=lambda case: case.case_id)
def test_update_many_rejects_mismatched_batch(case: PolicyCase) -> None:
    learner = trained_learner(case, rounds=5)
    message = r"a batch of 2 offer ids needs contexts of shape \(2, 5\) and rewards of shape \(2,\); got \(3, 5\) and \(2,\)"
    with pytest.raises(InvalidInputError, match=message):
        learner.update_many(["a1", "b2"], np.ones((3, DIM)), np.ones(2))
    assert learner.n_updates == 5


def test_offer_feature_vector_layout() -> None:
    offer = OfferSpec(id="gold-card", title="Gold card", actionUrl="app://cards/gold", category="savings", business_value=9.0)
    vector = offer_feature_vector(offer)
    assert len(OFFER_FEATURE_NAMES) == vector.shape[0] == 9
    assert vector[OFFER_FEATURE_NAMES.index("category_savings")] == 1.0
    assert vector[: len(OFFER_FEATURE_NAMES) - 2].sum() == 1.0
    assert vector[-2] == pytest.approx(np.log(10.0))
    assert vector[-1] == 1.0
    np.testing.assert_array_equal(default_offer_feature_vector(), np.eye(9)[-1])
    assert list(offer_features_of([offer])) == ["gold-card"]
