import copy
import math
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from engine.errors import ConfigError
from engine.events import BalanceSnapshotEvent, GeoPingEvent, LoginEvent, TransactionEvent
from engine.features import FEATURE_NAMES, FeatureEncoder, compute_features
from engine.profile import HORIZON_DAYS, CustomerProfile

T0 = datetime(2025, 3, 3, 12, tzinfo=timezone.utc)  # a Monday


def tx(event_id, day, amount, category=None, **extra):
    return TransactionEvent(
        event_id=event_id,
        customer_id="c1",
        ts=T0 + timedelta(days=day),
        amount=Decimal(str(amount)),
        currency="EUR",
        category=category,
        **extra,
    )


def test_window_sums_and_eviction():
    profile = CustomerProfile("c1")
    for day in range(60):
        profile.apply(tx(f"g{day}", day, -10), category="groceries")
    features = compute_features(profile, T0 + timedelta(days=59, hours=1))
    assert features["spend_30d"] == pytest.approx(300.0)
    assert features["spend_30d_groceries"] == pytest.approx(300.0)
    assert features["tx_count_30d"] == 30
    later = compute_features(profile, T0 + timedelta(days=79, hours=1))
    assert later["spend_30d"] == pytest.approx(100.0)
    gone = compute_features(profile, T0 + timedelta(days=200))
    assert gone["spend_30d"] == pytest.approx(0.0)
    assert profile.days == {}


def test_duplicate_event_counts_once():
    profile = CustomerProfile("c1")
    assert profile.apply(tx("a", 0, -25), category="dining").applied
    result = profile.apply(tx("a", 0, -25), category="dining")
    assert not result.applied
    assert result.reason == "duplicate"
    assert compute_features(profile, T0 + timedelta(days=1))["spend_30d_dining"] == pytest.approx(25.0)


def test_out_of_order_and_stale_events():
    profile = CustomerProfile("c1")
    profile.apply(tx("late", 100, -5))
    assert profile.apply(tx("early", 95, -7)).applied
    stale = profile.apply(tx("ancient", 100 - HORIZON_DAYS - 1, -9))
    assert stale.reason == "stale"
    assert profile.stale_events == 1
    assert compute_features(profile, T0 + timedelta(days=100, hours=1))["spend_30d"] == pytest.approx(12.0)


def test_90_day_windows_keep_older_spend_and_income():
    profile = CustomerProfile("c1")
    for month in range(3):
        profile.apply(tx(f"salary{month}", month * 30, 2000, "salary"))
        profile.apply(tx(f"power{month}", month * 30 + 1, -90, "utilities"))
    profile.apply(tx("flight", 5, -400, "travel"))
    features = compute_features(profile, T0 + timedelta(days=89, hours=1))
    assert features["income_90d"] == pytest.approx(6000.0)
    assert features["spend_90d"] == pytest.approx(670.0)
    assert features["spend_90d_utilities"] == pytest.approx(270.0)
    assert features["spend_90d_travel"] == pytest.approx(400.0)
    assert features["spend_30d_travel"] == pytest.approx(0.0)
    assert features["savings_rate_90d"] == pytest.approx((6000.0 - 670.0) / 6000.0)
    after = compute_features(profile, T0 + timedelta(days=96, hours=1))
    assert after["spend_90d_travel"] == pytest.approx(0.0)
    assert after["income_90d"] == pytest.approx(4000.0)


def test_savings_rate_90d_without_income():
    profile = CustomerProfile("c1")
    assert compute_features(profile, T0)["savings_rate_90d"] == 0.0
    profile.apply(tx("rent", 0, -700, "rent"))
    assert compute_features(profile, T0 + timedelta(days=1))["savings_rate_90d"] == -1.0


def test_weekend_ratio_and_weekday_spend():
    profile = CustomerProfile("c1")
    for week in range(4):
        for weekday in range(7):
            amount = -60 if weekday >= 5 else -10
            profile.apply(tx(f"w{week}-{weekday}", week * 7 + weekday, amount), category="dining")
    features = compute_features(profile, T0 + timedelta(days=28))
    assert features["weekend_spend_ratio"] == pytest.approx(6.0)
    assert features["spend_56d_sat"] == pytest.approx(240.0)
    assert features["spend_56d_mon"] == pytest.approx(40.0)


def test_income_cadence_and_stability():
    profile = CustomerProfile("c1")
    for month in range(4):
        profile.apply(tx(f"s{month}", month * 30, 2500, "salary"))
    features = compute_features(profile, T0 + timedelta(days=95))
    assert features["has_salary"] == 1.0
    assert features["income_cadence_days"] == pytest.approx(30.0)
    assert features["income_stability"] > 0.9
    assert features["days_since_income"] == pytest.approx(5.0)


def test_balance_overdraft_logins_geo():
    profile = CustomerProfile("c1")
    profile.apply(BalanceSnapshotEvent(event_id="b1", customer_id="c1", ts=T0, balance=Decimal("100"), currency="EUR", credit_limit=Decimal("1000")))
    profile.apply(tx("t1", 1, -300))
    profile.apply(tx("t2", 2, -50, balance_after=Decimal("-400")))
    for day in range(3):
        profile.apply(LoginEvent(event_id=f"l{day}", customer_id="c1", ts=T0 + timedelta(days=day)))
    for index, country in enumerate(["NL", "NL", "NL", "ES"]):
        profile.apply(GeoPingEvent(event_id=f"g{index}", customer_id="c1", ts=T0 + timedelta(days=index), lat=1.0, lon=1.0, country=country))
    features = compute_features(profile, T0 + timedelta(days=3))
    assert features["balance"] == pytest.approx(-400.0)
    assert features["overdraft_days_90d"] == 2
    assert features["credit_utilisation"] == pytest.approx(0.4)
    assert features["logins_30d"] == 3
    assert features["logins_90d"] == 3
    assert features["travelling"] == 1.0
    assert features["abroad_share"] == pytest.approx(0.25)
    later = compute_features(profile, T0 + timedelta(days=45))
    assert later["logins_30d"] == 0
    assert later["logins_90d"] == 3


def test_abroad_share_without_pings():
    assert compute_features(CustomerProfile("c1"), T0)["abroad_share"] == 0.0


def test_serialisation_round_trip():
    profile = CustomerProfile("c1")
    for day in range(40):
        profile.apply(tx(f"t{day}", day, -day - 1), category="shopping")
    profile.apply_feedback("offer-a", "impression", T0.timestamp())
    restored = CustomerProfile.from_bytes(profile.to_bytes())
    now = T0 + timedelta(days=41)
    assert compute_features(restored, now) == compute_features(profile, now)
    assert restored.seen == profile.seen


def test_feature_set_and_encoding():
    profile = CustomerProfile("c1")
    features = compute_features(profile, T0)
    assert set(features) == set(FEATURE_NAMES)
    encoder = FeatureEncoder.from_names("default")
    vector = encoder.encode(features)
    assert vector.shape == (encoder.dim,)
    assert vector[-1] == 1.0
    assert abs(vector).max() <= 10.0
    before = copy.deepcopy(features)
    encoder.encode(features)
    assert features == before


def test_linear_money_encoding():
    encoder = FeatureEncoder.from_names(["balance", "balance:linear", "income_90d:linear", "has_salary"])
    assert encoder.base_names == ("balance", "balance", "income_90d", "has_salary")
    assert encoder.raw_names == ("balance", "income_90d", "has_salary")
    vector = encoder.encode({"balance": 2500.0, "income_90d": 90_000.0, "has_salary": 1.0})
    assert vector[1] == pytest.approx(2.5)  # thousands of the currency
    assert vector[0] == pytest.approx(math.log1p(2500.0) / 8.0)
    assert vector[2] == 10.0  # clipped
    assert encoder.encode({"balance": -5000.0})[1] == -2.0
    assert encoder.encode({"balance": float("nan")})[1] == 0.0


@pytest.mark.parametrize(
    ("names", "message"),
    [
        (["has_salary:linear"], "only money features take the suffix ':linear', and 'has_salary' is a flag"),
        (["balance:log"], "unknown suffix ':log'.*write 'balance:linear'"),
        (["balance:LINEAR"], "unknown suffix ':LINEAR'"),
        (["balanse:linear"], "unknown feature"),
        (["balance:linear", "balance:linear"], "lists a feature twice"),
    ],
)
def test_linear_suffix_errors_name_the_feature(names, message):
    with pytest.raises(ConfigError, match=message) as caught:
        FeatureEncoder.from_names(names)
    assert names[0] in str(caught.value)


def test_record_context_uses_raw_feature_names():
    """Reasons and the recorded context read ``balance`` for ``balance:linear``, and the learner re-encodes from the record."""
    from engine.config import load_catalog, load_policy_config, load_reward_config
    from engine.decisions import DecisionEngine
    from engine.snapshot_store import SnapshotHolder
    from policies.registry import make_learner

    config = load_policy_config("lints").model_copy(update={"features": ("balance:linear", "balance", "has_salary")})
    encoder = FeatureEncoder.from_names(config.features)
    learner = make_learner(config, dim=encoder.dim)
    for _ in range(40):  # a model that leans on the linear balance, so the reason names it
        learner.update_one("savings-goal-round-ups", encoder.encode({"balance": 9000.0, "has_salary": 1.0}), 1.0)
    engine = DecisionEngine(
        catalog=load_catalog(),
        policy_config=config,
        reward_config=load_reward_config(),
        snapshots=SnapshotHolder(learner.snapshot()),
        seed=0,
    )
    profile = CustomerProfile("c1")
    profile.balance = 9000.0
    record = engine.decide(profile, customer_id="c1", now=T0, slate_size=3).record
    assert set(record.context) == {"balance", "has_salary"}
    assert record.context["balance"] == 9000.0
    assert encoder.encode(record.context)[0] == pytest.approx(9.0)
    for item in record.shown:
        assert set(item.contributions) <= set(config.features)
        assert set(item.reason_features) <= {"balance", "has_salary"} | set(engine.compiled.rules[item.offer_id].names)


def test_refund_lowers_spend_not_income():
    profile = CustomerProfile("c1")
    profile.apply(tx("buy", 0, -40, merchant="NETFLIX.COM", description="NETFLIX.COM monthly"), category="subscriptions")
    profile.apply(tx("back", 1, 15, merchant="NETFLIX.COM", description="Refund: NETFLIX.COM"), category="refund")

    features = compute_features(profile, T0 + timedelta(days=1, hours=1))

    assert features["spend_30d"] == pytest.approx(25.0)
    assert features["income_30d"] == pytest.approx(0.0)
    assert profile.windows[90]["c"] == pytest.approx({"subscriptions": 25.0})
    assert profile.salary == []


def test_refund_without_purchase_reads_zero():
    profile = CustomerProfile("c1")
    profile.apply(tx("back", 0, 30, merchant="NETFLIX.COM", description="Refund: NETFLIX.COM"), category="refund")

    features = compute_features(profile, T0 + timedelta(hours=1))

    assert profile.windows[30]["s"] == pytest.approx(-30.0)
    assert features["spend_30d"] == 0.0
    assert features["income_30d"] == 0.0
