"""Typed insight configuration: thresholds, model paths and the credit-limit risk rule.

``configs/insights.yaml`` is read once per path by :func:`load_insights_config` and becomes
an :class:`InsightsConfig`, so nothing downstream reads the raw YAML.
"""

from __future__ import annotations

import functools
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from engine.categories import CATEGORIES, INCOME_CATEGORIES, SPEND_CATEGORIES
from engine.errors import ConfigError, RuleError

__all__ = [
    "CONFIG_PATH",
    "REPO_ROOT",
    "StateSpec",
    "RecurringConfig",
    "IncomeConfig",
    "SpendConfig",
    "ForecastConfig",
    "InsightThresholds",
    "CreditLimitReviewConfig",
    "LifeEventsConfig",
    "SegmentsConfig",
    "InsightsConfig",
    "load_insights_config",
]

REPO_ROOT: Path = Path(__file__).resolve().parents[2]
CONFIG_PATH: Path = REPO_ROOT / "configs" / "insights.yaml"


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _check_categories(names: tuple[str, ...], allowed: tuple[str, ...], field: str) -> tuple[str, ...]:
    unknown = [name for name in names if name not in allowed]
    if unknown:
        raise ValueError(f"{field} lists unknown categories {unknown}; allowed: {', '.join(allowed)}")
    return names


class StateSpec(_Section):
    """Size bounds of the per-customer insight state."""

    max_series: int = Field(default=40, ge=4, le=500)
    max_occurrences: int = Field(default=6, ge=3, le=24)
    local_days: int = Field(default=63, ge=14, le=120)


class RecurringConfig(_Section):
    """Recurring-payment detection."""

    min_confidence: float = Field(default=0.5, gt=0.0, lt=1.0)
    amount_tolerance: float = Field(default=0.2, gt=0.0, le=1.0)
    variable_amount_tolerance: float = Field(default=0.6, gt=0.0, le=2.0)
    variable_amount_categories: tuple[str, ...] = ()
    scheduled_categories: dict[str, float] = Field(default_factory=dict)
    direct_debit_keywords: tuple[str, ...] = ()
    card_purchase_keywords: tuple[str, ...] = ()
    period_mention_prior: float = Field(default=0.95, ge=0.0, le=1.0)
    due_min_confidence: float = Field(default=0.6, gt=0.0, le=1.0)

    @field_validator("variable_amount_categories")
    @classmethod
    def _known_variable(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _check_categories(value, CATEGORIES, "recurring.variable_amount_categories")

    @field_validator("scheduled_categories")
    @classmethod
    def _known_scheduled(cls, value: dict[str, float]) -> dict[str, float]:
        _check_categories(tuple(value), SPEND_CATEGORIES, "recurring.scheduled_categories")
        outside = {name: prior for name, prior in value.items() if not 0.0 <= prior <= 1.0}
        if outside:
            raise ValueError(f"recurring.scheduled_categories priors must be in [0, 1]; got {outside}")
        return value

    @model_validator(mode="after")
    def _tolerances(self) -> "RecurringConfig":
        if self.variable_amount_tolerance < self.amount_tolerance:
            raise ValueError(
                f"recurring.variable_amount_tolerance ({self.variable_amount_tolerance}) must be at least "
                f"amount_tolerance ({self.amount_tolerance}), because it widens the tolerance for variable bills"
            )
        return self


class IncomeConfig(_Section):
    """Income detection and the stable-income signal."""

    categories: tuple[str, ...] = ("salary", "other_income", "transfers_in")
    min_amount: float = Field(default=200.0, ge=0.0)
    stable_months: int = Field(default=3, ge=2, le=12)
    max_shortfall: float = Field(default=0.1, ge=0.0, lt=1.0)

    @field_validator("categories")
    @classmethod
    def _known(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _check_categories(value, INCOME_CATEGORIES, "income.categories")


class SpendConfig(_Section):
    """Daily spend prediction."""

    weekday_shrinkage_days: float = Field(default=4.0, ge=0.0, le=100.0)
    weekly_decay: float = Field(default=0.92, gt=0.0, le=1.0)
    pay_cycle_weight: float = Field(default=1.5, ge=1.0, le=10.0)
    interval: float = Field(default=0.8, gt=0.0, lt=1.0)
    min_days: int = Field(default=7, ge=1, le=60)


class ForecastConfig(_Section):
    """Balance forecast and overdraft risk."""

    horizon_days: int = Field(default=14, ge=1, le=31)
    risk_probability: float = Field(default=0.3, gt=0.0, lt=1.0)
    transfer_coverage: float = Field(default=0.8, ge=0.5, lt=1.0)
    transfer_step: float = Field(default=10.0, gt=0.0)


class InsightThresholds(_Section):
    """Thresholds of insights read from profile features."""

    weekend_ratio_min: float = Field(default=1.5, gt=1.0)
    savings_share: float = Field(default=0.1, gt=0.0, lt=1.0)


class CreditLimitReviewConfig(_Section):
    """When a credit-limit review is suggested, and how large the suggested increase may be."""

    rule: str
    max_increase_share_of_income: float = Field(default=0.5, gt=0.0, le=5.0)
    max_increase: float = Field(default=2500.0, gt=0.0)
    step: float = Field(default=100.0, gt=0.0)

    @field_validator("rule")
    @classmethod
    def _compiles(cls, value: str) -> str:
        # Imported here because engine.eligibility imports engine.profile, which imports
        # this package while it loads.
        from engine.eligibility import RULE_FEATURE_NAMES
        from engine.rules import compile_rule

        try:
            compile_rule(value, RULE_FEATURE_NAMES)
        except RuleError as err:
            raise ValueError(f"credit_limit_review.rule is invalid: {err}") from err
        return value


class LifeEventsConfig(_Section):
    """Life events inferred from spending and payment shifts."""

    min_tenure_days: int = Field(default=75, ge=30, le=365)
    household_spend_rise: float = Field(default=0.35, gt=0.0)
    recent_days: int = Field(default=45, ge=7, le=120)
    signal_days: int = Field(default=60, ge=1, le=365)
    childcare_keywords: tuple[str, ...] = ()


class SegmentsConfig(_Section):
    """Behavioural segments."""

    model_path: Path = Path("engine/data/segments.json")
    min_tenure_days: int = Field(default=28, ge=1, le=90)

    def resolved_model_path(self) -> Path:
        """Return ``model_path``, taken relative to the repository root when it is relative."""
        return self.model_path if self.model_path.is_absolute() else REPO_ROOT / self.model_path


class InsightsConfig(_Section):
    """The parsed ``configs/insights.yaml``."""

    version: int = Field(default=1, ge=1, le=1)
    state: StateSpec = StateSpec()
    recurring: RecurringConfig = RecurringConfig()
    income: IncomeConfig = IncomeConfig()
    spend: SpendConfig = SpendConfig()
    forecast: ForecastConfig = ForecastConfig()
    insights: InsightThresholds = InsightThresholds()
    credit_limit_review: CreditLimitReviewConfig
    life_events: LifeEventsConfig = LifeEventsConfig()
    segments: SegmentsConfig = SegmentsConfig()


@functools.lru_cache(maxsize=8)
def load_insights_config(path: str | Path | None = None) -> InsightsConfig:
    """Load and validate the insight config (cached per path).

    Raises:
        ConfigError: the file is missing, is not YAML, or a field is invalid. The message
            names the file, the field, the value received and what is allowed.
    """
    from engine.config.loader import load_yaml_model

    target = Path(path) if path is not None else CONFIG_PATH
    try:
        return load_yaml_model(target, InsightsConfig)
    except ConfigError:
        raise
    except (ValueError, TypeError) as err:
        raise ConfigError(f"{target}: invalid insight config: {err}") from err
