"""Customer insights: recurring payments, spend prediction, income, balance forecast, segments and life events.

The state behind them is updated event by event (:mod:`engine.insights.state`, called from
:meth:`engine.profile.CustomerProfile.apply`); :func:`dashboard_insights` only reads it.

This package is imported while :mod:`engine.profile` loads, so its ``__init__`` imports
nothing that imports the profile or the features module at load time.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING

from engine.insights.insight import Insight

if TYPE_CHECKING:
    from engine.insights.config import InsightsConfig
    from engine.profile import CustomerProfile

__all__ = ["Insight", "dashboard_insights"]


def dashboard_insights(
    profile: CustomerProfile,
    features: Mapping[str, float],
    now: datetime,
    currency: str,
    *,
    tz: tzinfo | None = None,
    config: InsightsConfig | None = None,
) -> list[Insight]:
    """Return the customer's dashboard insights with reasons, most urgent first.

    Reads the insight state that the profile keeps event by event, so the work is
    bounded by the number of recurring payments and the forecast horizon, not by the
    history. The profile and the features are not changed.

    Args:
        profile: the customer's live profile.
        features: feature values from :func:`engine.features.compute_features`, which
            include the insight signals.
        now: request time, timezone-aware.
        currency: ISO 4217 code for amounts (the profile's currency when known).
        tz: the customer's time zone for "today"; the zone the profile's insight state
            counts days in (UTC unless set) when None. A zone other than the state's
            shifts transactions near midnight to the neighbouring day in the spend model.
        config: insight thresholds; ``configs/insights.yaml`` when None.

    Raises:
        EventValidationError: ``now`` has no time zone.
    """
    from engine.events import ensure_aware
    from engine.insights.compose import compose_insights
    from engine.insights.config import load_insights_config
    from engine.insights.state import insight_state, state_time_zone
    from engine.insights.calendar import UTC

    ensure_aware(now)
    state = insight_state(profile)
    if tz is not None:
        zone = tz
    elif state is not None:
        zone = state_time_zone(state)
    else:
        zone = UTC
    return compose_insights(
        profile,
        state,
        features,
        now,
        currency,
        tz=zone,
        config=config if config is not None else load_insights_config(),
    )
