"""Policy config: algorithm, hyper-parameters, exploration and feature set."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["ALGORITHMS", "ExplorationConfig", "SnapshotConfig", "LeversConfig", "FunnelConfig", "PolicyConfig"]

ALGORITHMS: tuple[str, ...] = ("lints", "linucb", "epsilon_greedy", "random", "static", "rllib", "dp_propensity")


class ExplorationConfig(BaseModel):
    """Exploration settings shared by the bandit algorithms."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    epsilon: float = Field(default=0.05, ge=0.0, le=1.0, description="epsilon_greedy: share of uniform picks.")
    ucb_alpha: float = Field(default=1.0, ge=0.0, le=100.0, description="linucb: width of the confidence bonus.")
    posterior_scale: float = Field(default=0.5, gt=0.0, le=100.0, description="lints: posterior standard deviation scale.")
    samples: int = Field(default=64, ge=1, le=4096, description="lints: posterior draws used to compute propensities.")
    min_propensity_share: float = Field(
        default=0.01,
        ge=0.0,
        le=1.0,
        description="Share of each position's probability spread uniformly, so every eligible offer keeps a floor.",
    )


class SnapshotConfig(BaseModel):
    """When the learner publishes a new policy snapshot."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    every_updates: int = Field(default=200, ge=1)
    every_seconds: float = Field(default=1.0, gt=0.0)


class LeversConfig(BaseModel):
    """Multipliers marketing teams set on top of model score and business value."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    category: dict[str, float] = Field(default_factory=dict)
    offer: dict[str, float] = Field(default_factory=dict)


class FunnelConfig(BaseModel):
    """model 'funnel': how engagement feedback guides each offer's reward model (see policies.funnel_ridge)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    signal: dict[
        Literal["impression", "click", "accept", "reject", "dismiss"],
        Annotated[float, Field(ge=-100.0, le=100.0, allow_inf_nan=False)],
    ] = Field(
        default_factory=lambda: {"click": 1.0, "reject": -1.0},
        description="Weight of each feedback type in the engagement signal, in [-100, 100]. A shown offer's "
        "signal is the sum over the types it received; an accept counts as a click too.",
    )
    prior_strength: float = Field(
        default=300.0,
        gt=0.0,
        le=1e9,
        allow_inf_nan=False,
        description="Prior precision of the reward model's own coefficients: how many rewards' worth of "
        "evidence an offer needs before its reward direction departs from its engagement direction.",
    )

    @model_validator(mode="after")
    def _check_signal(self) -> "FunnelConfig":
        if not any(weight != 0.0 for weight in self.signal.values()):
            raise ValueError(
                f"signal needs at least one feedback type with a non-zero weight; got {self.signal}. "
                "For example: {click: 1.0, reject: -1.0}"
            )
        return self


class PolicyConfig(BaseModel):
    """One policy: which algorithm, with which settings, over which features."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{1,63}$")
    algorithm: Literal["lints", "linucb", "epsilon_greedy", "random", "static", "rllib", "dp_propensity"]
    model: Literal["per_offer", "shared", "hierarchical", "funnel"] = Field(
        default="per_offer",
        description="One linear model per offer, one shared over customer x offer features, "
        "per offer with the shared model's prediction as each offer's prior mean, "
        "or per offer guided by a per-offer model of clicks and rejects (funnel).",
    )
    ridge: float = Field(default=1.0, gt=0.0, le=1e6, description="L2 regularisation (prior precision) of the linear models.")
    shared_until_rewards: int = Field(
        default=0,
        ge=0,
        le=1_000_000,
        description="hierarchical: rewards an offer needs before its own model decides; "
        "until then it scores with the shared model's prediction. Other models ignore it.",
    )
    funnel: FunnelConfig = Field(
        default_factory=FunnelConfig, description="funnel: the engagement signal and its weight. Other models must keep the defaults."
    )
    exploration: ExplorationConfig = ExplorationConfig()
    features: tuple[str, ...] | Literal["default"] = "default"
    slate_size: int = Field(default=3, ge=1, le=20)
    channel_slate_size: dict[str, int] = Field(default_factory=lambda: {"web": 3, "mobile": 2, "wearable": 1})
    levers: LeversConfig = LeversConfig()
    snapshot: SnapshotConfig = SnapshotConfig()
    seed: int | None = None
    checkpoint: str | None = Field(
        default=None,
        description="rllib: RLlib checkpoint folder (as written by `offerloop train`) whose RLModule decides; "
        "dp_propensity (optional): folder of the DP model (weights.npz, model_card.json).",
    )

    @model_validator(mode="after")
    def _check_checkpoint(self) -> "PolicyConfig":
        if self.algorithm == "rllib" and not (self.checkpoint or "").strip():
            raise ValueError(
                "checkpoint is required when algorithm is 'rllib'; got none. "
                "Set it to a checkpoint folder written by `offerloop train`"
            )
        if self.algorithm not in ("rllib", "dp_propensity") and self.checkpoint is not None:
            raise ValueError(
                f"checkpoint is only allowed when algorithm is 'rllib' or 'dp_propensity'; got checkpoint={self.checkpoint!r} "
                f"with algorithm {self.algorithm!r}. Remove it or set algorithm: rllib"
            )
        return self

    @model_validator(mode="after")
    def _check_funnel(self) -> "PolicyConfig":
        # Compared with the defaults, not with the fields set, so that a dumped config of
        # another model (which carries the default block) validates again.
        if self.model != "funnel" and self.funnel != FunnelConfig():
            raise ValueError(
                f"funnel settings apply only to model 'funnel'; this policy has model {self.model!r} and "
                f"funnel {self.funnel.model_dump()}. Set model: funnel, or remove the funnel block"
            )
        return self

    @model_validator(mode="after")
    def _check_channels(self) -> "PolicyConfig":
        for channel, size in self.channel_slate_size.items():
            if channel not in ("web", "mobile", "wearable"):
                raise ValueError(f"channel_slate_size has unknown channel {channel!r}; allowed: web, mobile, wearable")
            if not 1 <= size <= 20:
                raise ValueError(f"channel_slate_size.{channel} must be in [1, 20]; got {size}")
        return self
