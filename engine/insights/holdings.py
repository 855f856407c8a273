"""Credit products a customer services, read from the insight state's payment series.

A bank's product system records which loans and cards a customer has. From the account
alone, each repaid credit shows as its own stream of payments. The insight state keeps
one payment series per payee and amount level (:mod:`engine.insights.recurring`), so a
mortgage and a consumer loan at the same lender count as two, and instalment plans with
amounts far apart as several.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from engine.insights.calendar import local_day
from engine.insights.keys import KEY_SERIES
from engine.insights.recurring import SERIES_CATEGORY, SERIES_DAYS
from engine.insights.state import insight_state, state_time_zone

if TYPE_CHECKING:
    from engine.profile import CustomerProfile

__all__ = ["CREDIT_CATEGORY", "credit_lines"]

CREDIT_CATEGORY = "loan_repayment"


def credit_lines(profile: CustomerProfile, now: datetime, days: int = 90) -> int:
    """Return the number of loan, card and instalment repayment series paid in the last ``days`` local days.

    NOTE: the state keeps at most ``state.max_series`` series and evicts irregular ones
    first, so an instalment plan among many one-off card payees can drop out of the count.
    """
    state = insight_state(profile)
    if state is None:
        return 0
    today = local_day(now, state_time_zone(state))
    count = 0
    for entry in state[KEY_SERIES].values():
        paid = entry[SERIES_DAYS]
        if entry[SERIES_CATEGORY] == CREDIT_CATEGORY and paid and today - paid[-1] < days:
            count += 1
    return count
