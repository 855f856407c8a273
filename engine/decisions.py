"""Decide which offers to show one customer now.

Order of work for one decision: features from the live profile, eligibility and contact
policy, mandatory offers first, then the policy snapshot draws the rest of the slate from
the eligible candidates with multipliers for business value and marketing levers, and
every shown offer gets a reason. The result is a :class:`~engine.events.DecisionRecord`
with the exact probabilities the slate was drawn with, and what an audit needs to answer
"why was this person shown this offer": the features, each shown offer's per-feature
contributions, the eligibility results and the policy version.

Consent changes two steps (engine/consent.py). Without marketing consent only service
offers (``transactional`` or ``mandatory`` in the catalog) are candidates. Without
personalisation consent a static ranking by business value and levers decides from a
zero context; the record then keeps no features and reasons use the offers' hints.
Eligibility rules and contact policies read the profile in both cases, because they
protect the customer.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from engine.config.offers import OfferCatalog, OfferSpec
from engine.config.policy import PolicyConfig
from engine.config.rewards import RewardConfig
from engine.eligibility import CompiledCatalog
from engine.events import CandidateScore, DecisionRecord, ShownOffer, construct_trusted, ensure_aware, new_id
from engine.features import FeatureEncoder, compute_features
from engine.derived_cache import DerivedValueCache
from engine.insights.state import refresh_insight_signals, signal_day, write_signals
from engine.profile import CustomerProfile
from engine.reasons import explain_offer, feature_contributions_of_rows
from engine.snapshot_store import SnapshotHolder
from policies.base import PolicySnapshot
from policies.baselines import StaticSnapshot

__all__ = ["NON_PERSONALISED_POLICY_ID", "ShownOfferView", "Decision", "DecisionEngine", "is_service_offer"]

logger = logging.getLogger(__name__)

# Policy id in the records of decisions made without personalisation consent.
NON_PERSONALISED_POLICY_ID = "non-personalised"


def is_service_offer(offer: OfferSpec) -> bool:
    """Return whether ``offer`` may be shown without marketing consent (transactional or mandatory)."""
    return offer.transactional or offer.mandatory


@dataclass(frozen=True)
class ShownOfferView:
    """A shown offer joined with its catalog entry, for rendering."""

    offer: OfferSpec
    shown: ShownOffer


@dataclass(frozen=True)
class Decision:
    """The outcome of one decision: the record to log and the offers to render."""

    record: DecisionRecord
    offers: tuple[ShownOfferView, ...]
    features: Mapping[str, float]


class DecisionEngine:
    """Turns a profile into a slate of offers using the current policy snapshot.

    Decisions only read the snapshot held by ``snapshots``; the learner replaces it
    without locking decisions out. The engine itself is not thread-safe because it owns a
    random generator: give each thread or replica its own engine.

    ``signal_cache``, when given, keeps each customer's date-dependent insight signals
    until the profile changes or the local day turns (the service passes one; a
    simulation, whose profiles change between most decisions, does not).
    """

    def __init__(
        self,
        *,
        catalog: OfferCatalog,
        policy_config: PolicyConfig,
        reward_config: RewardConfig,
        snapshots: SnapshotHolder[PolicySnapshot],
        seed: int | None = None,
        signal_cache: DerivedValueCache[dict[str, float]] | None = None,
    ) -> None:
        self.catalog = catalog
        self.signal_cache = signal_cache
        self.compiled = CompiledCatalog(catalog)
        self.policy_config = policy_config
        self.reward_config = reward_config
        self.snapshots = snapshots
        self.encoder = FeatureEncoder.from_names(policy_config.features)
        self.rng = np.random.default_rng(seed if seed is not None else policy_config.seed)
        self._multiplier = {offer.id: self._offer_multiplier(offer) for offer in catalog.offers}
        self._categories = {offer.id: offer.category for offer in catalog.offers}
        # A static ranking has no reward model, so it always ranks by business value and levers.
        self._static_multiplier = {
            offer.id: self._offer_multiplier(offer) * (offer.business_value if reward_config.business_value_weighting else 1.0)
            for offer in catalog.offers
        }
        static_fields = {**policy_config.model_dump(), "id": NON_PERSONALISED_POLICY_ID, "algorithm": "static", "model": "per_offer"}
        # A model checkpoint and the funnel settings belong to the personalised policy only.
        static_fields.pop("checkpoint", None)
        static_fields.pop("funnel", None)
        static_config = PolicyConfig.model_validate(static_fields)
        self.non_personalised = StaticSnapshot(
            config=static_config, version=0, n_updates=0, context_dim=self.encoder.dim
        )

    def _offer_multiplier(self, offer: OfferSpec) -> float:
        levers = self.policy_config.levers
        factor = levers.category.get(offer.category, 1.0) * levers.offer.get(offer.id, 1.0)
        # Business value enters once for learning policies: in the reward when weighting is
        # on, else here. Static ranking always multiplies by it (see _static_multiplier).
        if not self.reward_config.business_value_weighting:
            factor *= offer.business_value
        return factor

    def slate_size(self, channel: str) -> int:
        """Return how many offers a channel gets (channel_slate_size, else slate_size)."""
        return self.policy_config.channel_slate_size.get(channel, self.policy_config.slate_size)

    def decide(
        self,
        profile: CustomerProfile | None,
        *,
        customer_id: str,
        now: datetime,
        channel: str = "mobile",
        slate_size: int | None = None,
        decision_id: str | None = None,
        marketing: bool = True,
        personalised: bool = True,
        snapshot: PolicySnapshot | None = None,
    ) -> Decision:
        """Decide the slate for one customer.

        Args:
            profile: the customer's live profile, which this call may mutate (pass a
                private copy); None for an unknown customer, who gets a cold-start
                decision from an empty profile.
            customer_id: pseudonymised customer id, copied into the record.
            now: decision time (timezone-aware).
            channel: web, mobile or wearable; changes only the slate size.
            slate_size: overrides the channel's slate size.
            decision_id: id to use; a random one by default.
            marketing: the customer's marketing consent; False keeps service offers only.
            personalised: the customer's personalisation consent; False ranks with the
                static non-personalised snapshot from a zero context.
            snapshot: decide with this snapshot instead of the current one (traffic
                splits and shadow policies). A snapshot with a ``context_from_profile``
                method (an RLlib policy) builds its own context from the profile.
        """
        ensure_aware(now)
        if profile is None:
            profile = CustomerProfile(customer_id)
        # Date-dependent insight signals (a bill due tomorrow) are as of the last event
        # until they are recomputed for the decision time.
        if self.signal_cache is None:
            refresh_insight_signals(profile, now)
        else:
            current = profile
            signals = self.signal_cache.get_or_compute(
                profile, signal_day(profile, now), lambda: refresh_insight_signals(current, now)
            )
            write_signals(profile, signals)
        features = compute_features(profile, now)
        eligibility = self.compiled.filter(features, profile.offers, now)
        k = slate_size if slate_size is not None else self.slate_size(channel)
        if not personalised:
            snapshot = self.non_personalised
        elif snapshot is None:
            snapshot = self.snapshots.current

        eligible = list(eligibility.eligible)
        ineligible = dict(eligibility.ineligible)
        if not marketing:
            for offer in eligible:
                if not is_service_offer(offer):
                    ineligible[offer.id] = "no marketing consent"
            eligible = [offer for offer in eligible if is_service_offer(offer)]
        mandatory = [offer for offer in eligible if offer.mandatory][:k]
        candidates = [offer for offer in eligible if not offer.mandatory]
        names = self.encoder.names
        # Reasons and the record read features by their own names (``balance`` for ``balance:linear``).
        base_names = self.encoder.base_names
        build_context = getattr(snapshot, "context_from_profile", None)
        if personalised and build_context is not None:
            context = build_context(profile, now, categories=self._categories)
            reason_features: Mapping[str, float] = features
        elif personalised:
            context = self.encoder.encode(features)
            reason_features = features
        else:
            # The zero context with its bias: the ranking cannot depend on the customer.
            context = np.zeros(self.encoder.dim)
            context[-1] = 1.0
            reason_features = {}
        offer_ids = [offer.id for offer in candidates]
        shown: list[ShownOffer] = []
        views: list[ShownOfferView] = []
        currency = profile.currency or "EUR"

        for position, offer in enumerate(mandatory, start=1):
            reason = explain_offer(
                offer,
                feature_names=base_names,
                features=reason_features,
                lifts=None,
                deviations=None,
                rule_features=tuple(self.compiled.rules[offer.id].names) if personalised else (),
                currency=currency,
            )
            item = construct_trusted(
                ShownOffer,
                {
                    "offer_id": offer.id,
                    "position": position,
                    "propensity": 1.0,
                    "score": 0.0,
                    "reason": reason.text,
                    "reason_features": reason.features,
                    "contributions": {},
                },
            )
            shown.append(item)
            views.append(ShownOfferView(offer, item))

        candidate_scores: tuple[CandidateScore, ...] = ()
        slate_propensity = 1.0
        remaining = k - len(mandatory)
        if candidates and remaining > 0:
            table = self._static_multiplier if snapshot.algorithm == "static" else self._multiplier
            multipliers = np.array([table[offer_id] for offer_id in offer_ids])
            choice = snapshot.choose_slate(context, offer_ids, multipliers, remaining, self.rng)
            mean = snapshot.context_mean
            deviations = context - mean if mean is not None else None
            if personalised and choice.contributions is not None:
                slate_contributions = feature_contributions_of_rows(names, choice.contributions[list(choice.order)])
            else:
                slate_contributions = [{} for _ in choice.order]
            for slot, (index, propensity) in enumerate(zip(choice.order, choice.propensities)):
                offer = candidates[index]
                lifts = choice.contributions[index] if choice.contributions is not None else None
                reason = explain_offer(
                    offer,
                    feature_names=base_names,
                    features=reason_features,
                    lifts=lifts if personalised else None,
                    deviations=deviations,
                    rule_features=tuple(self.compiled.rules[offer.id].names) if personalised else (),
                    currency=currency,
                )
                item = construct_trusted(
                    ShownOffer,
                    {
                        "offer_id": offer.id,
                        "position": len(mandatory) + slot + 1,
                        "propensity": float(propensity),
                        "score": float(choice.scores[index]),
                        "reason": reason.text,
                        "reason_features": reason.features,
                        "contributions": slate_contributions[slot],
                    },
                )
                shown.append(item)
                views.append(ShownOfferView(offer, item))
            slate_propensity = float(choice.slate_propensity)
            scores = choice.scores.tolist()
            values = (choice.scores * multipliers).tolist()
            probabilities = choice.first_position_dist.tolist()
            candidate_scores = tuple(
                CandidateScore(offer_id, scores[i], values[i], probabilities[i])
                for i, offer_id in enumerate(offer_ids)
            )

        record = construct_trusted(
            DecisionRecord,
            {
                "type": "decision",
                "decision_id": decision_id or new_id(),
                "customer_id": customer_id,
                "ts": now,
                "channel": channel,
                "policy_id": snapshot.policy_id,
                "policy_version": int(snapshot.version),
                "context": {name: float(features.get(name, 0.0)) for name in self.encoder.raw_names} if personalised else {},
                "candidates": candidate_scores,
                "shown": tuple(shown),
                "slate_propensity": slate_propensity,
                "ineligible": ineligible,
                "eligible": tuple(offer.id for offer in eligible),
                "algorithm": str(snapshot.algorithm),
                "personalised": personalised,
                "marketing": marketing,
            },
        )
        return Decision(record=record, offers=tuple(views), features=features)
