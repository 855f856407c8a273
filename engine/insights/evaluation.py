"""Accuracy measurements of the insights against labelled statements and the simulator's ground truth.

* Categorisation per file format: the category the statement import assigns (through
  :func:`engine.categorize.categorize`) against ``expected_category`` in ``labels.csv``.
* Recurring payments on statements: a transaction counts as recurring when, after the
  whole file, the series it joined is at or above ``recurring.min_confidence``. It is
  scored against ``is_recurring``, and entries the import rejected count as not
  recurring.
* Recurring payments on the simulator: the (payee, category) pairs of recurring debit
  series at the end of each customer's history against the simulator's scheduled
  debits (:func:`engine.insights.simulation.scheduled_payees`; the bank's overdraft
  interest is left out of both sides), and for each true
  subscription whether its next due date and amount were predicted.
* Stable income on the simulator: the ``income_stable_3m`` signal against the pay
  cadence (monthly salary, fortnightly salary or pension is stable; freelance invoices
  are not).
* Overdraft risk on the simulator: ``overdraft_risk_14d`` at the start of each local
  day with a non-negative balance, against a negative booked balance in the next 14 days.
* Segments on the simulator: agreement of the assigned segments with the simulator's
  true segments (adjusted Rand index and purity).
* State size: serialised profile bytes with and without the insight state.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.events import TransactionEvent
from engine.insights.calendar import UTC, day_date, local_day
from engine.insights.config import InsightsConfig, load_insights_config
from engine.insights.keys import FEATURES_KEY, KEY_LAST_DAY, KEY_RECURRING, KEY_SERIES, SIGNAL_INCOME_STABLE, SIGNAL_LIFE_EVENT_SCORE
from engine.insights.recurring import (
    SERIES_CATEGORY,
    SERIES_CONFIDENCE,
    SERIES_EXPECTED,
    SERIES_NAME,
    effective_status,
    folded,
    observe_payment,
    payee_key,
    scheduled_prior,
)
from engine.insights.state import insight_state

__all__ = [
    "FormatAccuracy",
    "PrecisionRecall",
    "SimulatorRecurring",
    "SegmentScores",
    "StateSize",
    "categorisation_by_format",
    "recurring_flags",
    "recurring_on_labels",
    "recurring_on_simulator",
    "overdraft_on_simulator",
    "segments_on_simulator",
    "state_size_on_simulator",
]

# The simulator's overdraft interest: monthly while the customer stays overdrawn, at an
# amount that follows the overdraft. Whether it is a recurring payment is a matter of
# definition, so it is left out of both sides of the payee comparison.
_OVERDRAFT_INTEREST = ("offerloop bank", "fees")


@dataclass(frozen=True)
class FormatAccuracy:
    """Categorisation accuracy of one file format.

    Attributes:
        format: "ofx", "camt053", "mt940", "csv" or "all".
        rows: labelled entries.
        imported: labelled entries the import turned into transactions.
        correct: imported entries whose category matches the label.
    """

    format: str
    rows: int
    imported: int
    correct: int

    @property
    def accuracy(self) -> float:
        """Correct over all labelled entries (an entry the import rejected counts as wrong)."""
        return self.correct / self.rows if self.rows else 0.0

    @property
    def accuracy_imported(self) -> float:
        """Correct over the imported entries."""
        return self.correct / self.imported if self.imported else 0.0


@dataclass(frozen=True)
class PrecisionRecall:
    """Counts and the derived precision and recall."""

    true_positives: int
    false_positives: int
    false_negatives: int

    @property
    def precision(self) -> float:
        """TP / (TP + FP); 1.0 when nothing was predicted."""
        predicted = self.true_positives + self.false_positives
        return self.true_positives / predicted if predicted else 1.0

    @property
    def recall(self) -> float:
        """TP / (TP + FN); 1.0 when nothing was to be found."""
        actual = self.true_positives + self.false_negatives
        return self.true_positives / actual if actual else 1.0


@dataclass(frozen=True)
class SimulatorRecurring:
    """Recurring-payment and income accuracy on simulated customers.

    Attributes:
        customers: customers evaluated.
        payees: payee-level precision and recall of recurring debits.
        subscriptions: true subscriptions.
        subscriptions_found: true subscriptions with a recurring monthly series.
        due_date_exact: found subscriptions whose predicted next due date is right.
        due_date_within_one_day: ... right within one day.
        amount_within_two_percent: found subscriptions whose expected amount is within
            2 % of the next real charge's list price.
        income_stable: precision and recall of ``income_stable_3m``.
        life_event_false_alarms: customers with a life-event signal (the simulator
            generates no life events, so every one is a false alarm).
    """

    customers: int
    payees: PrecisionRecall
    subscriptions: int
    subscriptions_found: int
    due_date_exact: int
    due_date_within_one_day: int
    amount_within_two_percent: int
    income_stable: PrecisionRecall
    life_event_false_alarms: int


def _read_labels(labels_path: Path) -> dict[str, list[dict[str, str]]]:
    by_file: dict[str, list[dict[str, str]]] = defaultdict(list)
    with labels_path.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            by_file[row["file"]].append(row)
    return by_file


def _imported_by_line(path: Path) -> tuple[str, dict[int, TransactionEvent], list[TransactionEvent]]:
    from engine.statements import read_statement

    imported = read_statement(path, customer_id="evaluation")
    lines = {line: event for line, event in zip(imported.transaction_lines, imported.transactions) if line is not None}
    return imported.format, lines, imported.transactions


def categorisation_by_format(statements_dir: Path) -> dict[str, FormatAccuracy]:
    """Return categorisation accuracy per format and over all files ("all"), from ``labels.csv``."""
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for file_name, rows in _read_labels(statements_dir / "labels.csv").items():
        file_format, by_line, _ = _imported_by_line(statements_dir / file_name)
        for row in rows:
            event = by_line.get(int(row["line_or_index"]))
            for key in (file_format, "all"):
                counts[key][0] += 1
                if event is not None:
                    counts[key][1] += 1
                    counts[key][2] += event.category == row["expected_category"]
    return {name: FormatAccuracy(name, *values) for name, values in counts.items()}


def recurring_flags(events: Iterable[Any], *, config: InsightsConfig | None = None) -> dict[str, bool]:
    """Return, per debit event id, whether its series is recurring after all ``events``.

    Uses the live state's building blocks (payee key, prior, series matching and
    classification) on UTC local days, without the series cap, which a statement never
    reaches.
    """
    settings = config or load_insights_config()
    series: dict[str, dict[str, Any]] = {}
    membership: dict[str, str] = {}
    for event in sorted((e for e in events if isinstance(e, TransactionEvent)), key=lambda e: e.ts):
        if event.amount >= 0:
            continue
        key = payee_key(event.merchant, event.description)
        if not key:
            continue
        label = event.merchant or event.description
        category = event.category or "other"
        membership[event.event_id] = observe_payment(
            series,
            key=key,
            name=label,
            day=local_day(event.ts, UTC),
            cents=int(round(-float(event.amount) * 100)),
            category=category,
            prior=scheduled_prior(event.description or label, category, settings.recurring),
            outgoing=True,
            config=settings.recurring,
            max_occurrences=settings.state.max_occurrences,
        )
    threshold = settings.recurring.min_confidence
    return {
        event_id: series_id in series and series[series_id][SERIES_CONFIDENCE] >= threshold
        for event_id, series_id in membership.items()
    }


def recurring_on_labels(statements_dir: Path, *, config: InsightsConfig | None = None) -> PrecisionRecall:
    """Score recurring detection against ``is_recurring`` in ``labels.csv``, one file at a time."""
    true_positive = false_positive = false_negative = 0
    for file_name, rows in _read_labels(statements_dir / "labels.csv").items():
        _, by_line, transactions = _imported_by_line(statements_dir / file_name)
        flags = recurring_flags(transactions, config=config)
        for row in rows:
            event = by_line.get(int(row["line_or_index"]))
            predicted = event is not None and flags.get(event.event_id, False)
            expected = row["is_recurring"] == "true"
            true_positive += predicted and expected
            false_positive += predicted and not expected
            false_negative += expected and not predicted
    return PrecisionRecall(true_positive, false_positive, false_negative)


def recurring_on_simulator(n_customers: int, *, days: int, seed: int) -> SimulatorRecurring:
    """Score recurring debits, subscription due dates and stable income on simulated customers."""
    from engine.insights.simulation import scheduled_payees, simulate_profiles

    config = load_insights_config()
    payees = [0, 0, 0]
    income = [0, 0, 0]
    subscriptions = found = exact = near = amounts = false_alarms = customers = 0
    for customer in simulate_profiles(n_customers, days=days, seed=seed):
        assert customer.profile is not None
        state = insight_state(customer.profile)
        if state is None:
            continue
        customers += 1
        today = state[KEY_LAST_DAY]
        recurring = {}
        for series_id in state[KEY_RECURRING]:
            entry = state[KEY_SERIES][series_id]
            confidence, next_due = effective_status(entry, today)
            if series_id.startswith("o") and confidence >= config.recurring.min_confidence:
                recurring[(folded(entry[SERIES_NAME]), entry[SERIES_CATEGORY])] = (entry, next_due)
        truth = {(folded(name), category) for name, category in scheduled_payees(customer.traits)}
        detected = recurring.keys() - {_OVERDRAFT_INTEREST}
        payees[0] += len(truth & detected)
        payees[1] += len(detected - truth)
        payees[2] += len(truth - detected)
        for subscription in customer.traits.subscriptions:
            subscriptions += 1
            match = recurring.get((folded(subscription.merchant), "subscriptions"))
            if match is None or match[0]["cd"] != "monthly":
                continue
            found += 1
            entry, next_due = match
            true_due = _next_subscription_day(subscription.day, today)
            exact += next_due == true_due
            near += abs(next_due - true_due) <= 1
            amounts += abs(entry[SERIES_EXPECTED] / 100.0 - subscription.amount) <= 0.02 * subscription.amount
        features = customer.profile.extra.get(FEATURES_KEY, {})
        predicted_stable = features.get(SIGNAL_INCOME_STABLE, 0.0) == 1.0
        truly_stable = customer.traits.pay_cadence != "irregular"
        income[0] += predicted_stable and truly_stable
        income[1] += predicted_stable and not truly_stable
        income[2] += truly_stable and not predicted_stable
        false_alarms += features.get(SIGNAL_LIFE_EVENT_SCORE, 0.0) > 0
    return SimulatorRecurring(
        customers=customers,
        payees=PrecisionRecall(*payees),
        subscriptions=subscriptions,
        subscriptions_found=found,
        due_date_exact=exact,
        due_date_within_one_day=near,
        amount_within_two_percent=amounts,
        income_stable=PrecisionRecall(*income),
        life_event_false_alarms=false_alarms,
    )


def _next_subscription_day(day_of_month: int, today: int) -> int:
    """Return the first local day after ``today`` on which a card subscription of ``day_of_month`` charges."""
    from engine.insights.calendar import add_months, anchored_date, date_day

    current = day_date(today)
    for step in range(0, 3):
        year, month = add_months(current.year, current.month, step)
        candidate = date_day(anchored_date(year, month, day_of_month))
        if candidate > today:
            return candidate
    raise AssertionError("a monthly subscription charges within three months")


@dataclass(frozen=True)
class SegmentScores:
    """Agreement of assigned segments with the simulator's true segments.

    Attributes:
        customers: customers with a segment.
        adjusted_rand: adjusted Rand index (0 for chance, 1 for identical partitions).
        purity: share of customers whose segment's most common true segment is their own.
    """

    customers: int
    adjusted_rand: float
    purity: float


@dataclass(frozen=True)
class StateSize:
    """Serialised profile sizes (msgpack bytes) over simulated customers.

    Attributes:
        customers: customers measured.
        mean_without, mean_with: mean bytes without and with the insight state and signals.
        max_with: the largest profile with them.
    """

    customers: int
    mean_without: float
    mean_with: float
    max_with: int


def overdraft_on_simulator(n_customers: int, *, days: int, seed: int) -> PrecisionRecall:
    """Score ``overdraft_risk_14d`` at the start of each local day against a negative balance in the next 14 days.

    Days that start with a negative balance are skipped: the signal is meant to warn
    before an overdraft, not during one.
    """
    from engine.insights.keys import SIGNAL_OVERDRAFT_RISK
    from engine.insights.simulation import simulate_customers
    from engine.insights.state import set_insight_time_zone
    from engine.profile import CustomerProfile

    counts = [0, 0, 0]
    for customer in simulate_customers(n_customers, days=days, seed=seed):
        negative_days: set[int] = set()
        for event in customer.events:
            if isinstance(event, TransactionEvent) and event.balance_after is not None and event.balance_after < 0:
                negative_days.add(local_day(event.ts, customer.time_zone))
        profile = CustomerProfile(customer.traits.customer_id)
        set_insight_time_zone(profile, customer.time_zone)
        checked: set[int] = set()
        for event in customer.events:
            day = local_day(event.ts, customer.time_zone)
            if day not in checked and profile.balance is not None and profile.balance >= 0 and checked:
                flagged = profile.extra.get(FEATURES_KEY, {}).get(SIGNAL_OVERDRAFT_RISK, 0.0) == 1.0
                actual = any(later in negative_days for later in range(day, day + 14))
                counts[0] += flagged and actual
                counts[1] += flagged and not actual
                counts[2] += actual and not flagged
            checked.add(day)
            profile.apply(event, category=event.category if isinstance(event, TransactionEvent) else None)
    return PrecisionRecall(*counts)


def segments_on_simulator(n_customers: int, *, days: int, seed: int) -> SegmentScores:
    """Compare the ``segment_id`` signal of simulated customers with their true segments."""
    from collections import Counter

    from sklearn.metrics import adjusted_rand_score

    from engine.insights.keys import SIGNAL_SEGMENT
    from engine.insights.simulation import simulate_profiles

    truths: list[str] = []
    assigned: list[int] = []
    for customer in simulate_profiles(n_customers, days=days, seed=seed):
        assert customer.profile is not None
        segment = int(customer.profile.extra.get(FEATURES_KEY, {}).get(SIGNAL_SEGMENT, 0.0))
        if segment > 0:
            truths.append(customer.traits.segment)
            assigned.append(segment)
    if not assigned:
        return SegmentScores(0, 0.0, 0.0)
    majority = 0
    for segment in set(assigned):
        members = Counter(truth for truth, label in zip(truths, assigned) if label == segment)
        majority += members.most_common(1)[0][1]
    return SegmentScores(len(assigned), float(adjusted_rand_score(truths, assigned)), majority / len(assigned))


def state_size_on_simulator(n_customers: int, *, days: int, seed: int) -> StateSize:
    """Measure serialised profile bytes with and without the insight state and signals."""
    from engine.insights.keys import STATE_KEY
    from engine.insights.simulation import simulate_profiles

    without: list[int] = []
    with_state: list[int] = []
    for customer in simulate_profiles(n_customers, days=days, seed=seed):
        assert customer.profile is not None
        profile = customer.profile
        with_state.append(len(profile.to_bytes()))
        stripped = profile.copy()
        stripped.extra.pop(STATE_KEY, None)
        stripped.extra.pop(FEATURES_KEY, None)
        without.append(len(stripped.to_bytes()))
    count = len(with_state)
    return StateSize(count, sum(without) / count, sum(with_state) / count, max(with_state))
