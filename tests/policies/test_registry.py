"""make_learner, load_snapshot and learner_from_snapshot, with their input errors."""

from __future__ import annotations

import msgpack
import numpy as np
import pytest

from engine.config.policy import PolicyConfig
from engine.errors import ConfigError, InvalidInputError
from policies import (
    EpsilonGreedyLearner,
    FixedPolicyLearner,
    LinearLearner,
    LinTSSnapshot,
    PolicySnapshot,
    learner_from_snapshot,
    load_snapshot,
    make_learner,
)
from policies.serialization import SNAPSHOT_FORMAT, decode_snapshot, encode_snapshot
from policy_cases import DIM, OFFER_IDS, PolicyCase, offer_features, random_context, trained_learner


@pytest.mark.parametrize(
    ("algorithm", "learner_class"),
    [
        ("lints", LinearLearner),
        ("linucb", LinearLearner),
        ("epsilon_greedy", EpsilonGreedyLearner),
        ("random", FixedPolicyLearner),
        ("static", FixedPolicyLearner),
    ],
)
def test_make_learner_picks_class(algorithm: str, learner_class: type) -> None:
    learner = make_learner(PolicyConfig(id="p1", algorithm=algorithm), dim=DIM, seed=3)
    assert type(learner) is learner_class
    assert (learner.policy_id, learner.algorithm, learner.n_updates) == ("p1", algorithm, 0)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"dim": 0}, InvalidInputError, r"dim \(context length, bias included\) must be a positive integer; got 0"),
        ({"dim": 2.5}, InvalidInputError, r"must be a positive integer; got 2.5"),
        ({"dim": DIM, "seed": "seven"}, InvalidInputError, r"seed must be an integer or None; got 'seven'"),
        ({"dim": DIM, "model": "shared"}, ConfigError, r"uses model 'shared', which needs offer_features; got None"),
    ],
)
def test_make_learner_rejects(kwargs: dict, error: type[Exception], message: str) -> None:
    model = kwargs.pop("model", "per_offer")
    with pytest.raises(error, match=message):
        make_learner(PolicyConfig(id="p1", algorithm="lints", model=model), **kwargs)


def test_load_snapshot_keeps_shared_features() -> None:
    features = offer_features()
    learner = make_learner(PolicyConfig(id="p1", algorithm="lints", model="shared"), dim=DIM, offer_features=features)
    snapshot = load_snapshot(learner.snapshot().to_bytes())
    assert isinstance(snapshot, LinTSSnapshot)
    assert snapshot.params.offer_ids == OFFER_IDS
    for offer_id, vector in features.items():
        np.testing.assert_array_equal(snapshot.params.offer_feature_map()[offer_id], vector)


def test_restarted_learner_versions_continue() -> None:
    learner = trained_learner(PolicyCase("lints"))
    for _ in range(4):
        stored = learner.snapshot()
    assert stored.version == 4
    restarted = learner_from_snapshot(load_snapshot(stored.to_bytes()))
    assert [restarted.snapshot().version for _ in range(2)] == [5, 6]


def bytes_with(**changes: object) -> bytes:
    payload = msgpack.unpackb(trained_learner(PolicyCase("linucb")).snapshot().to_bytes(), raw=False)
    for path, value in changes.items():
        target = payload
        keys = path.split("__")
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] = value
    return msgpack.packb(payload, use_bin_type=True)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\xc1garbage", r"snapshot data is not valid msgpack"),
        (msgpack.packb([1, 2]), r"snapshot data must be a 'offerloop-policy-snapshot' map; got a list"),
        (msgpack.packb({"format": "other"}), r"map; got a dict with format 'other'"),
        (bytes_with(format_version=2), r"snapshot format_version must be 1; got 2"),
        (bytes_with(header__config__algorithm="bandit"), r"snapshot contains an invalid policy config"),
        (bytes_with(arrays__theta__dtype="|O"), r"snapshot array 'theta' must have dtype '<f8'; got '\|O'"),
        (bytes_with(arrays__theta__data=b"\x00" * 8), r"snapshot array 'theta' of shape \(6, 5\) needs 240 bytes; got 8"),
        (bytes_with(arrays__theta__shape=[6, -5]), r"snapshot array 'theta' must have a list of non-negative sizes"),
        (bytes_with(header__dim=7), r"snapshot header gives dim 7 but its arrays have dimension 5"),
        (bytes_with(header__version=-1), r"snapshot version must be a non-negative integer; got -1"),
    ],
    ids=[
        "not-msgpack",
        "not-a-map",
        "other-format",
        "newer-format",
        "bad-config",
        "object-dtype",
        "short-array",
        "negative-shape",
        "dim-mismatch",
        "negative-version",
    ],
)
def test_load_snapshot_rejects(data: bytes, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        load_snapshot(data)


def test_load_snapshot_rejects_missing_array() -> None:
    payload = msgpack.unpackb(trained_learner(PolicyCase("linucb")).snapshot().to_bytes(), raw=False)
    del payload["arrays"]["a_inv"]
    with pytest.raises(InvalidInputError, match=r"snapshot of policy 'test-policy' lacks, misnames or mistypes a field or array"):
        load_snapshot(msgpack.packb(payload, use_bin_type=True))


def test_learner_from_snapshot_rejects_foreign_snapshot() -> None:
    class ForeignSnapshot(PolicySnapshot):
        def choose_slate(self, context, offer_ids, multipliers, k, rng):  # type: ignore[no-untyped-def]
            raise NotImplementedError

        def expected_rewards(self, context, offer_ids):  # type: ignore[no-untyped-def]
            raise NotImplementedError

        def to_bytes(self) -> bytes:
            return b""

    with pytest.raises(InvalidInputError, match=r"needs a snapshot made by policies.make_learner; got ForeignSnapshot"):
        learner_from_snapshot(ForeignSnapshot())


def test_serialization_round_trips_arrays() -> None:
    arrays = {"matrix": np.arange(6.0).reshape(2, 3), "empty": np.zeros((0, 4)), "scalar_like": np.array([2.5])}
    data = encode_snapshot({"note": "x"}, arrays)
    header, decoded = decode_snapshot(data)
    assert header == {"note": "x"}
    for name, array in arrays.items():
        np.testing.assert_array_equal(decoded[name], array)
        assert decoded[name].shape == array.shape
        assert not decoded[name].flags.writeable
    assert msgpack.unpackb(data, raw=False)["format"] == SNAPSHOT_FORMAT


def test_snapshot_repr_names_policy() -> None:
    snapshot = trained_learner(PolicyCase("lints"), rounds=4).snapshot()
    assert repr(snapshot) == "LinTSSnapshot(policy_id='test-policy', algorithm='lints', version=1, n_updates=4, dim=5)"
    assert snapshot.expected_rewards(random_context(np.random.default_rng(0)), ()).shape == (0,)
