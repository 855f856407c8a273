from __future__ import annotations

import warnings

import numpy as np
import pytest

from engine.errors import InvalidInputError
from policies.ope import (
    LowOverlapWarning,
    MissingPropensityWarning,
    OPEWarning,
    SmallPropensityWarning,
    SmallSampleWarning,
    diagnose_logs,
)

N, K = 400, 4


def uniform_logs(seed: int = 0):
    rng = np.random.default_rng(seed)
    action = rng.integers(K, size=N)
    pscore = np.full(N, 1.0 / K)
    logging = np.full((N, K), 1.0 / K)
    return action, pscore, logging


def test_clean_logs_warn_nothing() -> None:
    action, pscore, logging = uniform_logs()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        diagnostics = diagnose_logs(pscore, action, logging, logging_dist=logging)
    assert diagnostics.warnings == ()
    assert diagnostics.effective_sample_size == pytest.approx(N)
    assert diagnostics.mean_weight == pytest.approx(1.0)
    assert diagnostics.unsupported_mass == 0.0


def test_missing_propensities_warn() -> None:
    action, pscore, logging = uniform_logs()
    pscore[:5] = np.nan
    pscore[5] = 0.0
    with pytest.warns(MissingPropensityWarning, match="6 of 400 events have no usable propensity"):
        diagnostics = diagnose_logs(pscore, action, logging)
    assert diagnostics.n_missing_pscore == 6


def test_tiny_propensities_warn() -> None:
    action, pscore, logging = uniform_logs()
    pscore[0] = 1e-5
    with pytest.warns(SmallPropensityWarning, match=r"1 events have a propensity below 0.001 \(smallest 1e-05\)"):
        diagnostics = diagnose_logs(pscore, action, logging, min_ess=0, weight_tolerance=1e9)
    assert diagnostics.n_small_pscore == 1


def test_unsupported_actions_warn() -> None:
    action, pscore, logging = uniform_logs()
    logging = logging.copy()
    logging[:, 3] = 0.0
    target = np.zeros((N, K))
    target[:, 3] = 1.0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        diagnostics = diagnose_logs(pscore, action, target, logging_dist=logging)
    kinds = {type(item.message) for item in caught}
    assert LowOverlapWarning in kinds
    assert diagnostics.unsupported_mass == pytest.approx(1.0)


def test_small_effective_sample_warns() -> None:
    action, pscore, _ = uniform_logs()
    target = np.zeros((N, K))
    target[:, 0] = 1.0
    target[action == 0] = [0.5, 0.5, 0.0, 0.0]
    target[np.flatnonzero(action == 0)[0]] = [1.0, 0.0, 0.0, 0.0]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        diagnostics = diagnose_logs(pscore, action, target, min_ess=200)
    assert any(isinstance(item.message, SmallSampleWarning) for item in caught)
    assert diagnostics.effective_sample_size < 200


def test_warnings_share_a_base_class() -> None:
    for kind in (MissingPropensityWarning, SmallPropensityWarning, LowOverlapWarning, SmallSampleWarning):
        assert issubclass(kind, OPEWarning)
        assert issubclass(kind, UserWarning)


def test_warn_false_only_lists() -> None:
    action, pscore, logging = uniform_logs()
    pscore[0] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        diagnostics = diagnose_logs(pscore, action, logging, warn=False)
    assert len(diagnostics.warnings) == 1


def test_diagnostics_reject_mismatched_shapes() -> None:
    action, pscore, logging = uniform_logs()
    with pytest.raises(InvalidInputError, match=r"got \(400,\), \(399,\) and \(400, 4\)"):
        diagnose_logs(pscore, action[:-1], logging)
    with pytest.raises(InvalidInputError, match="logging_dist must have the shape of action_dist"):
        diagnose_logs(pscore, action, logging, logging_dist=logging[:, :2])
