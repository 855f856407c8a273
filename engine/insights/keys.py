"""Names shared across the insight modules: state keys, signal names and insight categories.

The insight state lives in ``profile.extra[STATE_KEY]`` and the derived signals in
``profile.extra[FEATURES_KEY]``. Both are serialised with the profile (msgpack), so every
value in them is a plain int, float, str, list or dict.
"""

from __future__ import annotations

__all__ = [
    "STATE_KEY",
    "FEATURES_KEY",
    "STATE_VERSION",
    "KEY_VERSION",
    "KEY_TIME_ZONE",
    "KEY_SERIES",
    "KEY_RECURRING",
    "KEY_DAYS",
    "KEY_FIRST_DAY",
    "KEY_LAST_DAY",
    "KEY_TABLE",
    "KEY_PLAN",
    "KEY_INCOME_DAYS",
    "KEY_SEGMENT",
    "KEY_LIFE_EVENT",
    "KEY_SLOW_CHECK",
    "KEY_PENDING",
    "PENDING_TABLE",
    "PENDING_PLAN",
    "SIGNAL_OVERDRAFT_RISK",
    "SIGNAL_DAYS_TO_OVERDRAFT",
    "SIGNAL_SUBSCRIPTION_DUE_TOMORROW",
    "SIGNAL_INCOME_STABLE",
    "SIGNAL_SEGMENT",
    "SIGNAL_LIFE_EVENT_SCORE",
    "SIGNAL_LIFE_EVENT_MOVE",
    "SIGNAL_LIFE_EVENT_NEW_JOB",
    "SIGNAL_LIFE_EVENT_NEW_CHILD",
    "SIGNALS",
    "LIFE_EVENTS",
    "NO_OVERDRAFT_DAYS",
]

STATE_KEY = "insights"
FEATURES_KEY = "features"
STATE_VERSION = 1

KEY_VERSION = "v"
KEY_TIME_ZONE = "tz"  # IANA name of the zone that local days are counted in
KEY_SERIES = "ser"  # series id -> series dict (engine.insights.recurring)
KEY_RECURRING = "rec"  # ids of series at or above the recurring confidence
KEY_DAYS = "ld"  # local day -> [spend cents, scheduled spend cents]
KEY_FIRST_DAY = "fd"  # first local day with an event
KEY_LAST_DAY = "cd"  # latest local day with an event
KEY_TABLE = "tab"  # [first day, completed days used, 7 x [median, mean, low, high, variance]]
KEY_PLAN = "plan"  # [day, cumulative expected flows, cumulative standard deviations]
KEY_INCOME_DAYS = "inc"  # local days of the latest income credits
KEY_SEGMENT = "seg"  # [segment id, local day assigned]
KEY_LIFE_EVENT = "life"  # [event name, score, local day detected]
KEY_SLOW_CHECK = "sc"  # local day segments and life events were last recomputed
# [bit set of derived values a deferred update left stale, income days the table is built from]
KEY_PENDING = "pend"
PENDING_TABLE = 1  # the weekday table, and so the plan
PENDING_PLAN = 2  # the plan and the schedule signals

SIGNAL_OVERDRAFT_RISK = "overdraft_risk_14d"
SIGNAL_DAYS_TO_OVERDRAFT = "days_to_overdraft"
SIGNAL_SUBSCRIPTION_DUE_TOMORROW = "subscription_due_tomorrow"
SIGNAL_INCOME_STABLE = "income_stable_3m"
SIGNAL_SEGMENT = "segment_id"
SIGNAL_LIFE_EVENT_SCORE = "life_event_score"
SIGNAL_LIFE_EVENT_MOVE = "life_event_move"
SIGNAL_LIFE_EVENT_NEW_JOB = "life_event_new_job"
SIGNAL_LIFE_EVENT_NEW_CHILD = "life_event_new_child"
SIGNALS: tuple[str, ...] = (
    SIGNAL_OVERDRAFT_RISK,
    SIGNAL_DAYS_TO_OVERDRAFT,
    SIGNAL_SUBSCRIPTION_DUE_TOMORROW,
    SIGNAL_INCOME_STABLE,
    SIGNAL_SEGMENT,
    SIGNAL_LIFE_EVENT_SCORE,
    SIGNAL_LIFE_EVENT_MOVE,
    SIGNAL_LIFE_EVENT_NEW_JOB,
    SIGNAL_LIFE_EVENT_NEW_CHILD,
)
# Life event name -> its flag signal.
LIFE_EVENTS: dict[str, str] = {
    "move": SIGNAL_LIFE_EVENT_MOVE,
    "new_job": SIGNAL_LIFE_EVENT_NEW_JOB,
    "new_child": SIGNAL_LIFE_EVENT_NEW_CHILD,
}
# days_to_overdraft when no negative balance is projected within the horizon, the
# same "unknown" value that engine.features uses for day counts.
NO_OVERDRAFT_DAYS = 365.0
