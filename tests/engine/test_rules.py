import pytest

from engine.errors import RuleError
from engine.rules import compile_rule


@pytest.mark.parametrize(
    ("rule", "features", "expected"),
    [
        ("true", {}, True),
        ("income_30d >= 1500 and overdraft_days_90d == 0", {"income_30d": 2000, "overdraft_days_90d": 0}, True),
        ("income_30d >= 1500 and overdraft_days_90d == 0", {"income_30d": 2000, "overdraft_days_90d": 1}, False),
        ("not travelling or balance > 10", {"travelling": 1, "balance": 5}, False),
        ("0 < balance <= 100", {"balance": 50}, True),
        ("0 < balance <= 100", {"balance": 150}, False),
        ("segment in ('saver', 'family')", {"segment": "saver"}, True),
        ("spend_30d_travel / spend_30d > 0.2", {"spend_30d_travel": 30, "spend_30d": 100}, True),
        ("spend_30d_travel / spend_30d > 0.2", {"spend_30d_travel": 30, "spend_30d": 0}, False),
        ("-balance > 100", {"balance": -200}, True),
        ("missing_feature == 0", {}, True),
    ],
)
def test_rule_evaluation(rule, features, expected):
    assert compile_rule(rule)(features) is expected


@pytest.mark.parametrize(
    "rule",
    [
        "__import__('os').system('true')",
        "open('/etc/passwd')",
        "balance.real",
        "features['x']",
        "(lambda: 1)()",
        "[x for x in range(3)]",
        "balance ** 99999",
        "balance if 1 else 2",
    ],
)
def test_unsafe_constructs_rejected(rule):
    with pytest.raises(RuleError, match="does not allow"):
        compile_rule(rule)


def test_unknown_name_suggests_match():
    with pytest.raises(RuleError, match=r"unknown feature 'balanse'.*Did you mean balance"):
        compile_rule("balanse > 1", {"balance", "income_30d"})


def test_syntax_error_and_empty():
    with pytest.raises(RuleError, match="not valid syntax"):
        compile_rule("balance >")
    with pytest.raises(RuleError, match="empty"):
        compile_rule("  ")


def test_names_are_collected():
    assert compile_rule("a > 1 or b < 2 and c == 'x'").names == {"a", "b", "c"}
