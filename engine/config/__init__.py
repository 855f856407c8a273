"""Typed configuration: offer catalog, reward config and policy config, loaded from YAML."""

from engine.config.loader import load_catalog, load_policy_config, load_reward_config, load_yaml_model
from engine.config.offers import ContactPolicy, OfferCatalog, OfferSpec
from engine.config.policy import PolicyConfig
from engine.config.rewards import RewardConfig

__all__ = [
    "ContactPolicy",
    "OfferCatalog",
    "OfferSpec",
    "PolicyConfig",
    "RewardConfig",
    "load_catalog",
    "load_policy_config",
    "load_reward_config",
    "load_yaml_model",
]
