from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.config.loader import load_catalog, load_reward_config
from engine.config.policy import ExplorationConfig, PolicyConfig
from engine.errors import ConfigError, InvalidInputError
from engine.features import FeatureEncoder, compute_features
from engine.profile import CustomerProfile
from envs.bank import SyntheticBank
from policies.apprentice import Apprentice, RulePolicy, RulePolicyConfig, RuleSpec, load_rule_policy
from policies.registry import make_learner

RULES_FILE = Path(__file__).resolve().parents[3] / "configs" / "train" / "apprentice_rules.yaml"
OFFERS = ["overdraft-help", "travel-card", "savings-goal"]


def _rules() -> RulePolicy:
    return RulePolicy(
        RulePolicyConfig(
            id="bank-rules",
            rules=(
                RuleSpec(when="balance < 200", offer="overdraft-help"),
                RuleSpec(when="travelling == 1", offer="travel-card"),
            ),
            default="savings-goal",
        )
    )


def test_rules_pick_first_matching_eligible_offer() -> None:
    rules = _rules()
    assert rules.choose_slate({"balance": 50.0, "travelling": 1.0}, OFFERS, 1).order == (0,)
    assert rules.choose_slate({"balance": 50.0, "travelling": 1.0}, OFFERS[1:], 1).order == (0,)
    assert rules.choose_slate({"balance": 900.0, "travelling": 0.0}, OFFERS, 1).order == (2,)
    slate = rules.choose_slate({"balance": 50.0, "travelling": 1.0}, OFFERS, 3)
    assert slate.order == (0, 1, 2)
    assert slate.propensities == (1.0, 1.0, 1.0)


def test_rules_fall_back_to_first_candidate() -> None:
    assert _rules().choose_slate({"balance": 900.0}, ["travel-card", "other"], 1).order == (0,)


def test_shipped_rules_load_and_name_catalog_offers() -> None:
    config = load_rule_policy(RULES_FILE)
    catalog_ids = set(load_catalog().ids)
    assert {rule.offer for rule in config.rules} <= catalog_ids
    assert config.default in catalog_ids


def test_rule_file_with_bad_expression_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text("id: bank-rules\nrules:\n  - when: \"open('x')\"\n    offer: savings-goal\n")
    with pytest.raises(ConfigError, match=r"rules\[0\]\.when"):
        load_rule_policy(path)


def test_apprentice_learns_to_agree() -> None:
    """Rules always pick savings-goal, which also earns the most: the learner comes to agree."""
    rules = RulePolicy(RulePolicyConfig(id="always-save", rules=(RuleSpec(when="true", offer="savings-goal"),)))
    config = PolicyConfig(id="apprentice", algorithm="linucb", exploration=ExplorationConfig(ucb_alpha=0.0, min_propensity_share=0.0))
    learner = make_learner(config, dim=3)
    apprentice = Apprentice(rules, learner, publish_every=10, seed=0)
    rng = np.random.default_rng(0)
    for step in range(300):
        context = np.array([rng.normal(), rng.normal(), 1.0])
        decision = apprentice.decide({}, context, OFFERS, np.ones(3), 1)
        served = OFFERS[decision.served.order[0]]
        apprentice.learn(served, context, 1.0)
        # The bank also records the other offers' (worse) results, for example from a small holdout.
        if step % 5 == 0:
            apprentice.learn("travel-card", context, 0.1)
    early = apprentice.report.by_offer["savings-goal"]
    assert apprentice.report.decisions == 300
    assert early[0] == 300
    assert apprentice.report.agreement_rate > 0.9
    assert apprentice.report.to_dict()["by_offer"]["savings-goal"]["agreement_rate"] == apprentice.report.agreement_rate


def test_apprentice_serves_rules_on_simulated_bank() -> None:
    catalog, reward_config = load_catalog(), load_reward_config()
    bank = SyntheticBank(catalog, reward_config, n_customers=60, seed=4, warmup_days=30)
    encoder = FeatureEncoder.from_names("default")
    rules = RulePolicy(load_rule_policy(RULES_FILE))
    apprentice = Apprentice(rules, make_learner(PolicyConfig(id="apprentice", algorithm="lints"), dim=encoder.dim), seed=1)
    profiles: dict[str, CustomerProfile] = {}
    for _ in range(150):
        arrival = bank.next_arrival()
        profile = profiles.setdefault(arrival.customer_id, CustomerProfile(arrival.customer_id))
        for event in bank.events_until(arrival.customer_id, arrival.ts):
            profile.apply(event)
        features = compute_features(profile, arrival.ts)
        context = encoder.encode(features)
        decision = apprentice.decide(features, context, catalog.ids, np.ones(len(catalog.ids)), 1)
        assert decision.served.order == rules.choose_slate(features, catalog.ids, 1).order
        offer_id = catalog.ids[decision.served.order[0]]
        feedback = bank.respond(arrival.customer_id, f"d-{apprentice.report.decisions}", [offer_id], arrival.ts)
        apprentice.learn(offer_id, context, bank.feedback_reward(feedback)[offer_id])
    report = apprentice.report
    assert report.decisions == 150
    assert sum(total for total, _ in report.by_offer.values()) == 150
    assert sum(agreed for _, agreed in report.by_offer.values()) == report.agreements
    assert 0.0 <= report.agreement_rate <= 1.0
    assert apprentice.learner.n_updates == 150
    assert apprentice.snapshot.version > 1


def test_apprentice_rejects_bad_settings() -> None:
    learner = make_learner(PolicyConfig(id="apprentice", algorithm="lints"), dim=3)
    with pytest.raises(InvalidInputError, match="publish_every must be an int >= 1; got 0"):
        Apprentice(_rules(), learner, publish_every=0)
    with pytest.raises(InvalidInputError, match="at least one candidate"):
        _rules().choose_slate({}, [], 1)
