from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import envs
from engine.config.offers import ContactPolicy, OfferCatalog, OfferSpec
from engine.config.rewards import RewardConfig
from engine.errors import InvalidInputError
from engine.features import DEFAULT_POLICY_FEATURES
from engine.profile import CustomerProfile
from envs.bandit_env import BankOffersEnv, catalog_eligibility


def _env(catalog: OfferCatalog, reward_config: RewardConfig, **kwargs: object) -> BankOffersEnv:
    options: dict[str, object] = {"n_customers": 40, "episode_length": 50}
    options.update(kwargs)
    return BankOffersEnv(catalog=catalog, reward_config=reward_config, **options)  # type: ignore[arg-type]


def test_env_passes_gymnasium_checker(catalog, reward_config) -> None:
    check_env(_env(catalog, reward_config), skip_render_check=True)


def test_env_is_registered(tmp_path, catalog, reward_config) -> None:
    catalog_path = tmp_path / "offers.yaml"
    catalog_path.write_text(
        "offers:\n"
        "  - {id: travel-insurance, title: Travel cover, actionUrl: 'app://t', category: insurance, business_value: 1.5}\n"
        "  - {id: savings-goal, title: Save more, actionUrl: 'app://s', category: savings, business_value: 1.0}\n"
    )
    reward_path = tmp_path / "rewards.yaml"
    reward_path.write_text(
        "weights: {impression: 0.0, click: 0.1, accept: 1.0, reject: 0.0, dismiss: 0.0}\n"
        "attribution_window: {impression: 1h, click: 1d, accept: 7d, reject: 1d, dismiss: 1d}\n"
    )
    assert envs.ENV_ID in gymnasium.registry
    env = gymnasium.make(envs.ENV_ID, catalog_path=catalog_path, reward_path=reward_path, n_customers=10)
    observation, _ = env.reset(seed=0)
    assert env.action_space.n == 2
    assert env.observation_space.contains(observation)
    env.close()


def test_env_spaces_match_features(catalog, reward_config) -> None:
    env = _env(catalog, reward_config)
    assert env.action_space.n == len(catalog.offers)
    assert env.observation_space.shape == (len(DEFAULT_POLICY_FEATURES) + 1,)
    assert env.observation_space.dtype == np.float32


def test_env_same_seed_same_episode(catalog, reward_config) -> None:
    first, second = _env(catalog, reward_config), _env(catalog, reward_config)
    obs_a, info_a = first.reset(seed=5)
    obs_b, info_b = second.reset(seed=5)
    assert np.array_equal(obs_a, obs_b)
    assert info_a["customer_id"] == info_b["customer_id"]
    for step in range(30):
        action = step % len(catalog.offers)
        result_a = first.step(action)
        result_b = second.step(action)
        assert np.array_equal(result_a[0], result_b[0])
        assert result_a[1:4] == result_b[1:4]
        assert result_a[4]["feedback"] == result_b[4]["feedback"]


def test_env_other_seed_differs(catalog, reward_config) -> None:
    first, second = _env(catalog, reward_config), _env(catalog, reward_config)
    first.reset(seed=1)
    second.reset(seed=2)
    customers_a = [first.step(0)[4]["customer_id"] for _ in range(10)]
    customers_b = [second.step(0)[4]["customer_id"] for _ in range(10)]
    assert customers_a != customers_b


def test_env_step_info_and_truncation(catalog, reward_config) -> None:
    env = _env(catalog, reward_config, episode_length=25)
    _, info = env.reset(seed=3)
    oracle = info["oracle_expected_reward"]
    for step in range(25):
        observation, reward, terminated, truncated, info = env.step(2)
        assert env.observation_space.contains(observation)
        assert info["offer_id"] == catalog.offers[2].id
        assert info["feedback"][0] == "impression"
        assert info["regret"] == pytest.approx(oracle - info["expected_reward"])
        assert info["regret"] >= -1e-12
        assert not terminated
        assert truncated == (step == 24)
        assert isinstance(info["ts"], datetime)
        oracle = info["oracle_expected_reward"]
        # cashback-card (value 3): nothing, reject or dismiss 0; click 0.3; accept 3.
        assert min(abs(reward - value) for value in (0.0, 0.3, 3.0)) < 1e-9


def test_env_eligibility_mask(catalog, reward_config) -> None:
    allowed = ("savings-goal", "card-alerts")

    def only_two(features: Mapping[str, float], profile: CustomerProfile, now: datetime) -> Collection[str]:
        assert "balance" in features
        return allowed

    env = _env(catalog, reward_config, eligibility=only_two)
    _, info = env.reset(seed=0)
    expected_mask = np.array([offer_id in allowed for offer_id in catalog.ids])
    assert np.array_equal(info["eligible_mask"], expected_mask)
    _, _, _, _, info = env.step(0)
    assert info["action_eligible"] is False
    assert np.array_equal(info["eligible_mask"], expected_mask)
    best = max(env.bank.expected_reward(info["customer_id"], offer_id, 1, info["ts"]) for offer_id in allowed)
    assert info["oracle_expected_reward"] == pytest.approx(best)


def test_env_profiles_see_feedback(catalog, reward_config) -> None:
    env = _env(catalog, reward_config)
    env.reset(seed=4)
    customer_id = env._arrival.customer_id
    env.step(1)
    assert env._profiles[customer_id].offers[catalog.offers[1].id]["imp"]


@pytest.mark.parametrize("action", [-1, 9, 100])
def test_env_rejects_invalid_action(catalog, reward_config, action: int) -> None:
    env = _env(catalog, reward_config)
    env.reset(seed=0)
    with pytest.raises(InvalidInputError, match=r"action must be an offer index in \[0, 8\]"):
        env.step(action)


def test_env_step_before_reset_fails(catalog, reward_config) -> None:
    with pytest.raises(InvalidInputError, match="before reset"):
        _env(catalog, reward_config).step(0)


@pytest.mark.parametrize("kwargs", [{"episode_length": 0}, {"n_customers": 0}])
def test_env_rejects_bad_settings(catalog, reward_config, kwargs: dict) -> None:
    with pytest.raises(InvalidInputError):
        _env(catalog, reward_config, **kwargs)


def test_env_catalog_eligibility_applies_rules_and_contact(reward_config) -> None:
    never = OfferSpec(
        id="never-shown", title="Never shown", actionUrl="app://n", category="service", business_value=1.0,
        eligibility="balance < -1000000000",
    )
    always = OfferSpec(
        id="savings-goal", title="Save more", actionUrl="app://s", category="savings", business_value=1.0,
        contact=ContactPolicy(max_impressions=1, window="30d"),
    )
    catalog = OfferCatalog(offers=(never, always))
    env = _env(catalog, reward_config, n_customers=1, eligibility=catalog_eligibility(catalog))
    _, info = env.reset(seed=0)
    assert info["eligible_mask"].tolist() == [False, True]
    _, _, _, _, info = env.step(1)
    assert info["action_eligible"] is True
    assert info["eligible_mask"].tolist() == [False, False]
    assert info["oracle_expected_reward"] == 0.0
