"""BankOffersEnv: a contextual-bandit Gymnasium view of :class:`envs.bank.SyntheticBank`.

Each step is one app open. The observation is the context a production policy receives
for that customer: the engine's encoded feature vector (:class:`engine.features.FeatureEncoder`,
by default :data:`engine.features.DEFAULT_POLICY_FEATURES` plus a trailing bias of 1).
The environment computes it from a :class:`engine.profile.CustomerProfile` that it keeps
up to date with the customer's simulated events and offer feedback. The action is the index
of one offer in catalog order, shown alone at position 1; the reward is the realised
reward of the customer's feedback under the reward config.

Episodes never terminate (a bandit has no terminal state); they are truncated after
``episode_length`` steps.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from engine.config.offers import OfferCatalog
from engine.config.rewards import RewardConfig
from engine.errors import InvalidInputError
from engine.features import FeatureEncoder, compute_features
from engine.profile import CustomerProfile
from envs import ENV_ID
from envs.bank import DEFAULT_START, Arrival, SyntheticBank

__all__ = ["ENV_ID", "OBSERVATION_BOUND", "EligibilityFn", "catalog_eligibility", "BankOffersEnv"]

# Every encoded feature lies in [-10, 10]: ratios and flags are clipped to [-2, 10],
# days to [0, 1], and log-scaled money and counts stay far inside for any real amount.
OBSERVATION_BOUND = 10.0

EligibilityFn = Callable[[Mapping[str, float], CustomerProfile, datetime], Collection[str]]
"""Returns the ids of the offers a customer may be shown, given features, profile and time."""


def catalog_eligibility(catalog: OfferCatalog) -> EligibilityFn:
    """Build an :data:`EligibilityFn` from the catalog's rules, validity dates and contact policies.

    Uses :class:`engine.eligibility.CompiledCatalog`, the same filter the decision engine
    applies.
    """
    from engine.eligibility import CompiledCatalog

    compiled = CompiledCatalog(catalog)

    def eligible(features: Mapping[str, float], profile: CustomerProfile, now: datetime) -> Collection[str]:
        result = compiled.filter(features, profile.offers, now)
        return [offer.id for offer in result.eligible]

    return eligible


class BankOffersEnv(gym.Env[np.ndarray, np.int64]):
    """One app open per step; pick one offer; get the customer's response as reward.

    Observation: ``Box(-10, 10, (len(feature_names) + 1,), float32)``, the encoded
    features of the arriving customer (see the module docstring). With the default
    feature set it has 21 entries: :data:`engine.features.DEFAULT_POLICY_FEATURES` in
    order, then the bias.

    Action: ``Discrete(n_offers)``, an index into the catalog's offers.

    ``info`` after reset and each step describes the arrival in the returned observation:
    ``customer_id``, ``ts`` (aware datetime), ``channel`` and ``oracle_expected_reward``.
    The oracle value is the best true expected reward among eligible offers, or among all
    offers without an eligibility function. With an eligibility function, ``info`` also
    has ``eligible_mask`` (bool array of shape (n_offers,)). After a step, it also
    describes the action just taken:
    ``offer_id``, ``feedback`` (tuple of feedback types), ``expected_reward`` (its true
    expected reward), ``regret`` (the previous arrival's oracle value minus
    ``expected_reward``) and ``action_eligible``.

    Args:
        catalog_path: offer catalog YAML, read with :func:`engine.config.load_catalog`
            (default ``configs/offers.yaml``); ignored when ``catalog`` is given.
        reward_path: reward config YAML (default ``configs/rewards.yaml``); ignored when
            ``reward_config`` is given.
        n_customers: population size of each episode's bank.
        catalog, reward_config: typed configs, used instead of the paths.
        episode_length: steps before ``truncated`` is True.
        warmup_days: days of event history before the first arrival.
        start: aware time of the first arrival window.
        eligibility: optional filter of offers per arrival; :func:`catalog_eligibility`
            applies the catalog's own rules.
        feature_names: feature set of the observation; "default" selects
            :data:`engine.features.DEFAULT_POLICY_FEATURES`.

    Raises:
        InvalidInputError: ``episode_length`` or ``n_customers`` is out of range.
        ConfigError: a config file is missing or invalid, or a feature name is unknown.
    """

    metadata = {"render_modes": []}

    def __init__(
        self,
        catalog_path: str | Path | None = None,
        reward_path: str | Path | None = None,
        n_customers: int = 2000,
        *,
        catalog: OfferCatalog | None = None,
        reward_config: RewardConfig | None = None,
        episode_length: int = 1000,
        warmup_days: int = 60,
        start: datetime = DEFAULT_START,
        eligibility: EligibilityFn | None = None,
        feature_names: Sequence[str] | str = "default",
    ) -> None:
        from engine.config.loader import load_catalog, load_reward_config

        if not isinstance(episode_length, int) or episode_length < 1:
            raise InvalidInputError(f"episode_length must be an int >= 1; got {episode_length!r}")
        if not isinstance(n_customers, int) or n_customers < 1:
            raise InvalidInputError(f"n_customers must be an int >= 1; got {n_customers!r}")
        self.catalog = catalog if catalog is not None else load_catalog(catalog_path)
        self.reward_config = reward_config if reward_config is not None else load_reward_config(reward_path)
        self.n_customers = n_customers
        self.episode_length = episode_length
        self.warmup_days = warmup_days
        self.start = start
        self.eligibility = eligibility
        self.encoder = FeatureEncoder.from_names(feature_names)
        self.offer_ids: tuple[str, ...] = self.catalog.ids

        self.observation_space = spaces.Box(
            low=-OBSERVATION_BOUND, high=OBSERVATION_BOUND, shape=(self.encoder.dim,), dtype=np.float32
        )
        self.action_space = spaces.Discrete(len(self.offer_ids))

        self.bank: SyntheticBank | None = None
        self._profiles: dict[str, CustomerProfile] = {}
        self._arrival: Arrival | None = None
        self._mask: np.ndarray | None = None
        self._oracle_value = 0.0
        self._steps = 0

    def __repr__(self) -> str:
        return (
            f"BankOffersEnv(n_offers={len(self.offer_ids)}, n_customers={self.n_customers}, "
            f"episode_length={self.episode_length}, obs_dim={self.encoder.dim})"
        )

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        """Start an episode with a fresh bank seeded from the environment's generator."""
        super().reset(seed=seed)
        bank_seed = int(self.np_random.integers(0, 2**31 - 1))
        self.bank = SyntheticBank(
            self.catalog,
            self.reward_config,
            n_customers=self.n_customers,
            seed=bank_seed,
            start=self.start,
            warmup_days=self.warmup_days,
        )
        self._profiles = {}
        self._steps = 0
        observation, info = self._observe_next_arrival()
        return observation, info

    def step(self, action: int | np.integer) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Show offer ``action`` to the current arrival and move on to the next one."""
        if self.bank is None or self._arrival is None:
            raise InvalidInputError("step() called before reset(); call reset() to start an episode")
        if not self.action_space.contains(action):
            raise InvalidInputError(
                f"action must be an offer index in [0, {len(self.offer_ids) - 1}]; got {action!r}"
            )
        arrival = self._arrival
        offer_id = self.offer_ids[int(action)]
        expected = self.bank.expected_reward(arrival.customer_id, offer_id, 1, arrival.ts)
        eligible = bool(self._mask[int(action)]) if self._mask is not None else True
        oracle_value = self._oracle_value
        decision_id = f"env-{self.bank.seed}-{self._steps}"
        feedback = self.bank.respond(arrival.customer_id, decision_id, [offer_id], arrival.ts)
        profile = self._profiles[arrival.customer_id]
        for event in feedback:
            profile.apply(event)
        reward = float(self.bank.feedback_reward(feedback).get(offer_id, 0.0))
        self._steps += 1

        observation, info = self._observe_next_arrival()
        info.update(
            offer_id=offer_id,
            feedback=tuple(event.feedback for event in feedback),
            expected_reward=expected,
            regret=oracle_value - expected,
            action_eligible=eligible,
        )
        truncated = self._steps >= self.episode_length
        return observation, reward, False, truncated, info

    def _observe_next_arrival(self) -> tuple[np.ndarray, dict[str, Any]]:
        assert self.bank is not None
        arrival = self.bank.next_arrival()
        self._arrival = arrival
        profile = self._profiles.get(arrival.customer_id)
        if profile is None:
            profile = CustomerProfile(arrival.customer_id)
            self._profiles[arrival.customer_id] = profile
        for event in self.bank.events_until(arrival.customer_id, arrival.ts):
            profile.apply(event)
        features = compute_features(profile, arrival.ts)
        observation = np.clip(self.encoder.encode(features), -OBSERVATION_BOUND, OBSERVATION_BOUND).astype(np.float32)

        info: dict[str, Any] = {"customer_id": arrival.customer_id, "ts": arrival.ts, "channel": arrival.channel}
        candidates: list[str] = list(self.offer_ids)
        if self.eligibility is not None:
            allowed = set(self.eligibility(features, profile, arrival.ts))
            self._mask = np.array([offer_id in allowed for offer_id in self.offer_ids])
            candidates = [offer_id for offer_id in self.offer_ids if offer_id in allowed]
            info["eligible_mask"] = self._mask.copy()
        else:
            self._mask = None
        if candidates:
            best = self.bank.oracle_slate(arrival.customer_id, candidates, 1, arrival.ts)[0]
            self._oracle_value = self.bank.expected_reward(arrival.customer_id, best, 1, arrival.ts)
        else:
            self._oracle_value = 0.0
        info["oracle_expected_reward"] = self._oracle_value
        return observation, info
