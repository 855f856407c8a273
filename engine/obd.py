"""Validate the OPE estimators on the Open Bandit Dataset (OBD): real logs of two policies on one site.

The OBD (Saito et al., "Open Bandit Dataset and Pipeline", NeurIPS 2021 Datasets and
Benchmarks; Apache-2.0) contains a week of fashion e-commerce impressions logged at the
same time by a uniform-random policy (``random/``) and a Bernoulli Thompson sampling
policy (``bts/``). :func:`evaluate_obd` estimates the BTS policy's click rate from the
random policy's logs and compares each estimate with the click rate observed in the
BTS logs.

The BTS action distribution. BTS in this dataset ignores user features, and its
distribution changed during the week as it updated. The logs give the probability of
the logged item only. The evaluated policy is therefore BTS's time-averaged
distribution at each position, estimated as the share of BTS impressions of each item
at that position. When click rates do not drift within the week, the value of this
distribution equals BTS's observed click rate.

Folder layout (``DIR``): ``DIR/{random,bts}/<campaign>/<campaign>.csv`` (the dataset as
published) or ``.csv.gz``. Columns used: ``item_id``, ``position``, ``click``,
``propensity_score`` and ``user_feature_0..3``; other columns are ignored.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.errors import InvalidInputError
from policies.ope import PolicyValueEstimate, cross_fit_rewards, diagnose_logs, estimate_all

__all__ = ["OBD_DIR_ENV", "ObdLogs", "ObdReport", "default_obd_dir", "read_obd_logs", "evaluate_obd"]

logger = logging.getLogger(__name__)

OBD_DIR_ENV = "OFFERLOOP_OBD_DIR"
USER_FEATURES: tuple[str, ...] = ("user_feature_0", "user_feature_1", "user_feature_2", "user_feature_3")
_COLUMNS = ("item_id", "position", "click", "propensity_score", *USER_FEATURES)
# The repository's small copy, used when OFFERLOOP_OBD_DIR is unset.
_BUNDLED = Path(__file__).resolve().parents[1] / "tests" / "data" / "obd"


def default_obd_dir() -> Path:
    """Return ``$OFFERLOOP_OBD_DIR``, or the sample under ``tests/data/obd`` when it is unset."""
    configured = os.environ.get(OBD_DIR_ENV)
    return Path(configured) if configured else _BUNDLED


@dataclass(frozen=True, eq=False)
class ObdLogs:
    """One policy's OBD log as arrays.

    Attributes:
        item: shape (n,), int; item id (the action).
        position: shape (n,), int; slot 1 to 3.
        click: shape (n,), float 0/1; the reward.
        pscore: shape (n,); the logging policy's probability of the item at that position.
        users: shape (n, 4), object; the hashed user features.
        n_items: number of items in the campaign.
    """

    item: np.ndarray
    position: np.ndarray
    click: np.ndarray
    pscore: np.ndarray
    users: np.ndarray
    n_items: int


def read_obd_logs(directory: str | Path, policy: str, campaign: str) -> ObdLogs:
    """Read ``directory/<policy>/<campaign>/<campaign>.csv[.gz]``.

    Raises:
        InvalidInputError: the file is missing or lacks a needed column.
    """
    import pandas as pd

    folder = Path(directory) / policy / campaign
    candidates = [folder / f"{campaign}.csv", folder / f"{campaign}.csv.gz"]
    path = next((candidate for candidate in candidates if candidate.is_file()), None)
    if path is None:
        raise InvalidInputError(
            f"no OBD log at {candidates[0]} or {candidates[1]}; point --obd (or {OBD_DIR_ENV}) at a folder with "
            "random/ and bts/ subfolders of the Open Bandit Dataset"
        )
    frame = pd.read_csv(path)
    missing = [column for column in _COLUMNS if column not in frame.columns]
    if missing:
        raise InvalidInputError(f"{path} lacks OBD column(s) {missing}; expected at least {list(_COLUMNS)}")
    items = frame["item_id"].to_numpy(dtype=np.int64)
    return ObdLogs(
        item=items,
        position=frame["position"].to_numpy(dtype=np.int64),
        click=frame["click"].to_numpy(dtype=np.float64),
        pscore=frame["propensity_score"].to_numpy(dtype=np.float64),
        users=frame[list(USER_FEATURES)].to_numpy(dtype=object),
        n_items=int(items.max()) + 1,
    )


@dataclass(frozen=True)
class ObdReport:
    """Estimates of the BTS click rate from random logs, against the click rate BTS observed.

    Attributes:
        campaign: ``"all"``, ``"men"`` or ``"women"``.
        n_random, n_bts: events in each log.
        ground_truth: mean click of the BTS logs, with its normal interval.
        estimates: by estimator id.
        relative_errors: ``|estimate - ground truth| / ground truth`` by estimator id.
        effective_sample_size: of the importance weights on the random logs.
    """

    campaign: str
    n_random: int
    n_bts: int
    ground_truth: PolicyValueEstimate
    estimates: dict[str, PolicyValueEstimate]
    relative_errors: dict[str, float]
    effective_sample_size: float

    def to_dict(self) -> dict[str, object]:
        """Return a JSON-ready dict."""
        return {
            "campaign": self.campaign,
            "n_random": self.n_random,
            "n_bts": self.n_bts,
            "ground_truth": self.ground_truth.as_dict(),
            "estimates": {name: estimate.as_dict() for name, estimate in self.estimates.items()},
            "relative_errors": self.relative_errors,
            "effective_sample_size": self.effective_sample_size,
        }


def _bts_distribution(bts: ObdLogs, n_items: int) -> np.ndarray:
    """Return shape (n_positions + 1, n_items): share of BTS impressions of each item per position (row 0 unused)."""
    positions = int(bts.position.max())
    counts = np.zeros((positions + 1, n_items))
    np.add.at(counts, (bts.position, bts.item), 1.0)
    totals = counts.sum(axis=1, keepdims=True)
    return np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)


def _one_hot_context(users: np.ndarray, position: np.ndarray) -> np.ndarray:
    """Encode the hashed user features and the position as indicators, plus a bias column."""
    blocks = []
    for column in range(users.shape[1]):
        _, codes = np.unique(users[:, column].astype(str), return_inverse=True)
        blocks.append(np.eye(codes.max() + 1)[codes])
    blocks.append(np.eye(int(position.max()) + 1)[position][:, 1:])
    blocks.append(np.ones((len(position), 1)))
    return np.hstack(blocks)


def evaluate_obd(
    directory: str | Path | None = None, *, campaign: str = "men", alpha: float = 0.05, seed: int = 0
) -> ObdReport:
    """Estimate the BTS policy's click rate from the random policy's logs; compare with the observed one.

    Args:
        directory: OBD folder; default :func:`default_obd_dir`.
        campaign: OBD campaign subfolder.
        alpha: one minus the coverage of the intervals.
        seed: seed of the cross-fitting folds of the DM and DR reward model.

    Raises:
        InvalidInputError: missing files or columns, or logs of different item sets.
    """
    folder = Path(directory) if directory is not None else default_obd_dir()
    random_logs = read_obd_logs(folder, "random", campaign)
    bts_logs = read_obd_logs(folder, "bts", campaign)
    n_items = max(random_logs.n_items, bts_logs.n_items)
    per_position = _bts_distribution(bts_logs, n_items)
    action_dist = per_position[random_logs.position]
    context = _one_hot_context(random_logs.users, random_logs.position)
    estimated = cross_fit_rewards(context, random_logs.item, random_logs.click, n_items, ridge=1.0, seed=seed)
    diagnostics = diagnose_logs(random_logs.pscore, random_logs.item, action_dist)
    estimates = estimate_all(
        random_logs.click, random_logs.item, random_logs.pscore, action_dist, estimated, alpha=alpha, seed=seed
    )
    clicks = bts_logs.click
    from statistics import NormalDist

    z = NormalDist().inv_cdf(1.0 - alpha / 2.0)
    truth = float(clicks.mean())
    error = float(clicks.std(ddof=1) / np.sqrt(len(clicks)))
    ground_truth = PolicyValueEstimate(
        estimator="observed", value=truth, ci_low=truth - z * error, ci_high=truth + z * error, std_error=error,
        n_events=len(clicks), ci_method="normal", alpha=alpha,
    )
    relative = {name: abs(estimate.value - truth) / truth for name, estimate in estimates.items()}
    logger.info("obd_evaluated", extra={"campaign": campaign, "ground_truth": truth})
    return ObdReport(
        campaign=campaign,
        n_random=len(random_logs.click),
        n_bts=len(clicks),
        ground_truth=ground_truth,
        estimates=estimates,
        relative_errors=relative,
        effective_sample_size=diagnostics.effective_sample_size,
    )
