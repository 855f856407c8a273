"""Seeded population of bank customers in latent segments.

Each customer belongs to one segment: student, young professional, family, affluent,
retiree or financially stretched. The customer draws individual traits around the
segment's means: income and pay cadence, rent, subscriptions, spending budgets, travel,
saving, credit appetite, overdraft tendency, app engagement and home time zone.

:data:`TRAIT_NAMES` lists the latent traits that drive offer responses. Each one shows
up in the transactions the generator emits, and so in the engine's features:

========================  =============================================================
trait                     visible through
========================  =============================================================
``income``                ``income_30d``, ``income_90d``, ``spend_30d``
``income_stability``      ``has_salary``, ``income_stability`` (salaried vs freelance)
``travel``                ``spend_30d_travel``, ``spend_90d_travel``, ``travelling`` and
                          ``abroad_share`` (geo pings abroad)
``savings``               ``savings_rate_30d``, ``savings_rate_90d``, ``balance``
``credit_appetite``       ``repayment_velocity`` (loan, card and BNPL repayments)
``overdraft``             ``overdraft_days_90d``, ``balance``, ``credit_utilisation``
``engagement``            ``logins_30d``, ``logins_90d``, ``days_since_login``
``household``             ``spend_30d_groceries``, ``spend_90d_utilities`` (energy, phone
                          and internet grow with household size)
``weekend_spending``      ``weekend_spend_ratio``
========================  =============================================================
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from engine.errors import InvalidInputError
from envs.merchants import (
    DISCRETIONARY_MERCHANTS,
    EMPLOYERS,
    GROCERS,
    HOME_COUNTRIES,
    LANDLORDS,
    SUBSCRIPTION_PLANS,
    UTILITY_PROVIDERS,
    Merchant,
    Place,
    SubscriptionPlan,
)
from envs.trips import HOME_SPEND_WHILE_AWAY, away_share, expected_monthly_trip_cost

__all__ = [
    "TRAIT_NAMES",
    "PAY_CADENCES",
    "SegmentSpec",
    "SEGMENTS",
    "Subscription",
    "CustomerTraits",
    "Population",
    "sample_population",
]

TRAIT_NAMES: tuple[str, ...] = (
    "income",
    "income_stability",
    "travel",
    "savings",
    "credit_appetite",
    "overdraft",
    "engagement",
    "household",
    "weekend_spending",
)
PAY_CADENCES: tuple[str, ...] = ("monthly", "biweekly", "irregular", "pension")
LAST_DAY_OF_MONTH = 31
# Planned savings rate above which a customer keeps a standing order to a savings account.
SAVER_RATE = 0.02

# Shares of the discretionary budget before individual noise, by engine category.
_BASE_SHARES: dict[str, float] = {
    "groceries": 0.30,
    "dining": 0.13,
    "transport": 0.13,
    "shopping": 0.18,
    "entertainment": 0.06,
    "health": 0.04,
    "cash": 0.08,
}


@dataclass(frozen=True)
class SegmentSpec:
    """Means and spreads of one customer segment.

    Attributes:
        name: segment id, e.g. "student".
        share: probability that a customer belongs to this segment.
        income_median: median monthly net income in EUR.
        cadence_probs: probabilities of "monthly", "biweekly", "irregular" and "pension" pay.
        rent_share: mean rent as a share of income, for renters.
        owner_prob: probability of owning a home (mortgage instead of rent).
        mortgage_share: mortgage repayment as a share of income, for owners; 0 means the
            home is paid off.
        household_base, household_extra: household size is base + Poisson(extra).
        trips_per_year: median number of trips abroad a year.
        savings_mean: mean planned share of income left unspent.
        credit_beta, overdraft_beta: Beta(a, b) parameters of credit appetite and
            overdraft tendency, both in [0, 1].
        logins_per_day: median app opens a day.
        weekend_skew: median ratio of weekend to weekday intensity of dining,
            entertainment and shopping.
        buffer_months: median starting balance in months of income.
        subscriptions_mean: mean number of card subscriptions.
        web_share: probability that an app open comes from web banking rather than mobile.
    """

    name: str
    share: float
    income_median: float
    cadence_probs: tuple[float, float, float, float]
    rent_share: float
    owner_prob: float
    mortgage_share: float
    household_base: int
    household_extra: float
    trips_per_year: float
    savings_mean: float
    credit_beta: tuple[float, float]
    overdraft_beta: tuple[float, float]
    logins_per_day: float
    weekend_skew: float
    buffer_months: float
    subscriptions_mean: float
    web_share: float


SEGMENTS: tuple[SegmentSpec, ...] = (
    SegmentSpec(
        name="student",
        share=0.12,
        income_median=950.0,
        cadence_probs=(0.7, 0.0, 0.3, 0.0),
        rent_share=0.42,
        owner_prob=0.0,
        mortgage_share=0.0,
        household_base=1,
        household_extra=0.0,
        trips_per_year=1.5,
        savings_mean=0.03,
        credit_beta=(2.0, 4.0),
        overdraft_beta=(3.0, 4.0),
        logins_per_day=1.6,
        weekend_skew=2.3,
        buffer_months=0.5,
        subscriptions_mean=2.5,
        web_share=0.05,
    ),
    SegmentSpec(
        name="young_professional",
        share=0.25,
        income_median=2800.0,
        cadence_probs=(0.8, 0.12, 0.08, 0.0),
        rent_share=0.33,
        owner_prob=0.1,
        mortgage_share=0.25,
        household_base=1,
        household_extra=0.3,
        trips_per_year=3.5,
        savings_mean=0.12,
        credit_beta=(4.0, 3.0),
        overdraft_beta=(1.5, 6.0),
        logins_per_day=1.2,
        weekend_skew=2.0,
        buffer_months=1.5,
        subscriptions_mean=3.0,
        web_share=0.12,
    ),
    SegmentSpec(
        name="family",
        share=0.22,
        income_median=4300.0,
        cadence_probs=(0.8, 0.15, 0.05, 0.0),
        rent_share=0.28,
        owner_prob=0.5,
        mortgage_share=0.24,
        household_base=3,
        household_extra=1.0,
        trips_per_year=1.8,
        savings_mean=0.08,
        credit_beta=(3.0, 3.0),
        overdraft_beta=(1.8, 5.0),
        logins_per_day=0.6,
        weekend_skew=1.4,
        buffer_months=1.0,
        subscriptions_mean=3.5,
        web_share=0.2,
    ),
    SegmentSpec(
        name="affluent",
        share=0.1,
        income_median=8500.0,
        cadence_probs=(0.85, 0.0, 0.15, 0.0),
        rent_share=0.2,
        owner_prob=0.7,
        mortgage_share=0.18,
        household_base=2,
        household_extra=0.8,
        trips_per_year=5.0,
        savings_mean=0.25,
        credit_beta=(2.0, 4.0),
        overdraft_beta=(1.0, 12.0),
        logins_per_day=0.5,
        weekend_skew=1.5,
        buffer_months=4.0,
        subscriptions_mean=3.0,
        web_share=0.3,
    ),
    SegmentSpec(
        name="retiree",
        share=0.16,
        income_median=1700.0,
        cadence_probs=(0.0, 0.0, 0.0, 1.0),
        rent_share=0.25,
        owner_prob=0.6,
        mortgage_share=0.0,
        household_base=1,
        household_extra=0.5,
        trips_per_year=2.0,
        savings_mean=0.1,
        credit_beta=(1.2, 6.0),
        overdraft_beta=(1.2, 8.0),
        logins_per_day=0.2,
        weekend_skew=1.0,
        buffer_months=3.0,
        subscriptions_mean=1.2,
        web_share=0.5,
    ),
    SegmentSpec(
        name="stretched",
        share=0.15,
        income_median=1700.0,
        cadence_probs=(0.5, 0.2, 0.3, 0.0),
        rent_share=0.4,
        owner_prob=0.05,
        mortgage_share=0.3,
        household_base=1,
        household_extra=1.0,
        trips_per_year=0.4,
        savings_mean=0.0,
        credit_beta=(5.0, 3.0),
        overdraft_beta=(6.0, 3.0),
        logins_per_day=1.0,
        weekend_skew=1.4,
        buffer_months=0.15,
        subscriptions_mean=2.5,
        web_share=0.15,
    ),
)


@dataclass(frozen=True)
class Subscription:
    """A monthly card subscription charged on ``day`` of each month (capped at the month's end)."""

    merchant: str
    amount: float
    day: int
    mcc: str


@dataclass(frozen=True, eq=False)
class CustomerTraits:
    """Latent traits of one customer; amounts are EUR a month unless a name says otherwise.

    Attributes:
        customer_id: stable id, ``cust-00000`` to ``cust-NNNNN`` in population order.
        index: position in the population.
        segment: name of the customer's :class:`SegmentSpec`.
        home: home country, city and time zone.
        monthly_income: expected net income a month.
        pay_cadence: one of :data:`PAY_CADENCES`.
        pay_day: day of the month for "monthly" and "pension" pay, where 31 means the
            last business day. For "biweekly" pay, the phase in days (0 or 7) of the
            fortnightly Friday. Unused for "irregular" pay.
        employer: name on salary credits (client name on freelance invoices).
        family_support: monthly transfer from family, in EUR (students), else 0.
        rent, rent_day, landlord: monthly rent (0 for owners) and standing order.
        mortgage: monthly mortgage repayment (0 for renters and paid-off homes).
        utilities: monthly energy, phone and internet direct debits together.
        subscriptions: card subscriptions.
        loan_installment: monthly consumer-loan installment (0 without a loan).
        card_repayment: typical monthly credit-card repayment (0 without a card).
        bnpl_per_month: expected buy-now-pay-later installments a month.
        savings_transfer: monthly standing order to the customer's savings account, in
            EUR; a saver moves part of the planned savings there (0 for non-savers).
        savings_transfer_day: day of the month of that standing order.
        budgets: monthly discretionary budget by engine category.
        merchants: favourite merchants by engine category.
        weekend_skew: weekend to weekday intensity of dining, entertainment and shopping.
        trips_per_year: expected trips abroad a year.
        savings_rate: planned share of income left unspent (negative: spends more than
            earns).
        credit_appetite, overdraft_tendency: in [0, 1].
        overdraft_limit: arranged overdraft in EUR; card payments that would take the
            balance below minus this are declined.
        logins_per_day: expected app opens a day.
        web_share: share of app opens through web banking; 2% of the rest come from a
            wearable, the others from the mobile app.
        household_size: people fed from the grocery budget.
        starting_balance: current-account balance when the history starts.
        latent: raw (unstandardised) trait values in :data:`TRAIT_NAMES` order.
    """

    customer_id: str
    index: int
    segment: str
    home: Place
    monthly_income: float
    pay_cadence: str
    pay_day: int
    employer: str
    family_support: float
    rent: float
    rent_day: int
    landlord: str
    mortgage: float
    utilities: float
    subscriptions: tuple[Subscription, ...]
    loan_installment: float
    card_repayment: float
    bnpl_per_month: float
    savings_transfer: float
    savings_transfer_day: int
    budgets: dict[str, float]
    merchants: dict[str, tuple[Merchant, ...]]
    weekend_skew: float
    trips_per_year: float
    savings_rate: float
    credit_appetite: float
    overdraft_tendency: float
    overdraft_limit: float
    logins_per_day: float
    web_share: float
    household_size: int
    starting_balance: float
    latent: tuple[float, ...]


@dataclass(frozen=True, eq=False)
class Population:
    """Customers and their standardised latent traits.

    Attributes:
        customers: one :class:`CustomerTraits` per customer, in id order.
        latent: shape (n_customers, len(TRAIT_NAMES)); traits standardised to mean 0 and
            standard deviation 1 over this population (0 where a trait does not vary).
    """

    customers: tuple[CustomerTraits, ...]
    latent: np.ndarray

    @property
    def customer_ids(self) -> list[str]:
        """Customer ids in population order."""
        return [customer.customer_id for customer in self.customers]


def sample_population(n_customers: int, rng: np.random.Generator) -> Population:
    """Draw ``n_customers`` customers from :data:`SEGMENTS`.

    Args:
        n_customers: population size, at least 1.
        rng: the only source of randomness; the same generator state gives the same
            population.

    Raises:
        InvalidInputError: ``n_customers`` is below 1.
    """
    if not isinstance(n_customers, int) or n_customers < 1:
        raise InvalidInputError(f"n_customers must be an int >= 1; got {n_customers!r}")
    shares = np.array([segment.share for segment in SEGMENTS])
    segment_index = rng.choice(len(SEGMENTS), size=n_customers, p=shares / shares.sum())
    customers = tuple(
        _sample_customer(index, SEGMENTS[int(segment_index[index])], rng) for index in range(n_customers)
    )
    raw = np.array([customer.latent for customer in customers], dtype=float)
    return Population(customers=customers, latent=_standardise(raw))


def _standardise(raw: np.ndarray) -> np.ndarray:
    mean = raw.mean(axis=0)
    std = raw.std(axis=0)
    scale = np.where(std > 1e-9, std, 1.0)
    return (raw - mean) / scale


def _choose(rng: np.random.Generator, weights: list[float] | tuple[float, ...]) -> int:
    probabilities = np.asarray(weights, dtype=float)
    return int(rng.choice(len(probabilities), p=probabilities / probabilities.sum()))


def _sample_customer(index: int, segment: SegmentSpec, rng: np.random.Generator) -> CustomerTraits:
    home = HOME_COUNTRIES[_choose(rng, [place.weight for place in HOME_COUNTRIES])]
    income = segment.income_median * math.exp(rng.normal(0.0, 0.25))
    cadence = PAY_CADENCES[_choose(rng, segment.cadence_probs)]
    if cadence == "biweekly":
        pay_day = int(rng.choice((0, 7)))
    elif cadence == "irregular":
        pay_day = 0
    elif segment.name == "student":
        pay_day = int(rng.choice((1, 15)))
    else:
        pay_day = int(rng.choice((1, 15, 25, 27, 28, LAST_DAY_OF_MONTH), p=(0.15, 0.05, 0.2, 0.15, 0.15, 0.3)))
    stability = {"monthly": 0.9, "biweekly": 0.8, "pension": 0.95, "irregular": 0.3}[cadence]
    stability += rng.normal(0.0, 0.05)
    family_support = income * 0.35 if segment.name == "student" else 0.0

    household = segment.household_base + int(rng.poisson(segment.household_extra))
    owner = rng.random() < segment.owner_prob
    rent = 0.0 if owner else income * segment.rent_share * math.exp(rng.normal(0.0, 0.15))
    mortgage = income * segment.mortgage_share * math.exp(rng.normal(0.0, 0.15)) if owner else 0.0
    utilities = (45.0 + 30.0 * household) * math.exp(rng.normal(0.0, 0.2))

    n_subscriptions = min(len(SUBSCRIPTION_PLANS), int(rng.poisson(segment.subscriptions_mean)))
    plans = rng.choice(len(SUBSCRIPTION_PLANS), size=n_subscriptions, replace=False)
    subscriptions = tuple(_subscription(SUBSCRIPTION_PLANS[int(plan)], rng) for plan in sorted(plans))

    credit = float(rng.beta(*segment.credit_beta))
    overdraft = float(rng.beta(*segment.overdraft_beta))
    loan_installment = income * rng.uniform(0.05, 0.12) if rng.random() < credit**1.5 else 0.0
    card_repayment = income * 0.12 * credit * math.exp(rng.normal(0.0, 0.3)) if rng.random() < 0.3 + 0.6 * credit else 0.0
    bnpl_per_month = 6.0 * max(0.0, credit - 0.4) ** 1.2

    savings_propensity = segment.savings_mean + rng.normal(0.0, 0.05)
    savings_rate = savings_propensity - 0.12 * overdraft
    trips = segment.trips_per_year * math.exp(rng.normal(0.0, 0.7))
    logins = segment.logins_per_day * math.exp(rng.normal(0.0, 0.6))
    weekend_skew = segment.weekend_skew * math.exp(rng.normal(0.0, 0.45))
    overdraft_limit = float(round(income * (0.3 + 0.5 * overdraft), -1)) if overdraft > 0.3 else 0.0
    starting_balance = income * segment.buffer_months * math.exp(rng.normal(0.0, 0.4)) * (1.0 - overdraft)

    fixed = rent + mortgage + utilities + sum(s.amount for s in subscriptions) + loan_installment + card_repayment
    fixed += bnpl_per_month * 45.0
    # The discretionary budget keeps at least a fifth of income for food and daily life,
    # so a stretched customer with high fixed costs ends up spending more than earned.
    daily_life = 0.2 * (income + family_support)
    discretionary = max(daily_life, (income + family_support) * (1.0 - savings_rate) - fixed)
    # Frequent travellers also spend on travel between trips: long-distance trains,
    # coaches, airport parking and hotels at home.
    travel_budget = min(0.5 * discretionary, 30.0 * trips * (income / 3000.0) ** 0.5)
    # Trips abroad are paid from the same plan: their expected cost comes off the budgets
    # at home, which are raised for the days abroad, when spending at home nearly stops.
    # Daily life keeps its fifth of income, so a heavy traveller on a tight plan overspends.
    trip_cost = expected_monthly_trip_cost(trips, income, home)
    at_home = max(daily_life, discretionary - travel_budget - trip_cost)
    budgets = _budgets(at_home, household, weekend_skew, rng)
    budgets["travel"] = travel_budget
    at_home_share = 1.0 - (1.0 - HOME_SPEND_WHILE_AWAY) * away_share(trips)
    budgets = {name: budget / at_home_share for name, budget in budgets.items()}

    merchants = {
        "groceries": tuple(
            Merchant(name, "5411", 0.0) for name in rng.choice(GROCERS[home.country], size=2, replace=False)
        )
    }
    for category, options in DISCRETIONARY_MERCHANTS.items():
        picks = rng.choice(len(options), size=min(3, len(options)), replace=False)
        merchants[category] = tuple(options[int(pick)] for pick in picks)

    # Savers pay themselves first: a standing order the day after payday moves part of the
    # planned savings out of the current account, where the rest builds up.
    savings_transfer = 0.0
    if savings_rate > SAVER_RATE:
        savings_transfer = float(round(savings_rate * (income + family_support) * rng.uniform(0.4, 0.9), -1))
    savings_transfer_day = pay_day + 1 if cadence in ("monthly", "pension") and pay_day < 28 else 1

    latent = (
        math.log(income + family_support),
        stability,
        math.log1p(trips),
        savings_propensity,
        credit,
        overdraft,
        math.log(logins),
        float(household),
        math.log(weekend_skew),
    )
    return CustomerTraits(
        customer_id=f"cust-{index:05d}",
        index=index,
        segment=segment.name,
        home=home,
        monthly_income=income,
        pay_cadence=cadence,
        pay_day=pay_day,
        employer=EMPLOYERS[int(rng.integers(len(EMPLOYERS)))],
        family_support=family_support,
        rent=rent,
        rent_day=int(rng.choice((1, 1, 1, 3, 5))),
        landlord=LANDLORDS[int(rng.integers(len(LANDLORDS)))],
        mortgage=mortgage,
        utilities=utilities,
        subscriptions=subscriptions,
        loan_installment=loan_installment,
        card_repayment=card_repayment,
        bnpl_per_month=bnpl_per_month,
        savings_transfer=savings_transfer,
        savings_transfer_day=savings_transfer_day,
        budgets=budgets,
        merchants=merchants,
        weekend_skew=weekend_skew,
        trips_per_year=trips,
        savings_rate=savings_rate,
        credit_appetite=credit,
        overdraft_tendency=overdraft,
        overdraft_limit=overdraft_limit,
        logins_per_day=logins,
        web_share=segment.web_share,
        household_size=household,
        starting_balance=starting_balance,
        latent=latent,
    )


def _subscription(plan: SubscriptionPlan, rng: np.random.Generator) -> Subscription:
    return Subscription(merchant=plan.name, amount=plan.price, day=int(rng.integers(1, 29)), mcc=plan.mcc)


def _budgets(discretionary: float, household: int, weekend_skew: float, rng: np.random.Generator) -> dict[str, float]:
    shares = dict(_BASE_SHARES)
    shares["groceries"] = min(0.55, shares["groceries"] + 0.06 * (household - 1))
    # Weekend spenders go out more overall, not only on other days.
    for name in ("dining", "entertainment", "shopping"):
        shares[name] *= weekend_skew**0.5
    noisy = {name: share * math.exp(rng.normal(0.0, 0.3)) for name, share in shares.items()}
    total = sum(noisy.values())
    return {name: discretionary * share / total for name, share in noisy.items()}
