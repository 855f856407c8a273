"""Reward config: how customer feedback becomes the number that policies maximise."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from engine.config.durations import Duration
from engine.events import FEEDBACK_TYPES

__all__ = ["RewardConfig"]


class RewardConfig(BaseModel):
    """Weights, attribution windows and combination rule for offer feedback."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    weights: dict[str, Annotated[float, Field(ge=-1e6, le=1e6, allow_inf_nan=False)]] = Field(
        description="Reward per feedback type, a finite number in [-1e6, 1e6]."
    )
    attribution_window: dict[str, Duration] = Field(description="How long after the decision each type counts.")
    terminal: tuple[str, ...] = Field(
        default=("accept", "reject", "dismiss"),
        description="Feedback types that settle the reward at once instead of waiting for the window to close.",
    )
    default_reward: float = Field(
        default=0.0, ge=-1e6, le=1e6, allow_inf_nan=False, description="Reward when the window closes with no feedback."
    )
    combine: Literal["max", "sum", "last"] = Field(default="max", description="How several feedback events combine.")
    business_value_weighting: bool = Field(
        default=True, description="Multiply the reward by the offer's business value."
    )

    @model_validator(mode="after")
    def _check_types(self) -> "RewardConfig":
        allowed = ", ".join(FEEDBACK_TYPES)
        for field_name, mapping in (("weights", self.weights), ("attribution_window", self.attribution_window)):
            for key in mapping:
                if key not in FEEDBACK_TYPES:
                    raise ValueError(f"{field_name} has unknown feedback type {key!r}; allowed: {allowed}")
            missing = [name for name in FEEDBACK_TYPES if name not in mapping]
            if missing:
                raise ValueError(f"{field_name} is missing {', '.join(missing)}; give a value for each of {allowed}")
        for key in self.terminal:
            if key not in FEEDBACK_TYPES:
                raise ValueError(f"terminal has unknown feedback type {key!r}; allowed: {allowed}")
        for key, window in self.attribution_window.items():
            if window <= timedelta(0):
                raise ValueError(f"attribution_window.{key} must be positive; got {window}")
        return self

    @property
    def max_window(self) -> timedelta:
        """Longest attribution window: after it a decision's reward is final."""
        return max(self.attribution_window.values())
