"""Recurring payments: series of payments to one payee at one amount level, and their cadence.

A *series* is the state of one candidate subscription, bill, salary or standing order: a
payee, a category, a direction, the last few payment days and amounts, and what was inferred from
them (cadence, next due day, expected amount, confidence). Payments to the same payee
at clearly different amounts (a mortgage and a consumer loan from the same bank) form
separate series, up to :data:`SLOTS_PER_PAYEE` per payee, category and direction.

Cadences are weekly, biweekly, monthly, quarterly and yearly. Gaps between payments
may deviate from the cadence by its tolerance, which absorbs weekend shifts and
month-end dates, and one gap in three may span two periods (a skipped payment). Monthly,
quarterly and yearly series also learn their day of the month (or "month end") and
whether payments due on a weekend move to the Friday before or the Monday after.

A *prior* in [0, 1] measures how much the text or category alone marks a payment as
scheduled (direct-debit words, rent, subscriptions). With a strong prior one payment is
enough to expect the next one a month later, at reduced confidence, and one payment
fewer is needed to confirm a cadence.

Confidence (formula): with ``g`` gaps that fit the cadence, prior ``p``, ``s`` skipped
periods, amount variation ``cv`` (standard deviation over mean) and amount tolerance
``tol``::

    confidence = (1 - 0.45 ** (g + p)) * max(0.3, 1 - cv / (2 * tol)) * 0.85 ** s

halved when the series has fewer payments than the cadence needs. Without a fitting
cadence it is ``0.55 * p`` for one or two payments and ``0.15 * p`` for more (irregular
payments contradict a schedule).

Series are plain dicts of msgpack-friendly values; the keys are the ``SERIES_*``
constants. Amounts are stored in cents, days as local day numbers
(:mod:`engine.insights.calendar`).
"""

from __future__ import annotations

import functools
import math
import re
import statistics
from collections.abc import Iterable, Mapping, MutableMapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from engine.categorize import fold
from engine.insights.calendar import (
    MONTH_END,
    add_months,
    anchored_date,
    date_day,
    day_date,
    move_off_weekend,
)
from engine.insights.config import RecurringConfig

__all__ = [
    "Cadence",
    "CADENCES",
    "SLOTS_PER_PAYEE",
    "RecurringPayment",
    "folded",
    "payee_key",
    "scheduled_prior",
    "observe_payment",
    "classify_series",
    "effective_status",
    "due_days",
    "confidence_and_due_days",
    "series_view",
    "find_recurring",
]

# Keys of a series dict.
SERIES_NAME = "m"
SERIES_CATEGORY = "c"
SERIES_DAYS = "d"
SERIES_AMOUNTS = "a"
SERIES_PRIOR = "p"
SERIES_CONFIDENCE = "cf"
SERIES_CADENCE = "cd"
SERIES_NEXT = "nx"
SERIES_NOMINAL_NEXT = "nn"
SERIES_EXPECTED = "ex"
SERIES_ANCHOR = "an"
SERIES_SHIFT = "sh"

SLOTS_PER_PAYEE = 3
# Payments of different sizes fewer than this many days apart never join one series.
MIN_GAP_DAYS = 4
_KEY_LENGTH = 32
_NAME_LENGTH = 60
NO_DAY = -1


@dataclass(frozen=True)
class Cadence:
    """A payment rhythm.

    Attributes:
        name: cadence id used in state and reports.
        days: mean period in days.
        tolerance: allowed deviation of one gap from the period, in days.
        months: period in calendar months (0 for cadences counted in days).
        min_payments: payments needed to confirm the cadence without a prior.
    """

    name: str
    days: float
    tolerance: float
    months: int
    min_payments: int


CADENCES: dict[str, Cadence] = {
    cadence.name: cadence
    for cadence in (
        Cadence("weekly", 7.0, 1.5, 0, 4),
        Cadence("biweekly", 14.0, 2.5, 0, 3),
        # Month lengths vary by 3 days and weekend shifts add up to 3 more.
        Cadence("monthly", 30.44, 4.5, 1, 3),
        Cadence("quarterly", 91.31, 8.0, 3, 3),
        Cadence("yearly", 365.25, 12.0, 12, 3),
    )
}
_ASSUMED = CADENCES["monthly"]

_MONTH_WORDS = (
    # English, German, Dutch, Spanish, French month names (folded), then unambiguous
    # abbreviations. "may", "mar", "jun" and "jul" are left out because they are also words.
    "january february march april june july august september october november december "
    "januar februar marz maerz mai juni juli oktober dezember "
    "januari februari maart mei augustus "
    "enero febrero marzo abril mayo junio julio agosto septiembre octubre noviembre diciembre "
    "janvier fevrier mars avril juin juillet aout septembre octobre novembre decembre "
    "jan feb apr aug sep sept oct okt nov dec dez "
    "period periode periodo zeitraum"
).split()
_PERIOD_PATTERN = re.compile(r"(?<![a-z0-9])(?:" + "|".join(sorted(set(_MONTH_WORDS), key=len, reverse=True)) + r")(?![a-z])")


@dataclass(frozen=True)
class RecurringPayment:
    """A detected subscription, bill, standing order or regular income.

    Attributes:
        merchant: payee or payer name as the bank shows it (normalised).
        cadence: one of :data:`CADENCES`.
        occurrences: payments seen (at most the state's ``max_occurrences``).
        expected_amount: expected size of the next payment, positive, in the account currency.
        last_date: local date of the latest payment.
        next_due: local date the next payment is expected.
        confidence: in [0, 1]; see the module docstring for the formula.
        category: the category of the latest payment.
        direction: "out" for debits, "in" for credits.
    """

    merchant: str
    cadence: str
    occurrences: int
    expected_amount: float
    last_date: date
    next_due: date
    confidence: float
    category: str | None = None
    direction: str = "out"


@functools.lru_cache(maxsize=8192)
def folded(text: str) -> str:
    """Return :func:`engine.categorize.fold` of ``text``, cached: payee names and texts repeat."""
    return fold(text)


def payee_key(merchant: str | None, description: str) -> str:
    """Return the grouping key of a payee: the folded merchant name, else the folded description.

    Returns "" when neither has letters or digits.
    """
    key = folded(merchant) if merchant else ""
    return (key or folded(description or ""))[:_KEY_LENGTH]


@functools.lru_cache(maxsize=8)
def _keyword_pattern(keywords: tuple[str, ...]) -> re.Pattern[str] | None:
    parts = []
    for keyword in keywords:
        wildcard = keyword.strip().endswith("*")
        core = fold(keyword.strip().rstrip("*"))
        if core:
            parts.append(re.escape(core) + (r"[a-z0-9]*" if wildcard else ""))
    if not parts:
        return None
    return re.compile(r"(?<![a-z0-9])(?:" + "|".join(parts) + r")(?![a-z0-9])")


def scheduled_prior(description: str, category: str | None, config: RecurringConfig) -> float:
    """Return how strongly a debit's text or category alone marks it as a scheduled payment, in [0, 1].

    The larger of the category's prior in ``config.scheduled_categories`` and the text
    rules: 1.0 for a direct-debit word, ``config.period_mention_prior`` for text naming
    a month or billing period. A card-purchase word cancels the text rules. 0.0 when
    nothing applies.
    """
    prior = config.scheduled_categories.get(category or "", 0.0)
    if prior >= 1.0:
        return prior
    text = folded(description or "")
    purchase = _keyword_pattern(config.card_purchase_keywords)
    if purchase is not None and purchase.search(text):
        return prior
    debit = _keyword_pattern(config.direct_debit_keywords)
    if debit is not None and debit.search(text):
        return 1.0
    if config.period_mention_prior > prior and _PERIOD_PATTERN.search(text):
        return config.period_mention_prior
    return prior


def _tolerance(category: str | None, config: RecurringConfig) -> float:
    if category in config.variable_amount_categories:
        return config.variable_amount_tolerance
    return config.amount_tolerance


def observe_payment(
    series: MutableMapping[str, dict[str, Any]],
    *,
    key: str,
    name: str,
    day: int,
    cents: int,
    category: str | None,
    prior: float,
    outgoing: bool,
    config: RecurringConfig,
    max_occurrences: int,
) -> str:
    """Add one payment to the matching series, creating or replacing a series when none matches.

    Args:
        series: series by id, updated in place.
        key: the payee key (:func:`payee_key`), not empty.
        name: the payee's display name, kept on the series while it is recurring.
        day: local day number of the payment.
        cents: payment size in cents, positive whatever the direction.
        category: the payment's category.
        prior: :func:`scheduled_prior` of the payment (0 for credits).
        outgoing: True for debits.
        config: recurring thresholds.
        max_occurrences: payments kept per series.

    Returns:
        The id of the series the payment joined: direction ("o" or "i") and slot, the
        category and the payee key, as "o0:rent:city housing".
    """
    tolerance = _tolerance(category, config)
    prefix = "o" if outgoing else "i"
    chosen: str | None = None
    free: str | None = None
    weakest: tuple[float, int, str] | None = None
    for slot in range(SLOTS_PER_PAYEE):
        series_id = f"{prefix}{slot}:{category}:{key}"
        entry = series.get(series_id)
        if entry is None:
            free = free or series_id
            continue
        expected = entry[SERIES_EXPECTED]
        if expected > 0 and abs(cents - expected) <= tolerance * expected and not _too_close(entry, day, cents):
            chosen = series_id
            break
        # A new amount level replaces the weakest series of the payee, the stalest among equals.
        rank = (float(entry[SERIES_CONFIDENCE]), entry[SERIES_DAYS][-1], series_id)
        if weakest is None or rank < weakest:
            weakest = rank
    if chosen is None:
        if free is not None:
            chosen = free
        else:
            assert weakest is not None, "a payee without a free slot has series to replace"
            chosen = weakest[2]
        series[chosen] = {
            SERIES_CATEGORY: category,
            SERIES_DAYS: [],
            SERIES_AMOUNTS: [],
            SERIES_PRIOR: 0.0,
            SERIES_CONFIDENCE: 0.0,
            SERIES_CADENCE: "",
            SERIES_NEXT: NO_DAY,
            SERIES_NOMINAL_NEXT: NO_DAY,
            SERIES_EXPECTED: cents,
            SERIES_ANCHOR: NO_DAY,
            SERIES_SHIFT: 0,
        }
    entry = series[chosen]
    _insert(entry, day, cents, max_occurrences)
    entry[SERIES_CATEGORY] = category
    entry[SERIES_PRIOR] = round(max(entry[SERIES_PRIOR], prior), 2)
    classify_series(entry, config, outgoing=outgoing)
    # Only recurring series are shown by name; the others keep their key in the id, which
    # saves state size for the many one-off card payees.
    if entry[SERIES_CONFIDENCE] >= config.min_confidence:
        entry[SERIES_NAME] = name[:_NAME_LENGTH]
    else:
        entry.pop(SERIES_NAME, None)
    return chosen


def cancel_payment(
    series: MutableMapping[str, dict[str, Any]],
    *,
    key: str,
    day: int,
    cents: int,
    within_days: int,
    config: RecurringConfig,
) -> tuple[str, int, bool] | None:
    """Take a refund off the payment it pays back, in the payee's outgoing series.

    The payment is the latest one of the same size on ``day`` or in the ``within_days``
    days before it, else the latest larger one (a partial refund). Its amount shrinks by
    ``cents``, and a payment refunded in full is removed, with the whole series when it was
    the only one.

    Args:
        series: series by id, updated in place.
        key: the payee key (:func:`payee_key`) of the refund.
        day: local day number of the refund.
        cents: refund size in cents, positive.
        within_days: how far back a refunded payment may lie.
        config: recurring thresholds, to classify the series again.

    Returns:
        (series id, day of the refunded payment, whether the series was removed), or None
        when no payment of the payee matches.
    """
    exact: tuple[int, str, int] | None = None
    larger: tuple[int, str, int] | None = None
    for series_id, entry in series.items():
        if not series_id.startswith("o") or not series_id.endswith(f":{key}"):
            continue
        for index, (paid_day, amount) in enumerate(zip(entry[SERIES_DAYS], entry[SERIES_AMOUNTS])):
            if not day - within_days <= paid_day <= day:
                continue
            candidate = (paid_day, series_id, index)
            if amount == cents and (exact is None or candidate > exact):
                exact = candidate
            elif amount > cents and (larger is None or candidate > larger):
                larger = candidate
    found = exact or larger
    if found is None:
        return None
    paid_day, series_id, index = found
    entry = series[series_id]
    entry[SERIES_AMOUNTS][index] -= cents
    if entry[SERIES_AMOUNTS][index] <= 0:
        del entry[SERIES_AMOUNTS][index]
        del entry[SERIES_DAYS][index]
    if not entry[SERIES_DAYS]:
        del series[series_id]
        return series_id, paid_day, True
    classify_series(entry, config, outgoing=True)
    return series_id, paid_day, False


def _too_close(entry: Mapping[str, Any], day: int, cents: int) -> bool:
    """Return whether a payment of another size lands a few days from one of the series.

    No cadence is shorter than a week, so such a payment is a second product of the same
    payee (two subscriptions charged on consecutive days), not the series' next payment.
    """
    if cents == entry[SERIES_EXPECTED]:
        return False
    return any(0 < abs(day - paid_day) < MIN_GAP_DAYS for paid_day in entry[SERIES_DAYS])


def _insert(entry: dict[str, Any], day: int, cents: int, max_occurrences: int) -> None:
    days: list[int] = entry[SERIES_DAYS]
    amounts: list[int] = entry[SERIES_AMOUNTS]
    if days and day == days[-1]:
        amounts[-1] += cents
        return
    if not days or day > days[-1]:
        days.append(day)
        amounts.append(cents)
    else:
        # A late payment: keep the days sorted; a day already present adds to its amount.
        for index, existing in enumerate(days):
            if existing == day:
                amounts[index] += cents
                return
            if existing > day:
                days.insert(index, day)
                amounts.insert(index, cents)
                break
    del days[:-max_occurrences]
    del amounts[:-max_occurrences]


def _expected_amount(amounts: list[int], variation: float) -> int:
    if variation <= 0.02 or len(amounts) < 3:
        return amounts[-1]
    return int(statistics.median(amounts[-3:]))


@functools.lru_cache(maxsize=16384)
def _nominal(value: date, anchor: int) -> date:
    """Return the anchored date nearest ``value``: in its month, the month before or the month after."""
    best = anchored_date(value.year, value.month, anchor)
    for step in (-1, 1):
        year, month = add_months(value.year, value.month, step)
        candidate = anchored_date(year, month, anchor)
        if abs((candidate - value).days) < abs((best - value).days):
            best = candidate
    return best


def _fit_anchor(dates: list[date], default_shift: int) -> tuple[int, int]:
    """Return the (day of month, weekend shift) that explains the most payment dates.

    A date is explained when the anchored date of its month, moved off the weekend by
    the shift, is the date itself. Ties go to the default shift, then to the anchor
    nearest the median day of the month.
    """
    middle = statistics.median(value.day for value in dates)
    # Fast path: most series pay on one day of the month and never hit a weekend.
    typical = int(round(middle))
    if all(move_off_weekend(_nominal(value, typical), default_shift) == value for value in dates):
        return typical, default_shift
    candidates = {MONTH_END}
    for value in dates:
        candidates.update(day for day in range(value.day - 2, value.day + 3) if 1 <= day <= 31)
    shifts = (default_shift, *(shift for shift in (0, 1, -1) if shift != default_shift))
    best: tuple[tuple[int, int, float], int, int] | None = None
    for anchor in candidates:
        nominal_day = 31 if anchor == MONTH_END else anchor
        for shift in shifts:
            explained = sum(1 for value in dates if move_off_weekend(_nominal(value, anchor), shift) == value)
            rank = (explained, shift == default_shift, -abs(nominal_day - middle))
            if best is None or rank > best[0]:
                best = (rank, anchor, shift)
    assert best is not None
    return best[1], best[2]


def _default_shift(category: str | None, outgoing: bool) -> int:
    # Bank practice: salaries move to the Friday before a weekend, direct debits to the
    # Monday after, card subscriptions charge on the day.
    if not outgoing:
        return -1
    return 0 if category == "subscriptions" else 1


def _fit(gaps: list[int], cadence: Cadence) -> tuple[int, int] | None:
    """Return (fitting gaps, skipped periods) when every gap fits ``cadence``, else None."""
    skips = 0
    for gap in gaps:
        periods = round(gap / cadence.days)
        if periods not in (1, 2) or abs(gap - periods * cadence.days) > cadence.tolerance * periods:
            return None
        skips += periods == 2
    if skips > max(1, len(gaps) // 3):
        return None
    return len(gaps), skips


def classify_series(entry: dict[str, Any], config: RecurringConfig, *, outgoing: bool) -> None:
    """Infer cadence, anchor, weekend shift, next due day, expected amount and confidence of a series, in place."""
    days: list[int] = entry[SERIES_DAYS]
    amounts: list[int] = entry[SERIES_AMOUNTS]
    prior = float(entry[SERIES_PRIOR])
    category = entry[SERIES_CATEGORY]
    mean = sum(amounts) / len(amounts)
    # statistics.pstdev works in exact fractions and costs far more than this per event.
    spread = math.sqrt(sum((amount - mean) ** 2 for amount in amounts) / len(amounts))
    variation = spread / mean if len(amounts) > 1 and mean > 0 else 0.0
    entry[SERIES_EXPECTED] = _expected_amount(amounts, variation)
    amount_factor = max(0.3, 1.0 - variation / (2.0 * _tolerance(category, config)))

    best: tuple[float, Cadence] | None = None
    gaps = [later - earlier for earlier, later in zip(days, days[1:])]
    if gaps:
        for cadence in CADENCES.values():
            fit = _fit(gaps, cadence)
            if fit is None:
                continue
            fitting, skips = fit
            confidence = (1.0 - 0.45 ** (fitting + prior)) * amount_factor * 0.85**skips
            needed = cadence.min_payments - (1 if prior >= 0.5 else 0)
            if len(days) < needed:
                confidence *= 0.5
            if best is None or confidence > best[0]:
                best = (confidence, cadence)

    fallback = (0.55 if len(days) <= 2 else 0.15) * prior
    if best is None or best[0] < fallback:
        if fallback <= 0.0:
            entry.update({SERIES_CONFIDENCE: 0.0, SERIES_CADENCE: "", SERIES_NEXT: NO_DAY, SERIES_NOMINAL_NEXT: NO_DAY})
            return
        cadence = _ASSUMED
        confidence = fallback
    else:
        confidence, cadence = best

    entry[SERIES_CADENCE] = cadence.name
    entry[SERIES_CONFIDENCE] = round(min(confidence, 0.99), 3)
    last = days[-1]
    if cadence.months == 0 or confidence < config.min_confidence / 2:
        # Weak series are never forecast, so they skip the calendar work of the anchor.
        entry[SERIES_ANCHOR] = NO_DAY
        entry[SERIES_SHIFT] = 0
        entry[SERIES_NOMINAL_NEXT] = entry[SERIES_NEXT] = last + int(round(cadence.days))
        return
    dates = [day_date(day) for day in days]
    anchor, shift = _fit_anchor(dates, _default_shift(category, outgoing))
    nominal_last = _nominal(dates[-1], anchor)
    year, month = add_months(nominal_last.year, nominal_last.month, cadence.months)
    nominal_next = anchored_date(year, month, anchor)
    entry[SERIES_ANCHOR] = anchor
    entry[SERIES_SHIFT] = shift
    entry[SERIES_NOMINAL_NEXT] = date_day(nominal_next)
    entry[SERIES_NEXT] = date_day(move_off_weekend(nominal_next, shift))


def _step(entry: Mapping[str, Any], nominal: int) -> tuple[int, int]:
    """Return (nominal, actual) day of the payment after the one nominally due on ``nominal``."""
    cadence = CADENCES[entry[SERIES_CADENCE]]
    if cadence.months == 0 or entry[SERIES_ANCHOR] == NO_DAY:
        following = nominal + int(round(cadence.days))
        return following, following
    current = day_date(nominal)
    year, month = add_months(current.year, current.month, cadence.months)
    following_date = anchored_date(year, month, entry[SERIES_ANCHOR])
    return date_day(following_date), date_day(move_off_weekend(following_date, entry[SERIES_SHIFT]))


def _status(entry: Mapping[str, Any], today: int) -> tuple[float, int, int]:
    """Return (confidence, nominal day, actual day) of the next payment as of ``today``."""
    cadence_name = entry[SERIES_CADENCE]
    if not cadence_name:
        return 0.0, NO_DAY, NO_DAY
    cadence = CADENCES[cadence_name]
    confidence = float(entry[SERIES_CONFIDENCE])
    nominal, actual = entry[SERIES_NOMINAL_NEXT], entry[SERIES_NEXT]
    missed = 0
    while today > actual + cadence.tolerance:
        missed += 1
        if missed >= 3:
            break
        nominal, actual = _step(entry, nominal)
    if missed >= 2:
        confidence *= 0.2
    elif missed == 1:
        confidence *= 0.6
    return confidence, nominal, actual


def effective_status(entry: Mapping[str, Any], today: int) -> tuple[float, int]:
    """Return (confidence, next due day) of a series as of local day ``today``.

    A payment overdue by more than the cadence's tolerance lowers the confidence
    (times 0.6) and moves the next due day to the following period. Two missed periods
    in a row read as a cancelled series (confidence times 0.2).
    Returns (0.0, -1) for a series without a cadence.
    """
    confidence, _, actual = _status(entry, today)
    return confidence, actual


def due_days(entry: Mapping[str, Any], today: int, start: int, stop: int) -> list[int]:
    """Return the days in [start, stop] on which the series' payments are due, seen from ``today``."""
    return confidence_and_due_days(entry, today, start, stop)[1]


def confidence_and_due_days(entry: Mapping[str, Any], today: int, start: int, stop: int) -> tuple[float, list[int]]:
    """Return :func:`effective_status`'s confidence and :func:`due_days` together, at the cost of one."""
    confidence, nominal, actual = _status(entry, today)
    if confidence <= 0.0 or actual > stop:
        return confidence, []
    cadence = CADENCES[entry[SERIES_CADENCE]]
    # Two payments are at least this far apart, even with weekend shifts, so a step that
    # cannot land inside the range is skipped with its date arithmetic.
    shortest_gap = cadence.days - 2 * cadence.tolerance
    found = []
    while actual <= stop:
        if actual >= start:
            found.append(actual)
        if actual + shortest_gap > stop:
            break
        nominal, actual = _step(entry, nominal)
    return confidence, found


def series_view(entry: Mapping[str, Any], today: int, *, outgoing: bool) -> RecurringPayment | None:
    """Return the public view of a series as of ``today``, or None when it has no cadence."""
    confidence, next_due = effective_status(entry, today)
    if confidence <= 0.0:
        return None
    return RecurringPayment(
        merchant=entry[SERIES_NAME],
        cadence=entry[SERIES_CADENCE],
        occurrences=len(entry[SERIES_DAYS]),
        expected_amount=round(entry[SERIES_EXPECTED] / 100.0, 2),
        last_date=day_date(entry[SERIES_DAYS][-1]),
        next_due=day_date(next_due),
        confidence=round(confidence, 3),
        category=entry[SERIES_CATEGORY],
        direction="out" if outgoing else "in",
    )


def find_recurring(
    transactions: Iterable[tuple[date, str, float, str | None]],
    *,
    min_occurrences: int = 2,
    config: RecurringConfig | None = None,
) -> list[RecurringPayment]:
    """Find recurring debits in a batch of transactions, with the same rules as the live state.

    Args:
        transactions: (booking date, merchant or description, signed amount, category)
            tuples; only debits (negative amounts) are considered.
        min_occurrences: payments a series needs to be reported.
        config: recurring thresholds; ``configs/insights.yaml`` by default.

    Returns:
        Series with confidence at or above ``config.min_confidence`` as of their own
        latest payment, ordered by next due date.
    """
    from engine.insights.config import load_insights_config

    settings = load_insights_config()
    recurring = config or settings.recurring
    series: dict[str, dict[str, Any]] = {}
    ordered = sorted(
        ((day, merchant, amount, category) for day, merchant, amount, category in transactions if amount < 0),
        key=lambda item: item[0],
    )
    latest = 0
    for day, merchant, amount, category in ordered:
        key = payee_key(merchant, merchant)
        if not key:
            continue
        number = date_day(day)
        latest = max(latest, number)
        observe_payment(
            series,
            key=key,
            name=merchant,
            day=number,
            cents=int(round(-amount * 100)),
            category=category,
            prior=scheduled_prior(merchant, category, recurring),
            outgoing=True,
            config=recurring,
            max_occurrences=settings.state.max_occurrences,
        )
    found = []
    for entry in series.values():
        if len(entry[SERIES_DAYS]) < min_occurrences or entry[SERIES_CONFIDENCE] < recurring.min_confidence:
            continue
        view = series_view(entry, entry[SERIES_DAYS][-1], outgoing=True)
        if view is not None:
            found.append(view)
    found.sort(key=lambda payment: payment.next_due)
    return found
