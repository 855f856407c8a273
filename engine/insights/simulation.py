"""Simulated customers for insight measurements: events, time zones and ground truth.

Wraps :class:`envs.bank.SyntheticBank` so that the benchmark, the segment training and the
accuracy tests draw customers the same way: a population from ``seed``, each customer's
events from the start of the simulation (no warm-up) up to ``days`` later.

The simulator keeps each customer's standard-time UTC offset all year, so the customer's
zone here is the matching fixed-offset ``Etc/GMT`` zone, not the home country's IANA
zone with daylight saving time.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from engine.errors import InvalidInputError
from engine.events import TransactionEvent
from engine.profile import CustomerProfile
from engine.insights.state import set_insight_time_zone
from envs.bank import DEFAULT_START, SyntheticBank
from envs.merchants import UTILITY_PROVIDERS
from envs.population import CustomerTraits
from envs.transactions import BANK_NAME, SAVINGS_ACCOUNT

__all__ = ["SimulatedCustomer", "customer_zone", "simulate_customers", "simulate_profiles", "scheduled_payees"]


@dataclass
class SimulatedCustomer:
    """One simulated customer.

    Attributes:
        traits: the simulator's ground truth for the customer.
        time_zone: the customer's fixed-offset zone.
        events: the customer's events in time order.
        profile: the profile built from ``events`` (only from :func:`simulate_profiles`).
    """

    traits: CustomerTraits
    time_zone: ZoneInfo
    events: list[Any]
    profile: CustomerProfile | None = None


def customer_zone(traits: CustomerTraits) -> ZoneInfo:
    """Return the fixed-offset zone of the customer's home (Etc/GMT signs are inverted: UTC+1 is Etc/GMT-1)."""
    offset = traits.home.utc_offset_hours
    return ZoneInfo("UTC" if offset == 0 else f"Etc/GMT{-offset:+d}")


def simulate_customers(n_customers: int, *, days: int, seed: int) -> Iterator[SimulatedCustomer]:
    """Yield ``n_customers`` simulated customers with ``days`` days of events each.

    Raises:
        InvalidInputError: ``days`` is below 1.
    """
    from engine.config.loader import load_catalog, load_reward_config

    if days < 1:
        raise InvalidInputError(f"days must be at least 1; got {days}")
    bank = SyntheticBank(load_catalog(), load_reward_config(), n_customers=n_customers, seed=seed, warmup_days=0)
    until = DEFAULT_START + timedelta(days=days)
    for customer_id in bank.customer_ids:
        traits = bank.customer(customer_id)
        yield SimulatedCustomer(traits, customer_zone(traits), bank.events_until(customer_id, until))


def simulate_profiles(n_customers: int, *, days: int, seed: int) -> Iterator[SimulatedCustomer]:
    """Yield simulated customers with their profiles built event by event (insight state in local days)."""
    for customer in simulate_customers(n_customers, days=days, seed=seed):
        profile = CustomerProfile(customer.traits.customer_id)
        set_insight_time_zone(profile, customer.time_zone)
        for event in customer.events:
            profile.apply(event, category=event.category if isinstance(event, TransactionEvent) else None)
        customer.profile = profile
        yield customer


def scheduled_payees(traits: CustomerTraits) -> set[tuple[str, str]]:
    """Return the (payee, category) pairs the simulator debits on a fixed schedule for this customer.

    Subscriptions, rent, mortgage and consumer-loan instalments, card repayments, standing
    orders to savings and utility bills. Buy-now-pay-later instalments (random days) and
    overdraft interest (only after an overdrawn month) are left out.
    """
    payees = {(subscription.merchant, "subscriptions") for subscription in traits.subscriptions}
    if traits.rent > 0:
        payees.add((traits.landlord, "rent"))
    if traits.mortgage > 0 or traits.loan_installment > 0:
        payees.add((BANK_NAME, "loan_repayment"))
    if traits.card_repayment > 0:
        payees.add(("OFFERLOOP CARD SERVICES", "loan_repayment"))
    if traits.savings_transfer > 0:
        payees.add((SAVINGS_ACCOUNT, "transfers_out"))
    for provider, _ in UTILITY_PROVIDERS:
        payees.add((provider, "utilities"))
    return payees
