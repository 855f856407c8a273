from __future__ import annotations

import pickle
from datetime import timedelta

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import envs
from engine.config.offers import OfferCatalog
from engine.config.rewards import RewardConfig
from engine.errors import InvalidInputError
from engine.features import FeatureEncoder, compute_features
from engine.profile import CustomerProfile
from envs.bank import SyntheticBank
from envs.journey import (
    HISTORY_FEATURE_NAMES,
    JOURNEY_ENV_ID,
    CustomerJourneyEnv,
    JourneyConfig,
    journey_context,
    offer_history_features,
)
from envs.response import OUTCOME_FEEDBACK

SMALL = {"horizon_days": 30, "population_size": 6, "warmup_days": 30}


def _env(catalog: OfferCatalog, reward_config: RewardConfig, **overrides: object) -> CustomerJourneyEnv:
    return CustomerJourneyEnv(JourneyConfig(**{**SMALL, **overrides}), catalog=catalog, reward_config=reward_config)


def _run(env: CustomerJourneyEnv, policy, seed: int) -> tuple[float, list[dict]]:
    observation, info = env.reset(seed=seed)
    total, infos = 0.0, [info]
    while True:
        observation, reward, terminated, truncated, info = env.step(policy(info))
        total += reward
        infos.append(info)
        if terminated or truncated:
            return total, infos


def test_journey_passes_gymnasium_checker(catalog, reward_config) -> None:
    check_env(_env(catalog, reward_config), skip_render_check=True)


def test_journey_is_registered() -> None:
    assert envs.JOURNEY_ENV_ID == JOURNEY_ENV_ID
    env = gymnasium.make(JOURNEY_ENV_ID, config=JourneyConfig(**SMALL))
    observation, _ = env.reset(seed=0)
    assert env.observation_space.contains(observation)
    assert env.action_space.n == len(env.unwrapped.offer_ids) + 1
    env.close()


def test_journey_spaces_and_bias_last(catalog, reward_config) -> None:
    env = _env(catalog, reward_config)
    observation, _ = env.reset(seed=1)
    assert env.observation_space.shape == (len(HISTORY_FEATURE_NAMES) + env.encoder.dim,)
    assert env.action_space.n == len(catalog.offers) + 1
    assert observation[-1] == 1.0
    assert env.no_offer_action == len(catalog.offers)


def test_journey_same_seed_same_episode(catalog, reward_config) -> None:
    first, second = _env(catalog, reward_config), _env(catalog, reward_config)
    policy = lambda info: info["day"] % 4  # noqa: E731
    total_a, infos_a = _run(first, policy, seed=3)
    total_b, infos_b = _run(second, policy, seed=3)
    assert total_a == total_b
    assert [info["outcome"] for info in infos_a[1:]] == [info["outcome"] for info in infos_b[1:]]


def test_journey_truncates_at_horizon(catalog, reward_config) -> None:
    env = _env(catalog, reward_config)
    _, infos = _run(env, lambda info: env.no_offer_action, seed=0)
    assert len(infos) == SMALL["horizon_days"] + 1
    assert infos[-1]["fatigue"] == 0.0
    assert all(info["offer_id"] is None for info in infos[1:])


def test_journey_fatigue_follows_recursion(catalog, reward_config) -> None:
    env = _env(catalog, reward_config, churn_rate=0.0)
    env.reset(seed=2)
    fatigue = 0.0
    for day in range(10):
        action = 0 if day % 2 == 0 else env.no_offer_action
        _, _, _, _, info = env.step(action)
        rejected = info["outcome"] in ("reject", "dismiss")
        fatigue = 0.7 * fatigue + (action == 0) * 1.0 + 0.5 * rejected
        assert info["fatigue"] == pytest.approx(fatigue)


def test_journey_daily_offers_cause_churn(catalog, reward_config) -> None:
    env = _env(catalog, reward_config, horizon_days=90)
    churned = 0
    for seed in range(10):
        _, infos = _run(env, lambda info: 1, seed=seed)
        churned += infos[-1]["outcome"] == "churn"
    assert churned >= 8


def test_journey_churn_ends_with_penalty(catalog, reward_config) -> None:
    env = _env(catalog, reward_config, churn_threshold=0.0, churn_rate=1.0, churn_penalty=7.5)
    env.reset(seed=0)
    env.step(0)
    _, reward, terminated, truncated, info = env.step(0)
    assert terminated and not truncated
    assert reward == -7.5
    assert info["outcome"] == "churn"
    assert info["churned"] is True


def test_journey_no_churn_below_threshold(catalog, reward_config) -> None:
    env = _env(catalog, reward_config, horizon_days=90, churn_threshold=50.0)
    for seed in range(3):
        _, infos = _run(env, lambda info: 2, seed=seed)
        assert infos[-1]["outcome"] != "churn"


def test_journey_fatigue_lowers_accepts(catalog, reward_config) -> None:
    env = _env(catalog, reward_config, churn_rate=0.0)
    env.reset(seed=4, options={"customer_index": 0})
    fresh = env.expected_offer_rewards()
    for _ in range(5):
        env.step(3)
    tired = env.expected_offer_rewards()
    untouched = [index for index in range(len(catalog.offers)) if index != 3]
    assert (tired[untouched] < fresh[untouched]).all()


def test_journey_observation_matches_live_profile(catalog, reward_config) -> None:
    """The cached observation equals features computed from one profile fed with events and feedback."""
    env = _env(catalog, reward_config, churn_rate=0.0)
    observation, info = env.reset(seed=5, options={"customer_index": 2})
    outcomes = []
    for day in range(12):
        observation, _, _, _, info = env.step(day % 3 if day % 2 == 0 else env.no_offer_action)
        outcomes.append((info["offer_id"], info["outcome"]))
    customer_id = info["customer_id"]
    now = env.config.start.replace(hour=12) + timedelta(days=info["day"])
    # Replay the customer's stream from a bank with the same seed, then the feedback the env drew.
    bank = SyntheticBank(catalog, reward_config, n_customers=6, seed=0, start=env.config.start, warmup_days=30)
    profile = CustomerProfile(customer_id)
    for event in bank.events_until(customer_id, now):
        profile.apply(event)
    day_stamp = env.config.start.replace(hour=12).timestamp()
    for step, outcome in enumerate(outcomes):
        if outcome[0] is None:
            continue
        for feedback in OUTCOME_FEEDBACK[outcome[1]]:
            profile.apply_feedback(outcome[0], feedback, day_stamp + step * 86400.0 + 60.0)
    expected = journey_context(profile, now, encoder=env.encoder, categories=env.categories)
    np.testing.assert_allclose(observation, expected.astype(np.float32), rtol=1e-6, atol=1e-6)


def test_history_features_count_by_category() -> None:
    day = 86400.0
    now = 100 * day
    offers = {
        "card": {"imp": [now - 1 * day, now - 10 * day, now - 40 * day], "rej": now - 2 * day, "acc": None, "dis": None},
        "fund": {"imp": [now - 5 * day], "rej": None, "acc": now - 5 * day, "dis": None},
    }
    values = dict(zip(HISTORY_FEATURE_NAMES, offer_history_features(offers, now, {"card": "credit", "fund": "investment"})))
    assert values["credit_impressions_30d"] == pytest.approx(np.log1p(2) / 3)
    assert values["credit_rejects_30d"] == pytest.approx(np.log1p(1) / 3)
    assert values["investment_accepts_90d"] == pytest.approx(np.log1p(1) / 3)
    assert values["impressions_3d"] == pytest.approx(np.log1p(1) / 3)
    assert values["impressions_14d"] == pytest.approx(np.log1p(3) / 3)
    assert values["days_since_offer"] == pytest.approx(1 / 90)
    assert values["savings_impressions_30d"] == 0.0


def test_history_features_without_offers() -> None:
    values = offer_history_features({}, 1e9, {})
    assert values[-1] == 1.0
    assert not values[:-1].any()


def test_journey_context_has_bias_last(catalog) -> None:
    profile = CustomerProfile("c1")
    from datetime import datetime, timezone

    encoder = FeatureEncoder.from_names("default")
    context = journey_context(profile, datetime(2025, 3, 1, tzinfo=timezone.utc), encoder=encoder, categories={})
    assert context.shape == (len(HISTORY_FEATURE_NAMES) + encoder.dim,)
    assert context[-1] == 1.0
    assert compute_features(profile, datetime(2025, 3, 1, tzinfo=timezone.utc))["impressions_7d"] == 0.0


@pytest.mark.parametrize(
    ("action", "message"),
    [(-1, r"action must be an int in \[0, 9\]"), (10, r"action must be an int in \[0, 9\]")],
)
def test_journey_rejects_invalid_action(catalog, reward_config, action, message) -> None:
    env = _env(catalog, reward_config)
    env.reset(seed=0)
    with pytest.raises(InvalidInputError, match=message):
        env.step(action)


def test_journey_step_before_reset(catalog, reward_config) -> None:
    with pytest.raises(InvalidInputError, match="before reset"):
        _env(catalog, reward_config).step(0)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"fatigue_decay": 1.5}, "fatigue_decay"),
        ({"horizon_days": 0}, "horizon_days"),
        ({"unknown": 1}, "unknown"),
    ],
)
def test_journey_rejects_invalid_config(config, message) -> None:
    with pytest.raises(InvalidInputError, match=message):
        CustomerJourneyEnv(config)


def test_journey_rejects_bad_customer_index(catalog, reward_config) -> None:
    env = _env(catalog, reward_config)
    with pytest.raises(InvalidInputError, match=r"customer_index'\] must be an int in \[0, 5\]"):
        env.reset(options={"customer_index": 6})


def test_journey_pickles(catalog, reward_config) -> None:
    env = _env(catalog, reward_config)
    env.reset(seed=0)
    clone = pickle.loads(pickle.dumps(env))
    assert np.array_equal(clone.step(1)[0], env.step(1)[0])
