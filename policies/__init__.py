"""Bandit policies: pick a slate of offers, log the probabilities of the pick, learn from rewards.

Glossary:
    context: encoded features of one customer, a float64 vector of shape ``(d,)`` whose
        last entry is the bias 1.0 (see ``engine.features.FeatureEncoder``).
    offer_ids: the eligible candidates of one decision, ``n`` distinct ids.
    multipliers: shape ``(n,)``, finite and non-negative; arbitration factors (business
        value times levers) that scale each candidate's predicted reward before ranking.
    propensity: probability with which the policy made a choice. ``SlateChoice.propensities[i]``
        is the probability of the offer at position ``i + 1`` given the offers above it.
        ``slate_propensity``, their product, is the probability of the whole ordered slate.
    action_dist / first_position_dist: the policy's probability of placing each candidate
        first, shape ``(n,)``, summing to 1 (what off-policy estimators call ``action_dist``
        for slate size 1).
    snapshot vs learner: a ``BanditLearner`` is mutable, owned by one process, and absorbs
        rewards. Its ``snapshot()`` returns an immutable, picklable ``PolicySnapshot`` with a
        higher version, which decision code reads and replicas receive.

Start with :func:`make_learner`; store snapshots with ``to_bytes`` and read them back with
:func:`load_snapshot`; restart a learner with :func:`learner_from_snapshot`.
"""

from __future__ import annotations

from policies.base import BanditLearner, PolicySnapshot, SlateChoice
from policies.baselines import (
    EpsilonGreedyLearner,
    EpsilonGreedySnapshot,
    FixedPolicyLearner,
    FixedPolicySnapshot,
    RandomSnapshot,
    StaticSnapshot,
)
from policies.linear import LinearLearner, LinearSnapshot, LinTSSnapshot, LinUCBSnapshot
from policies.offer_features import (
    OFFER_FEATURE_DIM,
    OFFER_FEATURE_NAMES,
    default_offer_feature_vector,
    offer_feature_vector,
    offer_features_of,
)
from policies.registry import SNAPSHOT_CLASSES, learner_from_snapshot, load_snapshot, make_learner

__all__ = [
    "SlateChoice",
    "PolicySnapshot",
    "BanditLearner",
    "make_learner",
    "load_snapshot",
    "learner_from_snapshot",
    "SNAPSHOT_CLASSES",
    "LinearLearner",
    "LinearSnapshot",
    "LinUCBSnapshot",
    "LinTSSnapshot",
    "EpsilonGreedyLearner",
    "EpsilonGreedySnapshot",
    "FixedPolicyLearner",
    "FixedPolicySnapshot",
    "RandomSnapshot",
    "StaticSnapshot",
    "OFFER_FEATURE_NAMES",
    "OFFER_FEATURE_DIM",
    "offer_feature_vector",
    "default_offer_feature_vector",
    "offer_features_of",
]
