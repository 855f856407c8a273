"""Apprentice mode: serve the bank's rule-based choice while a bandit learns beside it.

Many banks already pick offers with hand-written rules. In apprentice mode customers
keep getting the rules' choice, the learner absorbs the rewards of what was shown, and
its own choice is computed on the same inputs but not shown. The agreement report
shows how often the learned top offer equals the rules' top offer, overall and per
rule offer, so a team can see when the learner has caught up.

The rules come from a YAML file (``configs/train/apprentice_rules.yaml``), read into a
:class:`RulePolicyConfig`: an ordered list of ``when`` expressions in the eligibility
rule language (:mod:`engine.rules`) with the offer each one selects, and a default.

NOTE: the rules are deterministic, so the learner sees each context with one offer
only. It learns the value of what the rules show, not of what they never show, and
these logs cannot support an off-policy estimate of other policies.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from engine.errors import ConfigError, InvalidInputError
from engine.rules import CompiledRule, compile_rule
from policies.base import BanditLearner, PolicySnapshot, SlateChoice

__all__ = [
    "RuleSpec",
    "RulePolicyConfig",
    "load_rule_policy",
    "RulePolicy",
    "ApprenticeDecision",
    "AgreementReport",
    "Apprentice",
]

logger = logging.getLogger(__name__)


class RuleSpec(BaseModel):
    """One rule: when the expression is true and the offer is eligible, the offer goes first."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    when: str = Field(min_length=1, max_length=2000, description="Expression over profile features.")
    offer: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{1,63}$")


class RulePolicyConfig(BaseModel):
    """The bank's rule-based policy: ordered rules and a default offer."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{1,63}$")
    rules: tuple[RuleSpec, ...] = Field(min_length=1)
    default: str | None = Field(default=None, description="Offer when no rule applies; None: the first eligible offer.")


def load_rule_policy(path: str | Path) -> RulePolicyConfig:
    """Read a rule policy YAML file.

    Raises:
        ConfigError: the file is missing, invalid, or a rule does not compile.
    """
    from engine.config.loader import load_yaml_model
    from engine.eligibility import RULE_FEATURE_NAMES

    config = load_yaml_model(path, RulePolicyConfig)
    for index, rule in enumerate(config.rules):
        try:
            compile_rule(rule.when, RULE_FEATURE_NAMES)
        except InvalidInputError as err:
            raise ConfigError(f"{path}: rules[{index}].when: {err}") from err
    return config


class RulePolicy:
    """Deterministic slates from a :class:`RulePolicyConfig`.

    Position 1 gets the offer of the first rule that is true and whose offer is eligible,
    else the default when eligible, else the first eligible offer. Later positions take
    the next rules that are true, then the remaining candidates in the order given. Every
    placement has propensity 1.
    """

    def __init__(self, config: RulePolicyConfig) -> None:
        self.config = config
        self._rules: tuple[tuple[CompiledRule, str], ...] = tuple(
            (compile_rule(rule.when), rule.offer) for rule in config.rules
        )

    def __repr__(self) -> str:
        return f"RulePolicy(id={self.config.id!r}, rules={len(self._rules)}, default={self.config.default!r})"

    def choose_slate(self, features: Mapping[str, float], offer_ids: Sequence[str], k: int) -> SlateChoice:
        """Return the rules' slate of ``min(k, len(offer_ids))`` candidates."""
        if not offer_ids:
            raise InvalidInputError("offer_ids must name at least one candidate; got none")
        if not isinstance(k, int) or k < 1:
            raise InvalidInputError(f"k (slate size) must be an int >= 1; got {k!r}")
        position = {offer_id: index for index, offer_id in enumerate(offer_ids)}
        order: list[int] = []
        for rule, offer_id in self._rules:
            if offer_id in position and position[offer_id] not in order and rule(features):
                order.append(position[offer_id])
        if not order and self.config.default in position:
            order.append(position[self.config.default])  # type: ignore[index]
        order.extend(index for index in range(len(offer_ids)) if index not in order)
        order = order[: min(k, len(offer_ids))]
        first = np.zeros(len(offer_ids))
        first[order[0]] = 1.0
        return SlateChoice(
            order=tuple(order),
            propensities=tuple(1.0 for _ in order),
            slate_propensity=1.0,
            first_position_dist=first,
            scores=np.zeros(len(offer_ids)),
        )


@dataclass(frozen=True)
class ApprenticeDecision:
    """The served slate and the learner's slate of one decision.

    Attributes:
        served: the rules' slate (shown to the customer).
        learned: the learner's slate on the same inputs (not shown).
        agree: whether both put the same offer first.
    """

    served: SlateChoice
    learned: SlateChoice
    agree: bool


@dataclass
class AgreementReport:
    """How often the learned policy's top offer equals the rules' top offer.

    Attributes:
        decisions: decisions compared.
        agreements: decisions where both chose the same first offer.
        by_offer: rules' first offer -> ``[decisions, agreements]``.
    """

    decisions: int = 0
    agreements: int = 0
    by_offer: dict[str, list[int]] = field(default_factory=dict)

    @property
    def agreement_rate(self) -> float:
        """Share of decisions in agreement (0 before any decision)."""
        return self.agreements / self.decisions if self.decisions else 0.0

    def to_dict(self) -> dict[str, object]:
        """Return a JSON-ready dict with rates per offer."""
        return {
            "decisions": self.decisions,
            "agreements": self.agreements,
            "agreement_rate": self.agreement_rate,
            "by_offer": {
                offer_id: {"decisions": total, "agreements": agreed, "agreement_rate": agreed / total}
                for offer_id, (total, agreed) in sorted(self.by_offer.items())
            },
        }


class Apprentice:
    """Serve the rules, learn with a bandit, and count agreement.

    Not thread-safe: one process owns the learner, as in :class:`engine.loop.DecisionLoop`.

    Args:
        rules: the bank's rule policy.
        learner: the bandit that learns from the served offers' rewards.
        publish_every: rewards between the learner's snapshots.
        seed: seed of the learner's own random draws.
    """

    def __init__(self, rules: RulePolicy, learner: BanditLearner, *, publish_every: int = 100, seed: int | None = None) -> None:
        if not isinstance(publish_every, int) or publish_every < 1:
            raise InvalidInputError(f"publish_every must be an int >= 1; got {publish_every!r}")
        self.rules = rules
        self.learner = learner
        self.publish_every = publish_every
        self.report = AgreementReport()
        self._snapshot: PolicySnapshot = learner.snapshot()
        self._published_at = learner.n_updates
        self._rng = np.random.default_rng(seed)

    def __repr__(self) -> str:
        return (
            f"Apprentice(rules={self.rules.config.id!r}, learner={self.learner.policy_id!r}, "
            f"decisions={self.report.decisions}, agreement_rate={self.report.agreement_rate:.1%})"
        )

    @property
    def snapshot(self) -> PolicySnapshot:
        """The learner's latest published snapshot, which makes the learned choices."""
        return self._snapshot

    def decide(
        self,
        features: Mapping[str, float],
        context: np.ndarray,
        offer_ids: Sequence[str],
        multipliers: np.ndarray,
        k: int,
    ) -> ApprenticeDecision:
        """Return the rules' slate to serve and the learner's slate, and count their agreement.

        Args:
            features: raw profile features, which the rules read.
            context: the learner's encoded context.
            offer_ids, multipliers, k: as in :meth:`PolicySnapshot.choose_slate`.
        """
        served = self.rules.choose_slate(features, offer_ids, k)
        learned = self._snapshot.choose_slate(context, offer_ids, multipliers, k, self._rng)
        agree = served.order[0] == learned.order[0]
        rule_offer = offer_ids[served.order[0]]
        self.report.decisions += 1
        self.report.agreements += int(agree)
        counts = self.report.by_offer.setdefault(rule_offer, [0, 0])
        counts[0] += 1
        counts[1] += int(agree)
        return ApprenticeDecision(served=served, learned=learned, agree=agree)

    def learn(self, offer_id: str, context: np.ndarray, reward: float) -> None:
        """Absorb the reward of a served offer; publish a new snapshot every ``publish_every`` rewards."""
        self.learner.update_one(offer_id, context, reward)
        if self.learner.n_updates - self._published_at >= self.publish_every:
            self._snapshot = self.learner.snapshot()
            self._published_at = self.learner.n_updates
