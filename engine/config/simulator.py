"""Simulator config: the synthetic bank that `offerloop simulate` and the benchmarks run against."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["SimulatorConfig"]


class SimulatorConfig(BaseModel):
    """Size and behaviour of the synthetic customer population."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    customers: int = Field(default=10_000, ge=1, le=1_000_000, description="Population size.")
    engagement_scale: float = Field(
        default=0.1,
        ge=0.01,
        le=10.0,
        description="Factor on each customer's app-open rate; each open is one decision.",
    )
    accept_scale: float = Field(default=0.25, gt=0.0, le=1.0, description="Factor on every acceptance probability.")
    warmup_days: int = Field(default=35, ge=0, le=365, description="Days of history before the first decision.")
