"""Reason sentences: every template formats, with the value it names."""

import re

import pytest

from engine.features import FEATURE_KINDS
from engine.reasons import REASON_TEMPLATES, describe_feature

PLACEHOLDERS = {"money", "percent", "days", "count"}


@pytest.mark.parametrize("name", sorted(REASON_TEMPLATES))
def test_template_placeholders(name):
    assert name in FEATURE_KINDS or name.startswith(("overdraft_risk", "days_to", "subscription", "income_stable", "life_", "segment")), name
    for template in REASON_TEMPLATES[name]:
        if template is None:
            continue
        found = re.findall(r"\{(\w+)\}", template)
        assert len(found) <= 1, template
        assert set(found) <= PLACEHOLDERS, template
        for high in (True, False):
            sentence = describe_feature(name, 1234.5, high, "EUR")
            assert sentence is None or "{" not in sentence


def test_values_are_formatted_for_their_kind():
    assert "2,500 GBP" in describe_feature("income_30d", 2500.4, True, "GBP")
    assert "25%" in describe_feature("savings_rate_30d", 0.25, True, "EUR")
    assert "12 times" in describe_feature("logins_30d", 12.0, True, "EUR")
    assert describe_feature("impressions_7d", 3.0, True, "EUR") is None
