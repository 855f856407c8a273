"""Federated averaging across silos on Ray actors, with the combined privacy budget."""

from __future__ import annotations

import numpy as np
import pytest

from engine.errors import InvalidInputError
from engine.federated import average_updates, train_federated
from policies.dp_propensity import FederatedConfig, MLPWeights, PrivacyConfig, PropensityDataset


def test_average_updates_weighs_silos_equally() -> None:
    start = MLPWeights(weights=(np.zeros((1, 2)),), biases=(np.zeros(1),))
    silos = [
        MLPWeights(weights=(np.array([[2.0, 0.0]]),), biases=(np.array([1.0]),)),
        MLPWeights(weights=(np.array([[0.0, 4.0]]),), biases=(np.array([3.0]),)),
    ]

    averaged = average_updates(start, silos)

    assert np.allclose(averaged.weights[0], [[1.0, 2.0]])
    assert np.allclose(averaged.biases[0], [2.0])


def test_average_updates_clips_each_update() -> None:
    start = MLPWeights(weights=(np.zeros((1, 2)),), biases=(np.zeros(1),))
    big = MLPWeights(weights=(np.array([[3.0, 4.0]]),), biases=(np.array([0.0]),))

    averaged = average_updates(start, [big], update_max_norm=1.0)

    assert np.allclose(averaged.weights[0], [[0.6, 0.8]])


def test_average_updates_needs_a_silo() -> None:
    with pytest.raises(InvalidInputError, match="needs at least one silo's weights; got none"):
        average_updates(MLPWeights.initial(2, (), seed=0), [])


def test_federated_training_reports_combined_budget(dp_ray: None, bank_sample: PropensityDataset) -> None:
    train, test = bank_sample.split(0.2, seed=0)
    # Two silos keep the test to two actors on the two test CPUs.
    silos = {name: data for name, data in train.by_group().items() if name != "branch-2"}
    config = PrivacyConfig(
        target_epsilon=2.0, delta=1e-4, batch_size=64, hidden=(8,), accountant="rdp",
        federated=FederatedConfig(rounds=2, local_epochs=1, update_max_norm=5.0),
    )  # fmt: skip

    result = train_federated(silos, config, test=test)

    epsilons = [silo.epsilon for silo in result.silos]
    assert [silo.name for silo in result.silos] == ["branch-0", "branch-1"]
    assert sum(silo.n_train for silo in result.silos) == sum(len(data) for data in silos.values())
    assert all(eps is not None and 1.5 < eps <= 2.0 + 1e-6 for eps in epsilons)
    assert result.epsilon == max(epsilons)
    assert len(result.losses) == 2
    card = result.model.card
    assert card.epsilon == result.epsilon
    assert card.federated is not None
    assert card.federated["rounds"] == 2
    assert len(card.federated["silos"]) == 2
    assert "maximum over silos" in card.federated["composition"]
    assert 0.0 <= card.metrics["auc"] <= 1.0


def test_federated_training_needs_ray_and_silos(bank_sample: PropensityDataset) -> None:
    with pytest.raises(InvalidInputError, match="needs at least one silo; got none"):
        train_federated({}, PrivacyConfig())
