from pathlib import Path

import pytest
import yaml

from engine.config import load_catalog, load_policy_config, load_reward_config
from engine.config.loader import CONFIG_DIR
from engine.errors import ConfigError


def write(tmp_path: Path, name: str, data: object) -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)
    return path


def shipped_catalog() -> dict:
    return yaml.safe_load((CONFIG_DIR / "offers.yaml").read_text())


def test_shipped_configs_load():
    catalog = load_catalog()
    assert 18 <= len(catalog.offers) <= 25
    categories = {offer.category for offer in catalog.offers}
    assert {"credit", "savings", "insurance", "service", "education", "liquidity"} <= categories
    assert "liquidity-transfer-from-savings" in catalog.ids
    assert load_reward_config().weights["accept"] == 1.0
    for name in ("lints", "lints-per-offer", "linucb", "lints-shared", "epsilon-greedy", "random", "static"):
        assert load_policy_config(name).id == name


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d: d["offers"][0].update(business_value=-1), r"offers\[0\]\.business_value \(offer 'cashback-card-preapproved'\).*greater than or equal to 0.*got -1"),
        (lambda d: d["offers"][1].update(category="crypto"), r"offers\[1\]\.category.*'credit'.*got 'crypto'"),
        (lambda d: d["offers"][2].update(actionUrl="ftp://x"), r"offers\[2\]\.actionUrl.*https://.*ftp://x"),
        (lambda d: d["offers"][3].update(eligibility="incom_30d > 5"), r"offers\[3\]\.eligibility.*unknown feature 'incom_30d'.*Did you mean income_30d"),
        (lambda d: d["offers"][3].update(eligibility="__import__('os').system('x')"), r"offers\[3\]\.eligibility.*does not allow"),
        (lambda d: d["offers"].append(dict(d["offers"][0])), r"cashback-card-preapproved.*more than once"),
        (lambda d: d["offers"][0].update(valid_from="2025-02-01", valid_until="2025-01-01"), r"valid_until 2025-01-01 is before valid_from"),
        (lambda d: d["offers"][0]["contact"].update(window="soon"), r"contact\.window.*got 'soon'"),
    ],
    ids=["negative-value", "bad-category", "bad-url", "unknown-feature", "unsafe-rule", "duplicate-id", "dates", "bad-duration"],
)
def test_catalog_errors_name_file_field_value(tmp_path, mutate, expected):
    data = shipped_catalog()
    mutate(data)
    path = write(tmp_path, "offers.yaml", data)
    with pytest.raises(ConfigError, match=expected) as info:
        load_catalog(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"weights": {"click": 1}}, r"weights is missing impression, accept, reject, dismiss"),
        ({"combine": "median"}, r"combine.*'max', 'sum' or 'last'.*got 'median'"),
        ({"attribution_window": {"impression": "1h", "click": "0s", "accept": "1d", "reject": "1d", "dismiss": "1d"}}, r"attribution_window.click must be positive"),
        ({"terminal": ["purchase"]}, r"terminal has unknown feedback type 'purchase'"),
        ({"weights": {"impression": 0, "click": float("inf"), "accept": 1, "reject": 0, "dismiss": 0}}, r"weights\.click: Input should be a finite number \(got inf\)"),
        ({"default_reward": float("nan")}, r"default_reward: Input should be a finite number"),
    ],
    ids=["missing-weights", "bad-combine", "zero-window", "bad-terminal", "infinite-weight", "nan-default"],
)
def test_reward_config_errors(tmp_path, change, expected):
    data = yaml.safe_load((CONFIG_DIR / "rewards.yaml").read_text())
    data.update(change)
    with pytest.raises(ConfigError, match=expected):
        load_reward_config(write(tmp_path, "rewards.yaml", data))


def test_policy_config_errors(tmp_path):
    with pytest.raises(ConfigError, match=r"algorithm.*got 'sarsa'"):
        load_policy_config(write(tmp_path, "p.yaml", {"id": "p1", "algorithm": "sarsa"}))
    with pytest.raises(ConfigError, match=r"features.*unknown feature\(s\) 'salary_size'"):
        load_policy_config(write(tmp_path, "p.yaml", {"id": "p1", "algorithm": "lints", "features": ["balance", "salary_size"]}))
    with pytest.raises(ConfigError, match=r"known policies:.*lints"):
        load_policy_config("no-such-policy")


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"exploration": {"sample": 3}}, r"exploration\.sample: unknown field; allowed fields here: epsilon, ucb_alpha, posterior_scale, samples"),
        ({"funnel": {"prior_strenght": 300}}, r"funnel\.prior_strenght: unknown field; allowed fields here: signal, prior_strength"),
        ({"funnel": {"signal": {"click": float("inf")}}}, r"funnel\.signal\.click: Input should be a finite number \(got inf\)"),
        ({"funnel": {"signal": {"click": 500.0}}}, r"funnel\.signal\.click: Input should be less than or equal to 100"),
        ({"funnel": {"signal": {"view": 1.0}}}, r"funnel\.signal\.view.*'impression', 'click', 'accept', 'reject' or 'dismiss'"),
        ({"funnel": {"prior_strength": float("nan")}}, r"funnel\.prior_strength: Input should be a finite number"),
        ({"funnel": {"signal": {"click": 0.0}}}, r"funnel: signal needs at least one feedback type with a non-zero weight; got \{'click': 0\.0\}\. For example"),
        ({"model": "per_offer", "funnel": {"prior_strength": 10}}, r"funnel settings apply only to model 'funnel'; this policy has model 'per_offer' and funnel .*'prior_strength': 10\.0"),
    ],
    ids=["unknown-exploration-field", "unknown-funnel-field", "infinite-signal", "large-signal", "unknown-feedback-type", "nan-strength", "zero-signal", "funnel-without-model"],
)
def test_funnel_policy_config_errors(tmp_path, change, expected):
    data = {"id": "p1", "algorithm": "lints", "model": "funnel", **change}
    path = write(tmp_path, "p.yaml", data)
    with pytest.raises(ConfigError, match=expected) as info:
        load_policy_config(path)
    assert str(path) in str(info.value)
    assert "(got a mapping)" not in str(info.value)


def test_yaml_syntax_error_names_line(tmp_path):
    path = write(tmp_path, "rewards.yaml", "weights:\n  click: [1,\n")
    with pytest.raises(ConfigError, match=r"invalid YAML at line \d+"):
        load_reward_config(path)


def test_missing_file_is_clear(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_reward_config(tmp_path / "nope.yaml")


def test_durations_accept_short_and_iso(tmp_path):
    data = yaml.safe_load((CONFIG_DIR / "rewards.yaml").read_text())
    data["attribution_window"]["accept"] = "P3D"
    data["attribution_window"]["click"] = "2w"
    config = load_reward_config(write(tmp_path, "r.yaml", data))
    assert config.attribution_window["accept"].days == 3
    assert config.attribution_window["click"].days == 14
    assert config.max_window.days == 14


def test_dumped_policy_configs_validate_again():
    from engine.config.policy import PolicyConfig

    for name in ("lints", "lints-per-offer", "lints-hierarchical", "static"):
        config = load_policy_config(name)
        assert PolicyConfig.model_validate(config.model_dump()) == config
