"""True response model: how a simulated customer reacts to an offer in a slate.

For customer ``c`` with standardised latent traits ``z_c`` (see
:data:`envs.population.TRAIT_NAMES`) and offer ``o`` shown at position ``p``::

    s       = sigmoid(bias_o + w_o . z_c)                      match of offer and customer
    a       = s * position_factor(p) * fatigue                 P(accept)
    P(click without accept) = (1 - a) * q_click,   q_click = position_factor(p) * (0.03 + 0.35 s)
    P(reject)  = (1 - a)(1 - q_click) * q_reject,  q_reject = min(0.9, position_factor(p) * (0.25 (1 - s)^2 + 0.05 n))
    P(dismiss) = (1 - a)(1 - q_click)(1 - q_reject) * 0.12 * position_factor(p)
    P(nothing) = the rest

where ``n`` is the number of impressions of ``o`` to ``c`` in the previous 7 days and
``fatigue = 0.8 ** n``, times 0.05 once the customer has accepted ``o`` (most people need
one credit card, not two). Poorly matched offers (small ``s``) draw more rejects.

Each outcome emits a fixed feedback sequence: accept = impression, click, accept;
click = impression, click; reject = impression, reject; dismiss = impression, dismiss;
nothing = impression. Its reward is :func:`engine.rewards.combine_feedback` of that
sequence, times the offer's business value when ``business_value_weighting`` is on. The
engine's reward joiner settles the same value when every event arrives inside its window.

The preference ``(bias_o, w_o)`` of an offer comes from its category and from keywords in
its id, such as ``travel``, ``fx``, ``overdraft``, ``savings``, ``invest``, ``card``,
``loan`` and ``budget`` (see :data:`KEYWORD_PREFERENCES`). A small perturbation hashed
from the id makes the preferences of any catalog distinct. ``w_o`` is scaled to a
fixed norm so that no offer is much easier to target than another.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from engine.config.offers import OfferCatalog, OfferSpec
from engine.config.rewards import RewardConfig
from engine.errors import InvalidInputError
from engine.rewards import combine_feedback
from envs.population import TRAIT_NAMES

__all__ = [
    "OUTCOMES",
    "OUTCOME_FEEDBACK",
    "POSITION_FACTORS",
    "FATIGUE_WINDOW_DAYS",
    "CATEGORY_PREFERENCES",
    "KEYWORD_PREFERENCES",
    "OfferPreference",
    "preference_for_offer",
    "position_factor",
    "ResponseModel",
    "draw_outcome",
]

OUTCOMES: tuple[str, ...] = ("accept", "click", "reject", "dismiss", "nothing")
OUTCOME_FEEDBACK: dict[str, tuple[str, ...]] = {
    "accept": ("impression", "click", "accept"),
    "click": ("impression", "click"),
    "reject": ("impression", "reject"),
    "dismiss": ("impression", "dismiss"),
    "nothing": ("impression",),
}
# Relative attention per slate position; positions past the table keep shrinking by 15%.
POSITION_FACTORS: tuple[float, ...] = (1.0, 0.75, 0.55, 0.45, 0.35)
FATIGUE_WINDOW_DAYS = 7
FATIGUE_PER_IMPRESSION = 0.8
OWNED_FACTOR = 0.05
PREFERENCE_NORM = 2.0
PERTURBATION_NORM = 0.25
BIAS_JITTER = 0.25

_TRAIT_INDEX = {name: index for index, name in enumerate(TRAIT_NAMES)}


@dataclass(frozen=True)
class _Preference:
    bias: float
    weights: Mapping[str, float]


@dataclass(frozen=True)
class _KeywordPreference:
    keywords: frozenset[str]
    categories: frozenset[str] | None
    bias: float
    weights: Mapping[str, float]


CATEGORY_PREFERENCES: dict[str, _Preference] = {
    "credit": _Preference(-3.2, {"credit_appetite": 0.8, "income": 0.5, "overdraft": -0.4}),
    "savings": _Preference(-2.6, {"savings": 0.9, "income_stability": 0.4, "overdraft": -0.5}),
    "investment": _Preference(-3.2, {"income": 0.8, "savings": 0.8, "overdraft": -0.5}),
    "insurance": _Preference(-3.0, {"household": 0.6, "income": 0.4}),
    "service": _Preference(-2.2, {"engagement": 0.8}),
    "education": _Preference(-2.0, {"engagement": 0.5, "income": -0.3}),
    "liquidity": _Preference(-2.6, {"overdraft": 1.4, "savings": -0.4}),
}


def _keywords(words: str, categories: str | None, bias: float, weights: dict[str, float]) -> _KeywordPreference:
    return _KeywordPreference(
        keywords=frozenset(words.split()),
        categories=frozenset(categories.split()) if categories else None,
        bias=bias,
        weights=weights,
    )


# Id tokens (the id split at '-' and '_') that add to an offer's preference. A rule with
# categories applies only to offers in those categories ("savings" in a liquidity offer's
# id describes where the money comes from, not who wants it).
KEYWORD_PREFERENCES: tuple[_KeywordPreference, ...] = (
    _keywords("travel fx abroad currency multicurrency holiday trip roaming foreign", None, 0.0,
              {"travel": 1.6, "income": 0.3}),
    _keywords("overdraft buffer liquidity topup bridge shortfall", None, 0.0, {"overdraft": 1.6, "savings": -0.4}),
    _keywords("advance early", None, 0.0, {"overdraft": 1.2, "income_stability": 0.6}),
    _keywords("savings save saving goal pot rainy emergency", "savings investment", 0.0,
              {"savings": 1.0, "income_stability": 0.5, "overdraft": -0.6}),
    _keywords("round ups roundup roundups", None, 0.0, {"savings": 0.4, "engagement": 0.8, "income": -0.3}),
    _keywords("payday salary", "savings investment", 0.0, {"income_stability": 0.8}),
    _keywords("yield interest high", "savings investment", 0.0, {"savings": 0.6, "income": 0.6}),
    _keywords("deposit term fixed", "savings investment", -0.3, {"savings": 0.6, "income": 0.5, "engagement": -0.5}),
    _keywords("invest investing etf fund index portfolio brokerage robo wealth stocks", None, 0.0,
              {"income": 0.9, "savings": 0.9, "overdraft": -0.6}),
    _keywords("card cashback rewards preapproved", "credit", 0.0,
              {"credit_appetite": 1.0, "income": 0.6, "weekend_spending": 0.4, "overdraft": -0.4}),
    _keywords("limit", "credit", 0.0, {"credit_appetite": 1.2, "overdraft": -0.3}),
    _keywords("loan personal consolidation consolidate refinance", None, 0.0,
              {"credit_appetite": 1.2, "overdraft": 0.5, "household": 0.3}),
    _keywords("mortgage remortgage", None, -0.8, {"household": 1.0, "income": 0.8, "income_stability": 0.6}),
    _keywords("life", "insurance", 0.0, {"household": 1.2}),
    _keywords("home contents renters", "insurance", 0.0, {"household": 0.6, "income": 0.3}),
    _keywords("phone gadget device mobile", "insurance", 0.0,
              {"engagement": 1.0, "weekend_spending": 0.4, "income": -0.2}),
    _keywords("health dental", "insurance", 0.0, {"household": 0.5}),
    _keywords("budget budgeting debt coach", None, 0.0, {"overdraft": 1.3, "savings": -0.6, "income": -0.4}),
    _keywords("score", None, 0.0, {"credit_appetite": 0.8, "income": -0.4, "engagement": 0.3}),
    _keywords("subscription subscriptions", None, 0.0, {"engagement": 0.6, "overdraft": 0.5, "weekend_spending": 0.3}),
    _keywords("alerts alert fraud notifications security", None, 0.0, {"engagement": 1.0, "income": 0.3}),
    _keywords("family kids junior child children", None, 0.0, {"household": 1.5}),
    _keywords("switch", None, 0.0, {"income_stability": 0.8}),
)


@dataclass(frozen=True, eq=False)
class OfferPreference:
    """True appeal of an offer to a customer with traits ``z``: ``sigmoid(bias + weights . z)`` before position and fatigue.

    Attributes:
        offer_id: the offer.
        bias: intercept of the match logit.
        weights: shape (len(TRAIT_NAMES),); weight of each standardised trait.
        keywords: the id tokens that matched a keyword rule (empty for a generic offer).
    """

    offer_id: str
    bias: float
    weights: np.ndarray
    keywords: tuple[str, ...]


def _id_hash(offer_id: str) -> np.random.Generator:
    digest = hashlib.blake2b(offer_id.encode(), digest_size=8).digest()
    return np.random.default_rng(int.from_bytes(digest, "big"))


def preference_for_offer(offer: OfferSpec) -> OfferPreference:
    """Derive an offer's true preference from its category and id keywords.

    The result depends only on the offer's id and category, never on a seed, so the same
    offer means the same thing in every simulation.
    """
    base = CATEGORY_PREFERENCES[offer.category]
    tokens = set(offer.id.lower().replace("_", "-").split("-"))
    weights = np.zeros(len(TRAIT_NAMES))
    for name, value in base.weights.items():
        weights[_TRAIT_INDEX[name]] += value
    bias = base.bias
    matched: list[str] = []
    for rule in KEYWORD_PREFERENCES:
        if rule.categories is not None and offer.category not in rule.categories:
            continue
        hits = tokens & rule.keywords
        if not hits:
            continue
        matched.extend(sorted(hits))
        bias += rule.bias
        for name, value in rule.weights.items():
            weights[_TRAIT_INDEX[name]] += value
    generator = _id_hash(offer.id)
    perturbation = generator.normal(size=len(TRAIT_NAMES))
    weights = weights / np.linalg.norm(weights)
    weights = weights + PERTURBATION_NORM * perturbation / np.linalg.norm(perturbation)
    weights = PREFERENCE_NORM * weights / np.linalg.norm(weights)
    bias += float(generator.uniform(-BIAS_JITTER, BIAS_JITTER))
    return OfferPreference(offer_id=offer.id, bias=bias, weights=weights, keywords=tuple(matched))


def position_factor(position: int) -> float:
    """Return the attention factor of a 1-based slate position."""
    if position < 1:
        raise InvalidInputError(f"position must be >= 1 (1 is the top of the slate); got {position}")
    if position <= len(POSITION_FACTORS):
        return POSITION_FACTORS[position - 1]
    return POSITION_FACTORS[-1] * 0.85 ** (position - len(POSITION_FACTORS))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


class ResponseModel:
    """Outcome probabilities and expected rewards for every offer of a catalog.

    Args:
        catalog: the offers; their order fixes the offer index used by the array methods.
        reward_config: weights and combination rule that turn feedback into reward.
        accept_scale: factor on every acceptance probability, to model markets where
            customers convert less often.
    """

    def __init__(self, catalog: OfferCatalog, reward_config: RewardConfig, *, accept_scale: float = 1.0) -> None:
        if not 0.0 < accept_scale <= 1.0:
            raise InvalidInputError(f"accept_scale must be in (0, 1]; got {accept_scale!r}")
        self.accept_scale = accept_scale
        self.catalog = catalog
        self.reward_config = reward_config
        self.offer_ids: tuple[str, ...] = catalog.ids
        self.offer_index: dict[str, int] = {offer_id: index for index, offer_id in enumerate(self.offer_ids)}
        self.preferences: tuple[OfferPreference, ...] = tuple(preference_for_offer(offer) for offer in catalog.offers)
        self.biases = np.array([preference.bias for preference in self.preferences])
        self.weights = np.stack([preference.weights for preference in self.preferences])
        # outcome_rewards: shape (n_offers, len(OUTCOMES)); reward of each outcome.
        base = np.array([combine_feedback(list(OUTCOME_FEEDBACK[outcome]), reward_config) for outcome in OUTCOMES])
        values = np.array(
            [offer.business_value if reward_config.business_value_weighting else 1.0 for offer in catalog.offers]
        )
        self.outcome_rewards = values[:, None] * base[None, :]

    def match(self, z: np.ndarray) -> np.ndarray:
        """Return ``sigmoid(bias + w . z)`` for every offer, shape (n_offers,), for traits ``z`` of shape (n_traits,)."""
        return _sigmoid(self.biases + self.weights @ z)

    def outcome_probabilities(
        self,
        z: np.ndarray,
        position: int | np.ndarray,
        recent_impressions: np.ndarray,
        owned: np.ndarray,
    ) -> np.ndarray:
        """Return P(outcome) for every offer, shape (n_offers, len(OUTCOMES)); rows sum to 1.

        Args:
            z: standardised traits of one customer, shape (n_traits,).
            position: 1-based slate position, one for all offers or shape (n_offers,).
            recent_impressions: shape (n_offers,); impressions of each offer to this
                customer in the previous :data:`FATIGUE_WINDOW_DAYS` days.
            owned: shape (n_offers,), bool; whether the customer accepted the offer before.
        """
        s = self.match(z)
        positions = np.broadcast_to(np.asarray(position), s.shape)
        attention = np.array([position_factor(int(value)) for value in positions.ravel()]).reshape(s.shape)
        fatigue = FATIGUE_PER_IMPRESSION ** recent_impressions * np.where(owned, OWNED_FACTOR, 1.0)
        accept = self.accept_scale * s * attention * fatigue
        click = attention * (0.03 + 0.35 * s)
        reject = np.minimum(0.9, attention * (0.25 * (1.0 - s) ** 2 + 0.05 * recent_impressions))
        dismiss = 0.12 * attention
        probabilities = np.empty((len(s), len(OUTCOMES)))
        probabilities[:, 0] = accept
        rest = 1.0 - accept
        probabilities[:, 1] = rest * click
        rest = rest * (1.0 - click)
        probabilities[:, 2] = rest * reject
        rest = rest * (1.0 - reject)
        probabilities[:, 3] = rest * dismiss
        probabilities[:, 4] = rest * (1.0 - dismiss)
        return probabilities

    def expected_rewards(
        self,
        z: np.ndarray,
        position: int | np.ndarray,
        recent_impressions: np.ndarray,
        owned: np.ndarray,
    ) -> np.ndarray:
        """Return the expected reward of showing each offer at ``position``, shape (n_offers,).

        Arguments are as in :meth:`outcome_probabilities`.
        """
        probabilities = self.outcome_probabilities(z, position, recent_impressions, owned)
        return (probabilities * self.outcome_rewards).sum(axis=1)

    def outcome_reward(self, offer_id: str, outcome: str) -> float:
        """Return the reward of one outcome of one offer."""
        return float(self.outcome_rewards[self.offer_index[offer_id], OUTCOMES.index(outcome)])


def draw_outcome(probabilities: Sequence[float], uniform: float) -> str:
    """Return the outcome whose cumulative-probability interval contains ``uniform`` in [0, 1).

    Outcomes are laid out in :data:`OUTCOMES` order, so a smaller ``uniform`` means a
    better outcome. Two policies that show the same offer with the same ``uniform`` get
    outcomes ordered like their probabilities (common random numbers).
    """
    cumulative = 0.0
    for outcome, probability in zip(OUTCOMES, probabilities):
        cumulative += float(probability)
        if uniform < cumulative:
            return outcome
    return OUTCOMES[-1]
