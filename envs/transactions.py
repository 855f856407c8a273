"""Lazy, time-ordered event stream of one simulated customer.

:class:`CustomerStream` plans two weeks of the customer's local calendar at a time:
salary, rent, direct debits, subscriptions, card spending, cash, trips abroad, app opens,
geo pings and weekly balance snapshots. It sorts the plan and books it against a running
balance kept in cents. Card payments and cash withdrawals that would take the balance below the
arranged overdraft limit are declined and emit no event. Direct debits, standing orders
and recurring card subscriptions always book, so they are what pushes a stretched
customer into an unarranged overdraft.

Scheduled payments follow bank practice: salaries and pensions that fall on a weekend are
paid the Friday before, standing orders and direct debits the Monday after. Card
subscriptions are charged on their day, weekend or not.

All amounts are EUR. Spend abroad is generated as the EUR amount the card booked, and
spend in another currency adds a separate FX fee. The simulator uses each customer's standard-time UTC offset all year and ignores
daylight saving time.
"""

from __future__ import annotations

import calendar
import functools
import math
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import numpy as np

from pydantic import TypeAdapter

from engine.events import Event
from envs.arrivals import LoginSchedule
from envs.merchants import ABROAD_MERCHANTS, DESTINATIONS, TRAVEL_BOOKING_MERCHANTS, UTILITY_PROVIDERS, Place
from envs.population import LAST_DAY_OF_MONTH, CustomerTraits
from envs.trips import (
    ABROAD_CASH_NOTES,
    ABROAD_SPREAD,
    BOOKING_SPREAD,
    BOOKINGS_PER_TRIP,
    CASH_WITHDRAWAL_PROBABILITY,
    FX_FEE_RATE,
    HOME_SPEND_WHILE_AWAY,
    PURCHASES_PER_DAY_ABROAD,
    TRIP_BASE_DAYS,
    TRIP_EXTRA_DAYS,
    price_level,
)

__all__ = ["BLOCK_DAYS", "CustomerStream"]

BLOCK_DAYS = 14
SECONDS_PER_DAY = 86400
CURRENCY = "EUR"
BANK_NAME = "OFFERLOOP BANK"
SAVINGS_ACCOUNT = "OFFERLOOP SAVINGS"
GEO_PING_ON_LOGIN = 0.6
DAYS_PER_MONTH = 30.4
_UTC = timezone.utc
_EVENTS: TypeAdapter[list[Any]] = TypeAdapter(list[Event])
# A Friday, used as the phase reference of fortnightly pay.
_BIWEEKLY_REFERENCE = date(2024, 1, 5)

# Item kinds, in the order they are booked when two items share a second.
_CREDIT, _DEBIT, _CARD, _CASH, _FEE_CHECK, _GEO, _LOGIN, _SNAPSHOT = range(8)

# Relative intensity of each everyday card category by weekday (Monday first). Each
# customer multiplies the weekend weights of the weekend-sensitive categories by their
# weekend skew, then rescales the week to a mean of 1.
_WEEKEND_SENSITIVE = ("dining", "shopping", "entertainment")
_DAY_WEIGHTS: dict[str, tuple[float, ...]] = {
    "groceries": (0.9, 0.9, 0.9, 1.0, 1.2, 1.6, 0.3),
    "dining": (1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0),
    "transport": (1.15, 1.15, 1.15, 1.15, 1.15, 0.6, 0.6),
    "shopping": (1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0),
    "entertainment": (1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0),
    "health": (1.4, 1.4, 1.4, 1.4, 1.4, 0.0, 0.0),
    "cash": (1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0),
    "travel": (0.9, 0.8, 0.8, 1.0, 1.5, 0.8, 1.2),
}
# Local hours between which each category's payments happen, uniformly.
_HOURS: dict[str, tuple[float, float]] = {
    "groceries": (8.0, 21.0),
    "dining": (11.5, 23.0),
    "transport": (6.5, 20.0),
    "shopping": (9.5, 21.0),
    "entertainment": (15.0, 23.5),
    "health": (8.5, 18.0),
    "cash": (8.0, 22.0),
    "travel": (6.0, 22.0),
}
# Statement month names, fixed in English whatever the process locale.
_MONTH_NAMES = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
# Cash withdrawal amounts in EUR, drawn uniformly.
_CASH_NOTES = (20, 50, 50, 100, 100, 200)
# Choices per card category: six divides evenly by the 2 grocers, the 3 favourite
# merchants and the 6 cash amounts, so each is equally likely.
_CARD_CHOICES = 6


def _money(cents: int) -> Decimal:
    return Decimal(cents).scaleb(-2)


def _cents(euros: float) -> int:
    return int(round(euros * 100.0))


class CustomerStream:
    """Generates one customer's events lazily, in time order, from ``origin`` on.

    Args:
        traits: the customer.
        logins: the customer's login schedule, shared with the arrival process.
        rng: generator used only for this stream.
        origin: first instant of the history (aware); nothing earlier is emitted.
        event_prefix: prefix of every event id; ids are ``<prefix><counter>``, unique
            within the stream.
    """

    def __init__(
        self,
        traits: CustomerTraits,
        logins: LoginSchedule,
        rng: np.random.Generator,
        *,
        origin: datetime,
        event_prefix: str,
    ) -> None:
        self.traits = traits
        self._logins = logins
        self._rng = rng
        self._origin = origin.timestamp()
        self._origin_date = origin.date()
        self._offset = traits.home.utc_offset_hours * 3600.0
        self._prefix = event_prefix
        self._account = f"acc-{traits.customer_id}-main"
        self._counter = 0
        self._block = 0
        self._pending: list[Any] = []
        self.balance_cents = _cents(traits.starting_balance)
        self._month_min_cents = self.balance_cents
        self._subscription_prices = [sub.amount for sub in traits.subscriptions]
        self._trips: list[tuple[int, int, Place]] = []
        self._destinations = [place for place in DESTINATIONS if place.country != traits.home.country]
        weights = np.array([place.weight for place in self._destinations])
        self._destination_p = weights / weights.sum()
        self._invoice_number = 1000 + traits.index * 7
        self._city = traits.home.city.upper()
        self._grocery_ticket = self._ticket("groceries")
        rates = self._daily_rates()
        self._categories = list(rates)
        self._rate_vector = np.array([rates[name] for name in self._categories])
        # Row w: relative intensity of each category on weekday w (0 = Monday).
        self._weight_matrix = np.array([self._day_weights(name) for name in self._categories]).T
        self._hour_start = np.array([_HOURS[name][0] for name in self._categories])
        self._hour_length = np.array([_HOURS[name][1] - _HOURS[name][0] for name in self._categories])
        self._build_card_table()

    # ------------------------------------------------------------------ public
    @property
    def generated_until(self) -> float:
        """Epoch seconds up to which the stream has planned and booked every event."""
        return self._local_midnight(self._block * BLOCK_DAYS)

    def events_until(self, until: float) -> list[Any]:
        """Return the events after the previous call's cut-off and at or before ``until`` (epoch seconds)."""
        while self.generated_until <= until:
            self._pending.extend(self._book_block())
        cut = 0
        while cut < len(self._pending) and self._pending[cut].ts.timestamp() <= until:
            cut += 1
        ready = self._pending[:cut]
        del self._pending[:cut]
        return ready

    # --------------------------------------------------------------- planning
    def _local_midnight(self, day: int) -> float:
        return self._origin - self._offset + day * SECONDS_PER_DAY

    def _daily_rates(self) -> dict[str, float]:
        """Return the mean number of card payments a day for each planned category."""
        traits = self.traits
        rates = {}
        for category, budget in traits.budgets.items():
            rates[category] = budget / DAYS_PER_MONTH / self._ticket(category)
        return rates

    def _ticket(self, category: str) -> float:
        if category == "groceries":
            return 18.0 + 9.0 * self.traits.household_size
        if category == "cash":
            return sum(_CASH_NOTES) / len(_CASH_NOTES)
        merchants = self.traits.merchants[category]
        return sum(merchant.ticket for merchant in merchants) / len(merchants)

    def _day_weights(self, category: str) -> tuple[float, ...]:
        weights = list(_DAY_WEIGHTS[category])
        if category in _WEEKEND_SENSITIVE:
            weights[5] *= self.traits.weekend_skew
            weights[6] *= self.traits.weekend_skew
        scale = 7.0 / sum(weights)
        return tuple(weight * scale for weight in weights)

    def _book_block(self) -> list[Any]:
        first_day = self._block * BLOCK_DAYS
        self._block += 1
        items: list[tuple[Any, ...]] = []
        self._plan_trips(first_day, items)
        trips = [self._trip_on(day) for day in range(first_day - 1, first_day + BLOCK_DAYS)]
        for offset in range(BLOCK_DAYS):
            self._plan_day(first_day + offset, trips[offset + 1], trips[offset], items)
        self._plan_card_spend(first_day, trips[1:], items)
        block_start = self._local_midnight(first_day)
        block_stop = self._local_midnight(first_day + BLOCK_DAYS)
        self._plan_logins(block_start, block_stop, items)
        items.sort(key=lambda item: (item[0], item[1], item[2]))
        return self._book(items)

    def _add(self, items: list[tuple[Any, ...]], stamp: float, kind: int, *payload: Any) -> None:
        items.append((math.floor(stamp), kind, len(items), *payload))

    def _plan_day(self, day: int, trip: Place | None, trip_before: Place | None, items: list[tuple[Any, ...]]) -> None:
        """Plan one local day's scheduled payments, trip activity and balance snapshot."""
        traits = self.traits
        rng = self._rng
        today = self._origin_date + timedelta(days=day)
        midnight = self._local_midnight(day)

        self._plan_income(today, midnight, items)
        self._plan_fixed_costs(today, midnight, items)
        if _is_debit_day(today, 1):
            # Before the day's salary (02:00) and debits (04:00), so last month's lowest
            # balance does not include them.
            self._add(items, midnight + 1 * 3600, _FEE_CHECK, today)
        if trip is not None:
            self._plan_trip_day(trip, midnight, items)
        elif trip_before is not None:
            home = traits.home
            self._add(items, midnight + rng.uniform(10, 20) * 3600, _GEO, home.country, home.lat, home.lon)
        if today.weekday() == 6:
            self._add(items, midnight + 23 * 3600, _SNAPSHOT)

    def _plan_income(self, today: date, midnight: float, items: list[tuple[Any, ...]]) -> None:
        traits = self.traits
        rng = self._rng
        month = _month_label(today.year, today.month)
        cadence = traits.pay_cadence
        if cadence in ("monthly", "pension") and _is_pay_day(today, traits.pay_day):
            amount = traits.monthly_income * (1.0 + rng.normal(0.0, 0.01))
            if cadence == "pension":
                self._add(
                    items, midnight + 2 * 3600, _CREDIT, _cents(amount), "other_income", "STATE PENSION FUND",
                    f"PENSION PAYMENT {month}", None,
                )
            else:
                if rng.random() < 0.05:
                    amount *= 1.5
                self._add(
                    items, midnight + 2 * 3600, _CREDIT, _cents(amount), "salary", traits.employer,
                    f"SALARY {month} {traits.employer}", None,
                )
        elif cadence == "biweekly" and today.weekday() == 4:
            if ((today - _BIWEEKLY_REFERENCE).days - traits.pay_day) % 14 == 0:
                amount = traits.monthly_income * 12.0 / 26.0 * (1.0 + rng.normal(0.0, 0.01))
                self._add(
                    items, midnight + 2 * 3600, _CREDIT, _cents(amount), "salary", traits.employer,
                    f"PAYROLL {today.isoformat()} {traits.employer}", None,
                )
        elif cadence == "irregular" and today.weekday() < 5:
            # About two invoices a month, of very different sizes, that average the income.
            if rng.random() < 2.0 / 21.7:
                amount = traits.monthly_income / 2.0 * float(rng.lognormal(-0.125, 0.5))
                self._invoice_number += 1
                client = f"CLIENT {chr(65 + int(rng.integers(0, 8)))}{int(rng.integers(10, 99))}"
                self._add(
                    items, midnight + rng.uniform(9, 17) * 3600, _CREDIT, _cents(amount), "transfers_in", client,
                    f"INVOICE {self._invoice_number} {client}", None,
                )
        if traits.family_support > 0 and _is_debit_day(today, 1):
            self._add(
                items, midnight + 8 * 3600, _CREDIT, _cents(traits.family_support), "transfers_in", "FAMILY",
                "STANDING ORDER FROM FAMILY", None,
            )

    def _plan_fixed_costs(self, today: date, midnight: float, items: list[tuple[Any, ...]]) -> None:
        traits = self.traits
        rng = self._rng
        month = _month_label(today.year, today.month)
        if traits.rent > 0 and _is_debit_day(today, traits.rent_day):
            self._add(
                items, midnight + 4 * 3600, _DEBIT, -_cents(traits.rent), "rent", traits.landlord,
                f"RENT {month} {traits.landlord}", None,
            )
        if traits.mortgage > 0 and _is_debit_day(today, 1):
            self._add(
                items, midnight + 4 * 3600, _DEBIT, -_cents(traits.mortgage), "loan_repayment", BANK_NAME,
                f"MORTGAGE INSTALMENT {month}", None,
            )
        if traits.loan_installment > 0 and _is_debit_day(today, 3):
            self._add(
                items, midnight + 4 * 3600, _DEBIT, -_cents(traits.loan_installment), "loan_repayment", BANK_NAME,
                f"CONSUMER LOAN INSTALMENT {month}", None,
            )
        if traits.savings_transfer > 0 and _is_debit_day(today, traits.savings_transfer_day):
            self._add(
                items, midnight + 5 * 3600, _DEBIT, -_cents(traits.savings_transfer), "transfers_out", SAVINGS_ACCOUNT,
                f"STANDING ORDER TO SAVINGS {month}", None,
            )
        if traits.card_repayment > 0 and _is_debit_day(today, 10):
            amount = traits.card_repayment * float(rng.lognormal(-0.03, 0.25))
            self._add(
                items, midnight + 4 * 3600, _DEBIT, -_cents(amount), "loan_repayment", "OFFERLOOP CARD SERVICES",
                f"CREDIT CARD REPAYMENT {month}", None,
            )
        for number, (provider, share) in enumerate(UTILITY_PROVIDERS):
            if _is_debit_day(today, 15 + 3 * number):
                amount = traits.utilities * share * float(rng.lognormal(0.0, 0.05))
                self._add(
                    items, midnight + 4 * 3600, _DEBIT, -_cents(amount), "utilities", provider,
                    f"DIRECT DEBIT {provider} {month}", "4814" if number else "4900",
                )
        last_day = calendar.monthrange(today.year, today.month)[1]
        for number, subscription in enumerate(traits.subscriptions):
            if today.day == min(subscription.day, last_day):
                # List prices drift a little from month to month (currency rounding,
                # promotions, small price rises).
                price = self._subscription_prices[number] * math.exp(rng.normal(0.0, 0.004))
                self._subscription_prices[number] = price
                # Recurring card charges are merchant-initiated and book like direct debits.
                self._add(
                    items, midnight + rng.uniform(3, 7) * 3600, _DEBIT, -_cents(price), "subscriptions",
                    subscription.merchant, f"{subscription.merchant} MONTHLY PLAN", subscription.mcc,
                )

    def _plan_card_spend(self, first_day: int, trips: list[Place | None], items: list[tuple[Any, ...]]) -> None:
        """Plan a block's everyday card spending, cash withdrawals and BNPL instalments at home."""
        traits = self.traits
        rng = self._rng
        weekday0 = (self._origin_date + timedelta(days=first_day)).weekday()
        weekdays = [(weekday0 + offset) % 7 for offset in range(BLOCK_DAYS)]
        away = np.array([HOME_SPEND_WHILE_AWAY if trip is not None else 1.0 for trip in trips])

        # rates: shape (BLOCK_DAYS, n_categories), expected payments per day and category.
        rates = self._weight_matrix[weekdays] * self._rate_vector * away[:, None]
        counts = rng.poisson(rates)
        total = int(counts.sum())
        if total:
            flat = counts.ravel()
            cells = np.repeat(np.arange(flat.size), flat)
            day_offsets = cells // len(self._categories)
            columns = cells % len(self._categories)
            hours = self._hour_start[columns] + rng.random(total) * self._hour_length[columns]
            stamps = np.floor(self._local_midnight(first_day) + day_offsets * SECONDS_PER_DAY + hours * 3600.0)
            spreads = rng.lognormal(-0.18, 0.6, total)
            picks = rng.integers(0, _CARD_CHOICES, total)

            tickets = self._card_tickets[columns, picks]
            amounts = np.where(self._card_is_cash[columns], tickets, tickets * spreads)
            cents = -np.rint(amounts * 100.0).astype(np.int64)
            table = self._card_table
            for stamp, column, pick, amount in zip(stamps.tolist(), columns.tolist(), picks.tolist(), cents.tolist()):
                kind, category, merchant, description, mcc = table[column][pick]
                items.append((stamp, kind, len(items), amount, category, merchant, description, mcc))

        if traits.bnpl_per_month > 0:
            draws = rng.random(BLOCK_DAYS)
            midnight0 = self._local_midnight(first_day)
            for offset in np.flatnonzero(draws < traits.bnpl_per_month / DAYS_PER_MONTH).tolist():
                # Below the threshold, draws[offset] / threshold is uniform on [0, 1), so it
                # doubles as the draw of the amount between 15 and 80 EUR.
                amount = 15.0 + 65.0 * float(draws[offset]) * DAYS_PER_MONTH / traits.bnpl_per_month
                reference = 100000 + (self._counter * 7919 + offset) % 900000
                self._add(
                    items, midnight0 + offset * SECONDS_PER_DAY + 6 * 3600, _DEBIT, -_cents(amount),
                    "loan_repayment", "KLARNA", f"KLARNA INSTALMENT {reference}", None,
                )

    def _build_card_table(self) -> None:
        """Precompute, per planned category, the six equally likely (merchant, ticket) choices."""
        city = self._city
        table: list[list[tuple[Any, ...]]] = []
        tickets = np.zeros((len(self._categories), _CARD_CHOICES))
        for column, category in enumerate(self._categories):
            row = []
            for pick in range(_CARD_CHOICES):
                if category == "cash":
                    row.append((_CASH, "cash", f"ATM {city}", f"CASH WITHDRAWAL ATM {city}", "6011"))
                    tickets[column, pick] = _CASH_NOTES[pick]
                    continue
                options = self.traits.merchants[category]
                merchant = options[pick % len(options)]
                row.append((_CARD, category, merchant.name, f"CARD PAYMENT {merchant.name} {city}", merchant.mcc))
                tickets[column, pick] = self._grocery_ticket if category == "groceries" else merchant.ticket
            table.append(row)
        self._card_table = table
        self._card_tickets = tickets
        self._card_is_cash = np.array([category == "cash" for category in self._categories])

    def _plan_logins(self, start: float, stop: float, items: list[tuple[Any, ...]]) -> None:
        """Plan the block's app opens; some report the phone's location two seconds before."""
        logins = self._logins.between(start, stop)
        if not logins:
            return
        home = self.traits.home
        day0 = self._local_midnight(0)
        pings = (self._rng.random(len(logins)) < GEO_PING_ON_LOGIN).tolist()
        jitter = self._rng.normal(0.0, 0.03, (len(logins), 2)).tolist()
        for (stamp, channel), ping, (dlat, dlon) in zip(logins, pings, jitter):
            items.append((stamp, _LOGIN, len(items), channel))
            if ping:
                trip = self._trip_on(int((stamp - day0) // SECONDS_PER_DAY))
                place = trip if trip is not None else home
                # Stay inside the block, whose start may already have been handed out.
                ping_at = max(stamp - 2, start)
                items.append((ping_at, _GEO, len(items), place.country, place.lat + dlat, place.lon + dlon))

    # ------------------------------------------------------------------ trips
    def _trip_on(self, day: int) -> Place | None:
        for first, last, place in self._trips:
            if first <= day <= last:
                return place
        return None

    def _plan_trips(self, first_day: int, items: list[tuple[Any, ...]]) -> None:
        """Book the block's new trips: flights and lodging are paid now, the trip starts 2 to 8 weeks later."""
        traits = self.traits
        rng = self._rng
        self._trips = [trip for trip in self._trips if trip[1] >= first_day - 1]
        count = int(rng.poisson(traits.trips_per_year * BLOCK_DAYS / 365.0))
        level = price_level(traits.monthly_income)
        for _ in range(count):
            start = first_day + int(rng.integers(14, 57))
            length = TRIP_BASE_DAYS + int(rng.poisson(TRIP_EXTRA_DAYS))
            place = self._destinations[int(rng.choice(len(self._destinations), p=self._destination_p))]
            self._trips.append((start, start + length - 1, place))
            booked_on = first_day + int(rng.integers(0, BLOCK_DAYS))
            midnight = self._local_midnight(booked_on)
            for merchant_index in rng.choice(len(TRAVEL_BOOKING_MERCHANTS), size=BOOKINGS_PER_TRIP, replace=False):
                merchant = TRAVEL_BOOKING_MERCHANTS[int(merchant_index)]
                amount = merchant.ticket * level * float(rng.lognormal(*BOOKING_SPREAD))
                self._add(
                    items, midnight + rng.uniform(19, 23) * 3600, _CARD, -_cents(amount), "travel", merchant.name,
                    f"CARD PAYMENT {merchant.name} BOOKING {place.city.upper()}", merchant.mcc,
                )

    def _plan_trip_day(self, place: Place, midnight: float, items: list[tuple[Any, ...]]) -> None:
        rng = self._rng
        city = place.city.upper()
        self._add(items, midnight + rng.uniform(8, 11) * 3600, _GEO, place.country, place.lat, place.lon)
        count = int(rng.poisson(PURCHASES_PER_DAY_ABROAD))
        picks = rng.integers(0, len(ABROAD_MERCHANTS), count)
        hours = rng.uniform(9, 23, count)
        spreads = rng.lognormal(*ABROAD_SPREAD, count)
        for pick, hour, spread in zip(picks, hours, spreads):
            category, template, mcc, ticket = ABROAD_MERCHANTS[int(pick)]
            name = template.format(city=city)
            cents = _cents(ticket * float(spread))
            stamp = midnight + hour * 3600
            description = f"CARD PAYMENT {name} {place.country}"
            if place.currency == CURRENCY:
                self._add(items, stamp, _CARD, -cents, category, name, description, mcc)
                continue
            fee_cents = max(1, round(cents * FX_FEE_RATE))
            fee = (-fee_cents, "fees", BANK_NAME, f"FX FEE {place.currency} {name}", None)
            self._add(items, stamp, _CARD, -cents, category, name, f"{description} {place.currency}", mcc, fee)
        if rng.random() < CASH_WITHDRAWAL_PROBABILITY:
            self._add(
                items, midnight + rng.uniform(10, 18) * 3600, _CASH, -int(rng.choice(ABROAD_CASH_NOTES)) * 100, "cash",
                f"ATM {city}", f"CASH WITHDRAWAL ATM {city} {place.country}", "6011",
            )

    # ---------------------------------------------------------------- booking
    def _book(self, items: list[tuple[Any, ...]]) -> list[Any]:
        """Turn planned items into events, updating the running balance; declined items vanish.

        Builds plain dicts and validates the whole block in one pydantic call, which is
        about a third cheaper than constructing the models one by one.
        """
        traits = self.traits
        customer_id = traits.customer_id
        prefix = self._prefix
        account = self._account
        limit = -_cents(traits.overdraft_limit)
        credit_limit = _money(_cents(traits.overdraft_limit)) if traits.overdraft_limit > 0 else None
        origin = self._origin
        counter = self._counter
        balance = self.balance_cents
        month_min = self._month_min_cents
        records: list[dict[str, Any]] = []
        for item in items:
            stamp = item[0]
            if stamp < origin:
                continue
            kind = item[1]
            if kind == _LOGIN:
                counter += 1
                records.append(
                    {"type": "login", "event_id": f"{prefix}{counter:07d}", "customer_id": customer_id,
                     "ts": datetime.fromtimestamp(stamp, _UTC), "channel": item[3]}
                )
                continue
            if kind == _GEO:
                counter += 1
                records.append(
                    {"type": "geo_ping", "event_id": f"{prefix}{counter:07d}", "customer_id": customer_id,
                     "ts": datetime.fromtimestamp(stamp, _UTC), "lat": round(item[4], 2), "lon": round(item[5], 2),
                     "country": item[3]}
                )
                continue
            if kind == _SNAPSHOT:
                counter += 1
                records.append(
                    {"type": "balance_snapshot", "event_id": f"{prefix}{counter:07d}", "customer_id": customer_id,
                     "ts": datetime.fromtimestamp(stamp, _UTC), "balance": _money(balance), "currency": CURRENCY,
                     "account_id": account, "credit_limit": credit_limit}
                )
                continue
            if kind == _FEE_CHECK:
                fee = _overdraft_fee(month_min, item[3])
                month_min = balance
                if fee is None:
                    continue
                payloads = [fee]
            else:
                payloads = [item[3:8]]
                if (kind == _CARD or kind == _CASH) and balance + item[3] < limit:
                    continue
                if len(item) > 8:
                    # A fee that books with its purchase, such as the FX fee of card spend
                    # in another currency. A declined purchase takes its fee with it.
                    payloads.append(item[8])
            for cents, category, merchant, description, mcc in payloads:
                balance += cents
                if balance < month_min:
                    month_min = balance
                counter += 1
                records.append(
                    {"type": "transaction", "event_id": f"{prefix}{counter:07d}", "customer_id": customer_id,
                     "ts": datetime.fromtimestamp(stamp, _UTC), "amount": _money(cents), "currency": CURRENCY,
                     "description": description, "merchant": merchant, "category": category, "mcc": mcc,
                     "account_id": account, "balance_after": _money(balance)}
                )
        self._counter = counter
        self.balance_cents = balance
        self._month_min_cents = month_min
        return _EVENTS.validate_python(records)


def _overdraft_fee(month_min_cents: int, today: date) -> tuple[Any, ...] | None:
    """Return the overdraft interest booked on ``today`` for last month's lowest balance, if it was negative."""
    if month_min_cents >= 0:
        return None
    # Interest on the lowest balance of the previous month, about 12% a year, plus a
    # fixed 2.50 for each month the account went overdrawn.
    cents = 250 + round(-month_min_cents * 0.01)
    previous = today.replace(day=1) - timedelta(days=1)
    return (-cents, "fees", BANK_NAME, f"OVERDRAFT INTEREST {_month_label(previous.year, previous.month)}", None)


def _shift_from_weekend(day: date, *, forward: bool) -> date:
    while day.weekday() >= 5:
        day += timedelta(days=1 if forward else -1)
    return day


@functools.lru_cache(maxsize=1024)
def _month_label(year: int, month: int) -> str:
    return f"{_MONTH_NAMES[month - 1]} {year}"


@functools.lru_cache(maxsize=4096)
def _pay_date(year: int, month: int, pay_day: int) -> date:
    """Return the salary or pension date: the day (or month end), moved back to a Friday if on a weekend."""
    last = calendar.monthrange(year, month)[1]
    day = last if pay_day >= LAST_DAY_OF_MONTH else min(pay_day, last)
    return _shift_from_weekend(date(year, month, day), forward=False)


@functools.lru_cache(maxsize=4096)
def _debit_date(year: int, month: int, debit_day: int) -> date:
    """Return the booking date of a standing order or direct debit: moved to Monday if on a weekend."""
    last = calendar.monthrange(year, month)[1]
    return _shift_from_weekend(date(year, month, min(debit_day, last)), forward=True)


@functools.lru_cache(maxsize=16384)
def _is_pay_day(today: date, pay_day: int) -> bool:
    # A pay date moved back from the 1st can fall in the previous month.
    following = (today.year + 1, 1) if today.month == 12 else (today.year, today.month + 1)
    return today == _pay_date(today.year, today.month, pay_day) or today == _pay_date(*following, pay_day)


@functools.lru_cache(maxsize=16384)
def _is_debit_day(today: date, debit_day: int) -> bool:
    # A debit moved forward from the month's last days can fall in the next month.
    previous = (today.year - 1, 12) if today.month == 1 else (today.year, today.month - 1)
    return today == _debit_date(today.year, today.month, debit_day) or today == _debit_date(*previous, debit_day)
