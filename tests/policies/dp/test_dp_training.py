"""DP-SGD training of the propensity model: budget, accounting, model card, data loaders."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from policies.dp_propensity import (
    BANK_MARKETING_ENV,
    PrivacyConfig,
    PropensityDataset,
    TrainedPropensityModel,
    evaluate_model,
    load_bank_marketing,
    load_privacy_config,
    train_dp_propensity,
)
from engine.errors import ConfigError, InvalidInputError


def test_shipped_privacy_config_loads() -> None:
    config = load_privacy_config()

    assert config.enabled
    assert config.target_epsilon == 3.0
    assert config.noise_multiplier is None
    assert config.delta == 1e-5
    assert config.accountant == "prv"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("target_epsilon: 3\nnoise_multiplier: 1.0\n", r"give exactly one of target_epsilon .*got target_epsilon=3.0 and noise_multiplier=1.0"),
        ("delta: 2\n", r"delta: Input should be less than 1 \(got 2\)"),
        ("accountant: moments\n", r"accountant: Input should be 'prv', 'rdp' or 'gdp' \(got 'moments'\)"),
        ("epsilon: 3\n", r"epsilon: unknown field; allowed fields here: .*target_epsilon"),
        ("hidden: [0]\n", r"hidden layer widths must be in \[1, 1024\]; got \[0\]"),
    ],
)
def test_privacy_config_errors_name_field_and_value(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "privacy.yaml"
    path.write_text(text)

    with pytest.raises(ConfigError, match=message):
        load_privacy_config(path)


def test_bank_marketing_loader_encodes_without_duration(bank_sample: PropensityDataset) -> None:
    assert len(bank_sample) == 1200
    assert bank_sample.customer.shape == (1200, 24)
    assert bank_sample.offer.shape == (1200, 23)
    assert "duration" not in bank_sample.customer_feature_names + bank_sample.offer_feature_names
    assert 0.05 < bank_sample.label.mean() < 0.25
    assert np.isfinite(bank_sample.inputs).all()
    assert set(bank_sample.groups.tolist()) == {"branch-0", "branch-1", "branch-2"}
    assert "CC BY 4.0" in bank_sample.source


def test_bank_marketing_path_comes_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(BANK_MARKETING_ENV, raising=False)
    with pytest.raises(ConfigError, match=f"set {BANK_MARKETING_ENV} to bank-full.csv"):
        load_bank_marketing()
    monkeypatch.setenv(BANK_MARKETING_ENV, str(tmp_path / "nope.csv"))
    with pytest.raises(ConfigError, match="nope.csv not found"):
        load_bank_marketing()


def test_bank_marketing_rejects_undocumented_values(tmp_path: Path) -> None:
    path = tmp_path / "bank.csv"
    header = '"age";"job";"marital";"education";"default";"balance";"housing";"loan";"contact";"day";"month";"duration";"campaign";"pdays";"previous";"poutcome";"y"'
    path.write_text(header + '\n30;"astronaut";"single";"primary";"no";10;"no";"no";"cellular";1;"may";5;1;-1;0;"unknown";"no"\n')

    with pytest.raises(InvalidInputError, match=r"column 'job' has values \['astronaut'\] outside the documented levels"):
        load_bank_marketing(path)


def test_split_is_stratified_and_disjoint(bank_sample: PropensityDataset) -> None:
    train, test = bank_sample.split(0.25, seed=3)

    assert len(train) + len(test) == len(bank_sample)
    assert abs(train.label.mean() - test.label.mean()) < 0.02
    assert len(test) == 300


def test_prv_accountant_reports_spent_budget(bank_sample: PropensityDataset) -> None:
    config = PrivacyConfig(target_epsilon=None, noise_multiplier=1.0, delta=1e-4, epochs=1, batch_size=128, hidden=(4,))

    card = train_dp_propensity(bank_sample, config).card

    assert card.private
    assert card.accountant == "prv"
    assert card.noise_multiplier == 1.0
    assert card.epsilon is not None
    assert 0.1 < card.epsilon < 10.0
    assert math.isclose(card.sample_rate, 128 / len(bank_sample))
    assert card.versions["opacus"].startswith("1.")


def test_model_card_records_budget_and_quality(bank_model: TrainedPropensityModel) -> None:
    card = bank_model.card

    assert card.epsilon is not None
    assert 2.5 < card.epsilon <= 3.0 + 1e-6
    assert card.noise_multiplier is not None
    assert card.noise_multiplier > 0.3
    assert (card.delta, card.max_grad_norm, card.accountant, card.target_epsilon) == (1e-4, 5.0, "rdp", 3.0)
    assert card.steps > 0
    assert card.epochs == 2
    assert card.n_train == 960
    assert 0.0 <= card.metrics["auc"] <= 1.0
    assert card.metrics["log_loss"] > 0.0


def test_more_noise_spends_less_budget(bank_sample: PropensityDataset) -> None:
    epsilons = []
    for sigma in (0.8, 2.0):
        config = PrivacyConfig(
            target_epsilon=None, noise_multiplier=sigma, delta=1e-4, epochs=1, batch_size=128, hidden=(4,), accountant="rdp"
        )
        card = train_dp_propensity(bank_sample, config).card
        assert card.noise_multiplier == sigma
        epsilons.append(card.epsilon)

    assert epsilons[0] > epsilons[1] > 0.0


def test_training_without_privacy_records_no_budget(bank_sample: PropensityDataset) -> None:
    config = PrivacyConfig(enabled=False, epochs=1, batch_size=128, hidden=(4,))

    card = train_dp_propensity(bank_sample, config).card

    assert card.private is False
    assert card.epsilon is None
    assert card.noise_multiplier is None


def test_training_is_reproducible(bank_sample: PropensityDataset) -> None:
    config = PrivacyConfig(target_epsilon=None, noise_multiplier=1.0, delta=1e-4, epochs=1, batch_size=128, hidden=(4,))

    first = train_dp_propensity(bank_sample, config).mlp
    second = train_dp_propensity(bank_sample, config).mlp

    assert all(np.array_equal(a, b) for a, b in zip(first.weights, second.weights))


def test_delta_must_be_below_one_over_n(bank_sample: PropensityDataset) -> None:
    config = PrivacyConfig(target_epsilon=3.0, delta=0.01, epochs=1)

    with pytest.raises(InvalidInputError, match=r"privacy delta must be below 1 / n = 0.000833 for 1200 training rows.*got delta=0.01"):
        train_dp_propensity(bank_sample, config)


def test_model_and_card_round_trip(tmp_path: Path, bank_sample: PropensityDataset, bank_model: TrainedPropensityModel) -> None:
    bank_model.save(tmp_path / "model")
    loaded = TrainedPropensityModel.load(tmp_path / "model")

    card = json.loads((tmp_path / "model" / "model_card.json").read_text())
    assert card["epsilon"] == bank_model.card.epsilon
    assert card["delta"] == 1e-4
    assert card["dataset"] == "uci-bank-marketing"
    assert card["n_train"] == 960
    assert np.allclose(loaded.mlp.predict_proba(bank_sample.inputs), bank_model.mlp.predict_proba(bank_sample.inputs))
    with pytest.raises(ConfigError, match="missing or unreadable"):
        TrainedPropensityModel.load(tmp_path / "elsewhere")


def test_simulator_logs_plug_into_the_bandit_context(sim_logs: PropensityDataset) -> None:
    assert sim_logs.customer.shape == (300, 21)
    assert sim_logs.offer.shape == (300, 9)
    assert np.all(sim_logs.customer[:, -1] == 1.0)
    assert set(sim_logs.groups.tolist()) <= {"central", "north", "south"}
    assert 0.0 < sim_logs.label.mean() < 1.0


def test_evaluate_needs_both_labels(bank_sample: PropensityDataset, bank_model: TrainedPropensityModel) -> None:
    negatives = bank_sample.take(np.flatnonzero(bank_sample.label == 0.0))

    with pytest.raises(InvalidInputError, match="needs both labels for AUC"):
        evaluate_model(bank_model.mlp, negatives)
