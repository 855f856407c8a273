"""Trips abroad in the simulator: their length, their spending and their expected cost.

:class:`envs.transactions.CustomerStream` plans trips with these figures.
:mod:`envs.population` uses :func:`expected_monthly_trip_cost` and :func:`away_share` so
that a customer's trips are paid from the same planned spending as life at home. Without
that, a frequent traveller spends well beyond the savings plan, and the ``savings`` trait
does not show in what the account keeps.
"""

from __future__ import annotations

import math

from envs.merchants import ABROAD_MERCHANTS, DESTINATIONS, TRAVEL_BOOKING_MERCHANTS, Place

__all__ = [
    "TRIP_BASE_DAYS",
    "TRIP_EXTRA_DAYS",
    "BOOKINGS_PER_TRIP",
    "BOOKING_SPREAD",
    "PURCHASES_PER_DAY_ABROAD",
    "ABROAD_SPREAD",
    "CASH_WITHDRAWAL_PROBABILITY",
    "ABROAD_CASH_NOTES",
    "FX_FEE_RATE",
    "HOME_SPEND_WHILE_AWAY",
    "HOME_CURRENCY",
    "price_level",
    "expected_trip_cost",
    "expected_monthly_trip_cost",
    "away_share",
]

# A trip lasts TRIP_BASE_DAYS + Poisson(TRIP_EXTRA_DAYS) days.
TRIP_BASE_DAYS = 2
TRIP_EXTRA_DAYS = 4.0
# Flights and lodging: this many distinct booking merchants per trip, each paid its
# ticket times the price level times a lognormal(mu, sigma) spread.
BOOKINGS_PER_TRIP = 2
BOOKING_SPREAD = (-0.05, 0.3)
# Card purchases on each day abroad: Poisson count, lognormal(mu, sigma) spread on the ticket.
PURCHASES_PER_DAY_ABROAD = 2.5
ABROAD_SPREAD = (-0.1, 0.45)
CASH_WITHDRAWAL_PROBABILITY = 0.3
ABROAD_CASH_NOTES = (50, 100, 200)
# Fee on card spend in a currency other than the account's.
FX_FEE_RATE = 0.0175
# Everyday spending at home falls to this share on days abroad.
HOME_SPEND_WHILE_AWAY = 0.15
HOME_CURRENCY = "EUR"
_DAYS_PER_MONTH = 30.4


def price_level(monthly_income: float) -> float:
    """Return the factor on booking prices for a customer with this monthly income (0.71 to 1.58)."""
    return min(2.5, max(0.5, monthly_income / 3000.0)) ** 0.5


def _lognormal_mean(spread: tuple[float, float]) -> float:
    mu, sigma = spread
    return math.exp(mu + sigma * sigma / 2.0)


def expected_trip_cost(monthly_income: float, home: Place) -> float:
    """Return the expected spend of one trip in EUR: bookings, purchases, FX fees and cash abroad."""
    booking_ticket = sum(merchant.ticket for merchant in TRAVEL_BOOKING_MERCHANTS) / len(TRAVEL_BOOKING_MERCHANTS)
    bookings = BOOKINGS_PER_TRIP * booking_ticket * price_level(monthly_income) * _lognormal_mean(BOOKING_SPREAD)

    destinations = [place for place in DESTINATIONS if place.country != home.country]
    total_weight = sum(place.weight for place in destinations)
    foreign_share = sum(place.weight for place in destinations if place.currency != HOME_CURRENCY) / total_weight
    abroad_ticket = sum(ticket for _, _, _, ticket in ABROAD_MERCHANTS) / len(ABROAD_MERCHANTS)
    purchases = PURCHASES_PER_DAY_ABROAD * abroad_ticket * _lognormal_mean(ABROAD_SPREAD) * (1.0 + FX_FEE_RATE * foreign_share)
    cash = CASH_WITHDRAWAL_PROBABILITY * sum(ABROAD_CASH_NOTES) / len(ABROAD_CASH_NOTES)
    return bookings + (TRIP_BASE_DAYS + TRIP_EXTRA_DAYS) * (purchases + cash)


def expected_monthly_trip_cost(trips_per_year: float, monthly_income: float, home: Place) -> float:
    """Return the expected trip spend per month in EUR for ``trips_per_year`` trips."""
    return trips_per_year / 12.0 * expected_trip_cost(monthly_income, home)


def away_share(trips_per_year: float) -> float:
    """Return the expected share of days spent abroad, capped at 0.9."""
    return min(0.9, trips_per_year * (TRIP_BASE_DAYS + TRIP_EXTRA_DAYS) / (12.0 * _DAYS_PER_MONTH))
