"""CustomerJourneyEnv: one customer's relationship with the bank, one decision a day.

A bandit optimises the next response. This environment scores the whole relationship:
every day the policy may send one offer (by push message, so that it reaches the
customer) or nothing, and offers sent too often wear the customer out.

Dynamics of one episode (one customer, ``horizon_days`` steps):

* The customer is drawn from a seeded :class:`~envs.bank.SyntheticBank` population. Their
  transaction, login and balance events come from the bank's event stream. The stream
  is read once per customer and cached, so a step only encodes features.
* Fatigue ``F`` starts at 0. After day ``t``::

      F_{t+1} = fatigue_decay * F_t + fatigue_per_offer * shown_t + fatigue_per_reject * rejected_t

  where ``rejected_t`` is 1 for a reject or dismiss.
* The response to offer ``o`` follows :class:`envs.response.ResponseModel` (match, per
  offer 7-day fatigue, owned offers), with the accept probability multiplied by
  ``exp(-fatigue_accept_sensitivity * F_t)``. The mass taken from accepts becomes "no
  response". The offer's reward is :func:`engine.rewards.combine_feedback` of the
  outcome's feedback, times business value when the reward config weights by it.
* Churn: at the start of day ``t`` the customer leaves with probability
  ``min(1, churn_rate * max(0, F_t - churn_threshold))``. The step then ends the episode
  (``terminated``) with reward ``-churn_penalty``, the customer's lost future value, and
  no offer is sent. Churn depends on fatigue from earlier days only, so its cost comes
  later than the offers that caused it: this is what a myopic bandit cannot see.
* Every day also costs ``fatigue_cost * F_{t+1}``.

Observation (``Box(-10, 10, (n_history + d,), float32)``): first the offer history from
:func:`offer_history_features`. It has, per offer category, impressions in 30 days,
accepts in 90 days and rejects in 30 days, then impressions in 3 and 14 days and days
since the last offer. Then come the encoded profile features of
:class:`engine.features.FeatureEncoder`, ending with the bias 1. The last entry is therefore the bias, as the linear policies
expect. :func:`journey_context` builds the same vector from a live profile, so a policy
trained here can decide in the service.

Action: ``Discrete(n_offers + 1)``; ``a < n_offers`` sends catalog offer ``a``, and
``a == n_offers`` (:attr:`CustomerJourneyEnv.no_offer_action`) sends nothing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from pydantic import BaseModel, ConfigDict, Field

from engine.config.offers import OFFER_CATEGORIES, OfferCatalog
from engine.config.rewards import RewardConfig
from engine.errors import InvalidInputError
from engine.features import FeatureEncoder, compute_features
from engine.profile import CustomerProfile
from envs.bank import DEFAULT_START, SyntheticBank
from envs.response import FATIGUE_WINDOW_DAYS, OUTCOME_FEEDBACK, OUTCOMES, ResponseModel, draw_outcome

__all__ = [
    "JOURNEY_ENV_ID",
    "HISTORY_FEATURE_NAMES",
    "JourneyConfig",
    "CustomerJourneyEnv",
    "offer_history_features",
    "journey_context",
]

JOURNEY_ENV_ID = "offerloop/CustomerJourney-v0"
OBSERVATION_BOUND = 10.0
DAY_SECONDS = 86400.0
# The daily decision is taken at noon UTC; feedback lands a minute later.
DECISION_HOUR = 12
FEEDBACK_DELAY_SECONDS = 60.0

HISTORY_FEATURE_NAMES: tuple[str, ...] = (
    *(
        f"{category}_{name}"
        for category in OFFER_CATEGORIES
        for name in ("impressions_30d", "accepts_90d", "rejects_30d")
    ),
    "impressions_3d",
    "impressions_14d",
    "days_since_offer",
)
_ACCEPT, _NOTHING = OUTCOMES.index("accept"), OUTCOMES.index("nothing")


class JourneyConfig(BaseModel):
    """Settings of :class:`CustomerJourneyEnv`: horizon, population, fatigue and churn.

    Rewards are in the reward config's units (an accept of an offer with business value
    1 is worth 1 with the shipped ``configs/rewards.yaml``).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    horizon_days: int = Field(default=90, ge=1, le=3650, description="Days (steps) per episode.")
    warmup_days: int = Field(default=60, ge=0, le=365, description="Days of event history before day 0.")
    population_size: int = Field(default=200, ge=2, le=100_000, description="Customers that episodes draw from.")
    population_seed: int = Field(default=0, ge=0, description="Seed of the bank's population and event streams.")
    start: datetime = Field(default=DEFAULT_START, description="Aware date of day 0.")
    catalog_path: str | None = Field(default=None, description="Offer catalog YAML; None is configs/offers.yaml.")
    reward_path: str | None = Field(default=None, description="Reward config YAML; None is configs/rewards.yaml.")
    features: tuple[str, ...] | Literal["default"] = "default"
    fatigue_decay: float = Field(default=0.7, ge=0.0, lt=1.0, description="Share of fatigue left after a day.")
    fatigue_per_offer: float = Field(default=1.0, ge=0.0, le=100.0, description="Fatigue added by one offer.")
    fatigue_per_reject: float = Field(default=0.5, ge=0.0, le=100.0, description="Extra fatigue of a reject or dismiss.")
    fatigue_accept_sensitivity: float = Field(
        default=0.3, ge=0.0, le=10.0, description="Accept probability is multiplied by exp(-this * fatigue)."
    )
    churn_threshold: float = Field(default=2.5, ge=0.0, le=1000.0, description="Fatigue above which churn starts.")
    churn_rate: float = Field(default=0.05, ge=0.0, le=1.0, description="Daily churn probability per unit above the threshold.")
    churn_penalty: float = Field(default=10.0, ge=0.0, le=1e6, description="Lost future value when the customer leaves.")
    fatigue_cost: float = Field(default=0.0, ge=0.0, le=100.0, description="Cost per day per unit of fatigue.")

    def load_configs(self) -> tuple[OfferCatalog, RewardConfig]:
        """Load the catalog and reward config that this config names."""
        from engine.config.loader import load_catalog, load_reward_config

        return load_catalog(self.catalog_path), load_reward_config(self.reward_path)


def _count_code(value: float) -> float:
    # Same scale as FeatureEncoder's counts, so history and profile features are alike.
    return math.log1p(max(value, 0.0)) / 3.0


def offer_history_features(
    offers: Mapping[str, Mapping[str, Any]], now: float, categories: Mapping[str, str]
) -> np.ndarray:
    """Encode a customer's offer history as the first part of the journey observation.

    Args:
        offers: ``CustomerProfile.offers``: offer id to ``{"imp": [times], "rej": time or
            None, "acc": time or None, "dis": time or None}`` (POSIX seconds).
        now: POSIX seconds of the decision.
        categories: offer id to category; offers missing here are ignored.

    Returns:
        Shape ``(len(HISTORY_FEATURE_NAMES),)``, float64: counts as ``log1p(n) / 3`` and
        days since the last offer divided by 90, capped at 1 (1 when there was none).
    """
    per_category = {category: [0, 0, 0] for category in OFFER_CATEGORIES}
    recent_3d = recent_14d = 0
    last_offer: float | None = None
    for offer_id, entry in offers.items():
        category = categories.get(offer_id)
        if category is None:
            continue
        counts = per_category[category]
        for seen_at in entry["imp"]:
            age = now - seen_at
            if age < 0:
                continue
            last_offer = seen_at if last_offer is None else max(last_offer, seen_at)
            counts[0] += age <= 30 * DAY_SECONDS
            recent_3d += age <= 3 * DAY_SECONDS
            recent_14d += age <= 14 * DAY_SECONDS
        accepted, rejected = entry.get("acc"), entry.get("rej")
        if accepted is not None and 0 <= now - accepted <= 90 * DAY_SECONDS:
            counts[1] += 1
        if rejected is not None and 0 <= now - rejected <= 30 * DAY_SECONDS:
            counts[2] += 1
    values = [_count_code(count) for category in OFFER_CATEGORIES for count in per_category[category]]
    values.append(_count_code(recent_3d))
    values.append(_count_code(recent_14d))
    values.append(1.0 if last_offer is None else min((now - last_offer) / DAY_SECONDS, 90.0) / 90.0)
    return np.asarray(values)


def journey_context(
    profile: CustomerProfile, now: datetime, *, encoder: FeatureEncoder, categories: Mapping[str, str]
) -> np.ndarray:
    """Build the journey observation of a live profile, for serving a policy trained on this env.

    Computes the profile features as of ``now``, which advances the profile's clock, so
    pass a copy that may be mutated. Returns the layout of :class:`CustomerJourneyEnv`
    observations (history, then encoded features ending with the bias), as float64.
    """
    features = compute_features(profile, now)
    history = offer_history_features(profile.offers, now.timestamp(), categories)
    encoded = np.clip(encoder.encode(features), -OBSERVATION_BOUND, OBSERVATION_BOUND)
    return np.concatenate([np.clip(history, -OBSERVATION_BOUND, OBSERVATION_BOUND), encoded])


@dataclass(frozen=True)
class _CustomerDays:
    """Cached part of one customer's journey: the stream-only features of every day."""

    customer_id: str
    segment: str
    latent: np.ndarray
    features: tuple[dict[str, float], ...]


class CustomerJourneyEnv(gym.Env[np.ndarray, np.int64]):
    """Send one offer or nothing each day to one customer; fatigue lowers accepts and causes churn.

    See the module docstring for the dynamics. ``info`` after reset and each step has
    ``customer_id``, ``segment``, ``day`` and ``fatigue`` (the fatigue the next decision
    faces). After a step it also has ``offer_id`` (None for no offer), ``outcome`` (one
    of :data:`envs.response.OUTCOMES`, ``"none"`` without offer, ``"churn"``),
    ``offer_reward`` (the offer's reward alone), ``expected_offer_reward`` (its true
    expectation) and ``churned``.

    ``reset(options={"customer_index": i})`` picks customer ``i`` of the population;
    otherwise the customer is drawn from the environment's generator.

    Args:
        config: a :class:`JourneyConfig` or a mapping of its fields (RLlib passes a dict).
        catalog, reward_config: typed configs used instead of the config's paths.

    Raises:
        InvalidInputError: ``config`` is neither a JourneyConfig nor a valid mapping.
    """

    metadata = {"render_modes": []}

    def __init__(
        self,
        config: JourneyConfig | Mapping[str, Any] | None = None,
        *,
        catalog: OfferCatalog | None = None,
        reward_config: RewardConfig | None = None,
    ) -> None:
        self.config = _as_config(config)
        if catalog is None or reward_config is None:
            loaded_catalog, loaded_rewards = self.config.load_configs()
            catalog = catalog if catalog is not None else loaded_catalog
            reward_config = reward_config if reward_config is not None else loaded_rewards
        self.catalog = catalog
        self.reward_config = reward_config
        self.encoder = FeatureEncoder.from_names(self.config.features)
        self.offer_ids: tuple[str, ...] = catalog.ids
        self.categories = {offer.id: offer.category for offer in catalog.offers}
        self.no_offer_action = len(self.offer_ids)
        self.response_model = ResponseModel(catalog, reward_config)
        n_observation = len(HISTORY_FEATURE_NAMES) + self.encoder.dim
        self.observation_space = spaces.Box(
            low=-OBSERVATION_BOUND, high=OBSERVATION_BOUND, shape=(n_observation,), dtype=np.float32
        )
        self.action_space = spaces.Discrete(len(self.offer_ids) + 1)

        self._population: _Population | None = None
        self._days: _CustomerDays | None = None
        self._history = CustomerProfile("journey")
        self._day = 0
        self._fatigue = 0.0

    def __repr__(self) -> str:
        return (
            f"CustomerJourneyEnv(n_offers={len(self.offer_ids)}, horizon_days={self.config.horizon_days}, "
            f"population_size={self.config.population_size}, obs_dim={self.observation_space.shape[0]})"
        )

    # ------------------------------------------------------------------ episode
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        """Start a journey with a customer drawn from the population (or ``options["customer_index"]``)."""
        super().reset(seed=seed)
        size = self.config.population_size
        index = (options or {}).get("customer_index")
        if index is None:
            index = int(self.np_random.integers(size))
        elif not isinstance(index, (int, np.integer)) or not 0 <= index < size:
            raise InvalidInputError(
                f"options['customer_index'] must be an int in [0, {size - 1}] (population_size); got {index!r}"
            )
        self._days = self._customer_days(int(index))
        self._history = CustomerProfile(self._days.customer_id)
        self._day = 0
        self._fatigue = 0.0
        return self._observe(), self._info()

    def step(self, action: int | np.integer) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Send offer ``action`` (or nothing for the last action) today and move to tomorrow."""
        if self._days is None:
            raise InvalidInputError("step() called before reset(); call reset() to start an episode")
        if not self.action_space.contains(action):
            raise InvalidInputError(
                f"action must be an int in [0, {self.no_offer_action}] ({self.no_offer_action} = no offer); got {action!r}"
            )
        config = self.config
        fatigue = self._fatigue
        churn_probability = min(1.0, config.churn_rate * max(0.0, fatigue - config.churn_threshold))
        if churn_probability > 0.0 and self.np_random.random() < churn_probability:
            info = self._info()
            info.update(offer_id=None, outcome="churn", offer_reward=0.0, expected_offer_reward=0.0, churned=True)
            return self._observe(), -config.churn_penalty, True, False, info

        offer_reward = expected = 0.0
        offer_id: str | None = None
        outcome = "none"
        rejected = False
        if int(action) != self.no_offer_action:
            offer_index = int(action)
            offer_id = self.offer_ids[offer_index]
            probabilities = self._outcome_probabilities(offer_index, fatigue)
            outcome = draw_outcome(probabilities, float(self.np_random.random()))
            rewards = self.response_model.outcome_rewards[offer_index]
            offer_reward = float(rewards[OUTCOMES.index(outcome)])
            expected = float(probabilities @ rewards)
            rejected = outcome in ("reject", "dismiss")
            stamp = self._now() + FEEDBACK_DELAY_SECONDS
            for feedback in OUTCOME_FEEDBACK[outcome]:
                self._history.apply_feedback(offer_id, feedback, stamp)

        self._fatigue = (
            config.fatigue_decay * fatigue
            + config.fatigue_per_offer * (offer_id is not None)
            + config.fatigue_per_reject * rejected
        )
        self._day += 1
        reward = offer_reward - config.fatigue_cost * self._fatigue
        truncated = self._day >= config.horizon_days
        info = self._info()
        info.update(
            offer_id=offer_id, outcome=outcome, offer_reward=offer_reward, expected_offer_reward=expected, churned=False
        )
        return self._observe(), reward, False, truncated, info

    # ----------------------------------------------------------------- helpers
    def expected_offer_rewards(self) -> np.ndarray:
        """Return today's true expected offer reward of every offer, shape (n_offers,), given fatigue.

        Excludes fatigue and churn costs; for oracles and analysis, not for policies.
        """
        if self._days is None:
            raise InvalidInputError("expected_offer_rewards() called before reset(); call reset() first")
        return np.array([
            self._outcome_probabilities(index, self._fatigue) @ self.response_model.outcome_rewards[index]
            for index in range(len(self.offer_ids))
        ])

    def _outcome_probabilities(self, offer_index: int, fatigue: float) -> np.ndarray:
        assert self._days is not None
        now = self._now()
        recent = np.zeros(len(self.offer_ids))
        owned = np.zeros(len(self.offer_ids), dtype=bool)
        entry = self._history.offers.get(self.offer_ids[offer_index])
        if entry is not None:
            window_start = now - FATIGUE_WINDOW_DAYS * DAY_SECONDS
            recent[offer_index] = sum(1 for seen_at in entry["imp"] if window_start <= seen_at < now)
            owned[offer_index] = entry["acc"] is not None
        probabilities = self.response_model.outcome_probabilities(self._days.latent, 1, recent, owned)[offer_index]
        damped = probabilities.copy()
        damped[_ACCEPT] *= math.exp(-self.config.fatigue_accept_sensitivity * fatigue)
        damped[_NOTHING] += probabilities[_ACCEPT] - damped[_ACCEPT]
        return damped

    def _now(self) -> float:
        start = self.config.start.replace(hour=DECISION_HOUR, minute=0, second=0, microsecond=0)
        return (start + timedelta(days=self._day)).timestamp()

    def _observe(self) -> np.ndarray:
        assert self._days is not None
        day = min(self._day, self.config.horizon_days - 1)
        now = self._now()
        features = dict(self._days.features[day])
        features.update(_feedback_features(self._history.offers, now))
        history = offer_history_features(self._history.offers, now, self.categories)
        observation = np.concatenate([history, self.encoder.encode(features)])
        return np.clip(observation, -OBSERVATION_BOUND, OBSERVATION_BOUND).astype(np.float32)

    def _info(self) -> dict[str, Any]:
        assert self._days is not None
        return {
            "customer_id": self._days.customer_id,
            "segment": self._days.segment,
            "day": self._day,
            "fatigue": self._fatigue,
        }

    def _customer_days(self, index: int) -> _CustomerDays:
        if self._population is None:
            self._population = _population_for(self.catalog, self.reward_config, self.config)
        return self._population.customer_days(index)


class _Population:
    """A seeded bank and the cached daily features of the customers read so far.

    The bank's stream of a customer can be read once, so its features are kept for
    every later episode of that customer.
    """

    def __init__(self, catalog: OfferCatalog, reward_config: RewardConfig, config: JourneyConfig) -> None:
        self.config = config
        self.bank = SyntheticBank(
            catalog,
            reward_config,
            n_customers=config.population_size,
            seed=config.population_seed,
            start=config.start,
            warmup_days=config.warmup_days,
        )
        self.days: dict[int, _CustomerDays] = {}

    def customer_days(self, index: int) -> _CustomerDays:
        cached = self.days.get(index)
        if cached is not None:
            return cached
        customer_id = self.bank.customer_ids[index]
        profile = CustomerProfile(customer_id)
        start = self.config.start.replace(hour=DECISION_HOUR, minute=0, second=0, microsecond=0)
        features = []
        for day in range(self.config.horizon_days):
            now = start + timedelta(days=day)
            for event in self.bank.events_until(customer_id, now):
                profile.apply(event)
            features.append(compute_features(profile, now))
        days = _CustomerDays(
            customer_id=customer_id,
            segment=self.bank.customer(customer_id).segment,
            latent=self.bank.latent(customer_id),
            features=tuple(features),
        )
        self.days[index] = days
        return days


# Envs of one process with the same population share its cached streams: a vectorised
# env of 8 copies would otherwise generate every customer's events 8 times. The cache is
# keyed by everything the streams depend on and contains at most _MAX_POPULATIONS entries.
_MAX_POPULATIONS = 4
_POPULATIONS: dict[tuple[str, ...], _Population] = {}


def _population_for(catalog: OfferCatalog, reward_config: RewardConfig, config: JourneyConfig) -> _Population:
    key = (
        catalog.model_dump_json(),
        reward_config.model_dump_json(),
        str(config.population_size),
        str(config.population_seed),
        config.start.isoformat(),
        str(config.warmup_days),
        str(config.horizon_days),
    )
    population = _POPULATIONS.get(key)
    if population is None:
        if len(_POPULATIONS) >= _MAX_POPULATIONS:
            _POPULATIONS.pop(next(iter(_POPULATIONS)))
        population = _POPULATIONS[key] = _Population(catalog, reward_config, config)
    return population


def _feedback_features(offers: Mapping[str, Mapping[str, Any]], now: float) -> dict[str, float]:
    """Return the profile features that offer feedback changes, defined as in compute_features."""
    week_ago = now - 7 * DAY_SECONDS
    month_ago = now - 30 * DAY_SECONDS
    impressions = sum(1 for entry in offers.values() for seen_at in entry["imp"] if seen_at >= week_ago)
    rejects = sum(1 for entry in offers.values() if entry["rej"] is not None and entry["rej"] >= month_ago)
    return {"impressions_7d": float(impressions), "rejects_30d": float(rejects)}


def _as_config(config: JourneyConfig | Mapping[str, Any] | None) -> JourneyConfig:
    if config is None:
        return JourneyConfig()
    if isinstance(config, JourneyConfig):
        return config
    if isinstance(config, Mapping):
        from pydantic import ValidationError

        from engine.events import format_validation_error

        # RLlib's EnvContext is a dict subclass with extra attributes; keep the plain fields.
        try:
            return JourneyConfig.model_validate(dict(config))
        except ValidationError as err:
            raise InvalidInputError(f"invalid journey env config: {format_validation_error(err)}") from err
    raise InvalidInputError(
        f"config must be a JourneyConfig, a mapping of its fields or None; got {type(config).__name__}"
    )
