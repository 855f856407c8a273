"""The typed insight config: defaults, and invalid files with clear messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.errors import ConfigError
from engine.insights.config import CONFIG_PATH, InsightsConfig, load_insights_config


def test_shipped_config_loads() -> None:
    config = load_insights_config()

    assert isinstance(config, InsightsConfig)
    assert config is load_insights_config()
    assert config.forecast.horizon_days == 14
    assert "overdraft_risk_14d == 0" in config.credit_limit_review.rule


def with_change(tmp_path: Path, old: str, new: str) -> Path:
    text = CONFIG_PATH.read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "insights.yaml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "old, new, message",
    [
        ("horizon_days: 14", "horizon_days: 0", r"forecast\.horizon_days: Input should be greater than or equal to 1 \(got 0\)"),
        ("min_confidence: 0.5", "min_confidence: 1.5", r"recurring\.min_confidence: Input should be less than 1 \(got 1.5\)"),
        ("amount_tolerance: 0.2", "amount_tolerance: 0.9", "variable_amount_tolerance \\(0.6\\) must be at least amount_tolerance \\(0.9\\)"),
        ("subscriptions: 1.0, rent", "sweets: 1.0, rent", "scheduled_categories lists unknown categories \\['sweets'\\]"),
        ("repayment_velocity >= 0.3", "repayment_speed >= 0.3", "reads unknown feature 'repayment_speed'"),
        ("savings_share: 0.1", "savings_share: lots", r"insights\.savings_share: Input should be a valid number"),
        ("spend:\n", "spendings:\n", "spendings: unknown field; allowed fields here: .*spend"),
    ],
)
def test_invalid_values_name_field_and_value(tmp_path: Path, old: str, new: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_insights_config(with_change(tmp_path, old, new))


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_insights_config(tmp_path / "absent.yaml")
