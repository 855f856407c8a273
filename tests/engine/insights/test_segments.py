"""Behavioural segments: the shipped model, assignment, fitting and the segment signal."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.errors import ConfigError
from engine.insights.config import load_insights_config
from engine.insights.keys import FEATURES_KEY, SIGNAL_SEGMENT
from engine.insights.segments import SEGMENT_FEATURES, SegmentModel, fit_segment_model, load_segment_model, segment_vector
from engine.insights.simulation import simulate_profiles

MODEL_PATH = load_insights_config().segments.resolved_model_path()


def test_shipped_model_loads_offline() -> None:
    model = load_segment_model(MODEL_PATH)

    assert model.features == SEGMENT_FEATURES
    assert len(model.names) == len(model.centroids) == len(model.descriptions) >= 4
    assert len(set(model.names)) == len(model.names)
    assert model.trained_on["simulated_customers"] >= 100


def test_simulated_customers_get_a_segment() -> None:
    model = load_segment_model(MODEL_PATH)
    customers = list(simulate_profiles(6, days=45, seed=4))

    for customer in customers:
        profile = customer.profile
        assert profile is not None
        signal = profile.extra[FEATURES_KEY][SIGNAL_SEGMENT]
        assert 1 <= signal <= len(model.names)
        vector = segment_vector(profile, profile.extra["insights"])
        assert vector is not None and len(vector) == len(SEGMENT_FEATURES)
        assert model.assign(vector) >= 1


def test_fit_names_clusters_by_true_segment() -> None:
    vectors = [[float(group * 10 + offset % 3)] * len(SEGMENT_FEATURES) for group in range(3) for offset in range(6)]
    truths = [name for name in ("saver", "spender", "student") for _ in range(6)]

    model = fit_segment_model(vectors, truths, n_segments=3, seed=0)

    assert sorted(model.names) == ["saver", "spender", "student"]
    assert model.name_of(model.assign(vectors[0])) == "saver"
    assert model.name_of(model.assign(vectors[-1])) == "student"
    assert model.name_of(0) is None
    reloaded = SegmentModel.from_json(model.to_json())
    assert reloaded.names == model.names
    assert [reloaded.assign(vector) for vector in vectors] == [model.assign(vector) for vector in vectors]


def test_fit_rejects_too_few_customers() -> None:
    with pytest.raises(ValueError, match="need at least n_segments=3 customers to fit; got 2"):
        fit_segment_model([[0.0] * len(SEGMENT_FEATURES)] * 2, ["a", "b"], n_segments=3)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"version": 7}, "version 7 is not supported"),
        ({"features": ["only_one"]}, "do not fit together"),
        ({"names": ["a"]}, "do not fit together"),
    ],
)
def test_invalid_model_files_are_config_errors(tmp_path: Path, change: dict, message: str) -> None:
    raw = json.loads(MODEL_PATH.read_text(encoding="utf-8"))
    raw.update(change)
    path = tmp_path / "segments.json"
    path.write_text(json.dumps(raw), encoding="utf-8")

    with pytest.raises(ConfigError, match=message):
        load_segment_model(path)


def test_missing_model_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot be read"):
        load_segment_model(tmp_path / "absent.json")
