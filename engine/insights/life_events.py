"""Life events inferred from shifts in payments and spending: a move, a new job, a new child.

Each rule returns a score in [0, 1]; the strongest one is the customer's life event.

* ``move``: a new rent series started within ``life_events.recent_days`` while an
  earlier rent series stopped (0.8), or a first rent series after enough history (0.4).
* ``new_job``: a new salary series within ``recent_days`` while the earlier salary
  stopped (0.8 once the new salary recurs, 0.6 after its first payment), or a first
  salary after enough history (0.4).
* ``new_child``: a new payment series to a childcare payee (0.8). Or a sustained rise of
  household spending (groceries and health) per day: in the last 30 days and in the 26
  days before, above the 34 days before those by more than
  ``life_events.household_spend_rise``. That scores 0.5 at the threshold and rises with
  the size of the shift, to at most 0.9.

The rules read the insight state's series and the profile's 30- and 90-day windows, so
they cost O(number of series), not O(history). They have no ground truth in the
simulator, which generates no life events; the tests pin them on constructed histories.
On the simulator every detection is a false alarm. Trips abroad and card payments
declined at the overdraft limit move household spend there; docs/insights.md gives the
measured false-alarm rate.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from engine.categorize import fold
from engine.insights.config import InsightsConfig
from engine.insights.keys import KEY_FIRST_DAY, KEY_SERIES
from engine.insights.recurring import SERIES_CATEGORY, SERIES_CONFIDENCE, SERIES_DAYS, effective_status

if TYPE_CHECKING:
    from engine.profile import CustomerProfile

__all__ = ["LIFE_EVENT_NAMES", "detect_life_event"]

LIFE_EVENT_NAMES: tuple[str, ...] = ("move", "new_job", "new_child")
_HOUSEHOLD = ("groceries", "health")
# A series with at most this many payments whose first one is recent counts as new.
_NEW_SERIES_PAYMENTS = 3


def _newest_series(
    series: Mapping[str, dict[str, Any]], today: int, *, prefix: str, category: str, recent_days: int
) -> tuple[dict[str, Any] | None, str]:
    """Return the newest recent series of ``category`` and how it relates to the older ones.

    The relation is "replaced" when an older series of the category stopped before the
    new one began (overdue, or paid to another payee), "first" when there is no older
    series, and "parallel" otherwise (a second payment alongside a continuing one).
    """
    newest: tuple[str, dict[str, Any]] | None = None
    others = []
    for series_id, entry in series.items():
        if not series_id.startswith(prefix) or entry[SERIES_CATEGORY] != category:
            continue
        days = entry[SERIES_DAYS]
        others.append((series_id, entry))
        if len(days) <= _NEW_SERIES_PAYMENTS and today - days[0] <= recent_days:
            if newest is None or days[0] > newest[1][SERIES_DAYS][0]:
                newest = (series_id, entry)
    if newest is None:
        return None, ""
    newest_id, newest_entry = newest
    start = newest_entry[SERIES_DAYS][0]
    older = [(series_id, entry) for series_id, entry in others if series_id != newest_id and entry[SERIES_DAYS][0] < start]
    if not older:
        return newest_entry, "first"
    for series_id, entry in older:
        days = entry[SERIES_DAYS]
        if len(days) >= 2 and days[-1] < start:
            confidence, _ = effective_status(entry, today)
            overdue = confidence < float(entry[SERIES_CONFIDENCE]) * 0.99
            if overdue or _payee(series_id) != _payee(newest_id):
                return newest_entry, "replaced"
    return newest_entry, "parallel"


def _payee(series_id: str) -> str:
    """Return the payee key at the end of a series id."""
    return series_id.split(":", 2)[-1]


@functools.lru_cache(maxsize=8)
def _folded_words(keywords: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(fold(keyword) for keyword in keywords)


def _household_rise(profile: CustomerProfile) -> float:
    """Return the sustained rise of household spend per day: both of the last 30 days and the 26 before, against the 34 before those.

    The three periods come from the profile's 30-, 56- and 90-day windows. Taking the
    smaller of the two recent rises ignores a single unusual month.
    """

    def total(width: int) -> float:
        categories = profile.windows[width]["c"]
        return sum(max(categories.get(name, 0.0), 0.0) for name in _HOUSEHOLD)

    last_30, last_56, last_90 = total(30), total(56), total(90)
    baseline = (last_90 - last_56) / 34.0
    if baseline <= 0.5:
        return 0.0
    return min(last_30 / 30.0, (last_56 - last_30) / 26.0) / baseline - 1.0


def detect_life_event(
    profile: CustomerProfile, state: Mapping[str, Any], today: int, config: InsightsConfig
) -> tuple[str, float] | None:
    """Return (event name, score) of the strongest life event as of local day ``today``, or None."""
    settings = config.life_events
    first_day = state.get(KEY_FIRST_DAY)
    if first_day is None or today - first_day < settings.min_tenure_days:
        return None
    series = state.get(KEY_SERIES, {})
    scores: dict[str, float] = {}

    rent, relation = _newest_series(series, today, prefix="o", category="rent", recent_days=settings.recent_days)
    if relation == "replaced":
        scores["move"] = 0.8
    elif relation == "first":
        scores["move"] = 0.4

    salary, relation = _newest_series(series, today, prefix="i", category="salary", recent_days=settings.recent_days)
    if salary is not None and relation == "replaced":
        scores["new_job"] = 0.8 if len(salary[SERIES_DAYS]) >= 2 else 0.6
    elif relation == "first":
        scores["new_job"] = 0.4

    words = _folded_words(settings.childcare_keywords)
    for series_id, entry in series.items():
        days = entry[SERIES_DAYS]
        if series_id.startswith("o") and today - days[0] <= settings.recent_days and len(days) <= _NEW_SERIES_PAYMENTS:
            name = _payee(series_id)
            if any(word and word in name for word in words):
                scores["new_child"] = 0.8
                break
    if "new_child" not in scores and today - first_day >= 90:
        rise = _household_rise(profile)
        if rise >= settings.household_spend_rise:
            scores["new_child"] = round(min(0.9, 0.5 + (rise - settings.household_spend_rise) / 4.0), 3)

    if not scores:
        return None
    name = max(scores, key=lambda event: (scores[event], -LIFE_EVENT_NAMES.index(event)))
    return name, scores[name]
