"""Behavioural segments: customers grouped by how they earn, spend and pay.

Each customer is described by :data:`SEGMENT_FEATURES`, read from the live profile's
90-day window and the insight state (so a segment needs no history scan). A k-means
model fitted on the simulated population (:func:`fit_segment_model`, scikit-learn)
standardises the vector and assigns the nearest centroid. The fitted model is a small
JSON file (``engine/data/segments.json``) that loads without scikit-learn or a network.

Segment ids start at 1; :data:`UNKNOWN_SEGMENT` (0) means "not assigned yet", which is
also what an eligibility rule reads before the signal is set. Names come from the
simulated customers' true segments (the most common one in each cluster). A name that
two clusters share gets the cluster's most distinctive feature appended.

Train and save the model with::

    python -m engine.insights.segments --customers 600 --days 120 --segments 8 --seed 11
"""

from __future__ import annotations

import functools
import json
import logging
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.errors import ConfigError
from engine.insights.keys import KEY_RECURRING

if TYPE_CHECKING:
    from engine.profile import CustomerProfile

__all__ = [
    "SEGMENT_FEATURES",
    "UNKNOWN_SEGMENT",
    "SegmentModel",
    "segment_vector",
    "FEATURE_WORDS",
    "load_segment_model",
    "cached_segment_model",
    "fit_segment_model",
]

logger = logging.getLogger(__name__)

UNKNOWN_SEGMENT = 0
MODEL_VERSION = 1
_WINDOW = 90
_SHARE_CATEGORIES = ("groceries", "dining", "transport", "shopping", "entertainment", "travel", "subscriptions")
SEGMENT_FEATURES: tuple[str, ...] = (
    "log_income_30d",
    "log_spend_30d",
    "savings_rate",
    *(f"share_{name}" for name in _SHARE_CATEGORIES),
    "share_housing",
    "log_weekend_ratio",
    "log_transactions_30d",
    "overdraft_day_share",
    "signed_log_balance",
    "recurring_income",
)


# Wording of each feature in segment names and descriptions.
FEATURE_WORDS: dict[str, str] = {
    "log_income_30d": "income",
    "log_spend_30d": "spending",
    "savings_rate": "savings rate",
    "share_groceries": "grocery share",
    "share_dining": "dining share",
    "share_transport": "transport share",
    "share_shopping": "shopping share",
    "share_entertainment": "entertainment share",
    "share_travel": "travel share",
    "share_subscriptions": "subscription share",
    "share_housing": "housing costs",
    "log_weekend_ratio": "weekend spending",
    "log_transactions_30d": "number of payments",
    "overdraft_day_share": "overdraft days",
    "signed_log_balance": "balance",
    "recurring_income": "regular income",
}


def segment_vector(profile: CustomerProfile, state: Mapping[str, Any]) -> list[float] | None:
    """Return the customer's :data:`SEGMENT_FEATURES` values, or None without transactions.

    Rates are per 30 days over the profile's 90-day window, or over the tenure when it is
    shorter. Reads only window totals, so the cost does not grow with history.
    """
    if profile.clock_day is None or profile.first_seen is None:
        return None
    window = profile.windows[_WINDOW]
    tenure = max(1, min(_WINDOW, profile.clock_day - int(profile.first_seen // 86400) + 1))
    per_30 = 30.0 / tenure
    spend = max(window["s"], 0.0)
    income = max(window["i"], 0.0)
    if spend <= 0.0 and income <= 0.0:
        return None
    categories = window["c"]
    shares = [max(categories.get(name, 0.0), 0.0) / spend if spend > 0 else 0.0 for name in _SHARE_CATEGORIES]
    housing = (max(categories.get("rent", 0.0), 0.0) + max(categories.get("loan_repayment", 0.0), 0.0)) / spend if spend > 0 else 0.0
    by_weekday = profile.windows[56]["wd"]
    weekend = (max(by_weekday[5], 0.0) + max(by_weekday[6], 0.0)) / 2.0
    weekdays = sum(max(value, 0.0) for value in by_weekday[:5]) / 5.0
    weekend_ratio = (weekend + 1.0) / (weekdays + 1.0)
    savings = max(-1.0, min(1.0, (income - spend) / income)) if income > 0 else -1.0
    balance = profile.balance or 0.0
    recurring_income = 1.0 if any(series_id.startswith("i") for series_id in state.get(KEY_RECURRING, ())) else 0.0
    return [
        math.log1p(income * per_30),
        math.log1p(spend * per_30),
        savings,
        *shares,
        housing,
        math.log(weekend_ratio),
        math.log1p(max(window["n"], 0) * per_30),
        max(window["neg"], 0) / tenure,
        math.copysign(math.log1p(abs(balance)), balance),
        recurring_income,
    ]


@dataclass(frozen=True)
class SegmentModel:
    """A fitted segment model: standardisation, centroids and names.

    Attributes:
        features: feature names, :data:`SEGMENT_FEATURES` when fitted by this version.
        mean, scale: standardisation of each feature, shape (n_features,).
        centroids: cluster centres in standardised units, shape (n_segments, n_features).
        names: segment name of each centroid; segment id ``i + 1`` is ``names[i]``.
        descriptions: the two features that set each segment apart, in words.
        trained_on: how the model was fitted (population size, days, seed).
    """

    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    centroids: tuple[tuple[float, ...], ...]
    names: tuple[str, ...]
    descriptions: tuple[str, ...]
    trained_on: dict[str, Any]

    def assign(self, vector: Sequence[float]) -> int:
        """Return the 1-based id of the nearest segment."""
        if len(vector) != len(self.features):
            raise ValueError(f"segment vector has {len(vector)} values; the model expects {len(self.features)}")
        scaled = [(value - mean) / scale for value, mean, scale in zip(vector, self.mean, self.scale)]
        best = 0
        best_distance = math.inf
        for index, centroid in enumerate(self.centroids):
            distance = sum((a - b) ** 2 for a, b in zip(scaled, centroid))
            if distance < best_distance:
                best, best_distance = index, distance
        return best + 1

    def name_of(self, segment_id: int) -> str | None:
        """Return the name of a 1-based segment id, None for unknown ids."""
        if 1 <= segment_id <= len(self.names):
            return self.names[segment_id - 1]
        return None

    def to_json(self) -> str:
        """Serialise to the JSON stored under engine/data."""
        return json.dumps(
            {
                "version": MODEL_VERSION,
                "features": list(self.features),
                "mean": [round(value, 6) for value in self.mean],
                "scale": [round(value, 6) for value in self.scale],
                "centroids": [[round(value, 6) for value in row] for row in self.centroids],
                "names": list(self.names),
                "descriptions": list(self.descriptions),
                "trained_on": self.trained_on,
            },
            indent=1,
        )

    @classmethod
    def from_json(cls, text: str, *, source: str = "segment model") -> "SegmentModel":
        """Parse a model written by :meth:`to_json`.

        Raises:
            ConfigError: the text is not JSON or the arrays do not fit together.
        """
        try:
            raw = json.loads(text)
            if raw.get("version") != MODEL_VERSION:
                raise ConfigError(f"{source}: version {raw.get('version')!r} is not supported; expected {MODEL_VERSION}")
            features = tuple(raw["features"])
            model = cls(
                features=features,
                mean=tuple(float(value) for value in raw["mean"]),
                scale=tuple(float(value) for value in raw["scale"]),
                centroids=tuple(tuple(float(value) for value in row) for row in raw["centroids"]),
                names=tuple(raw["names"]),
                descriptions=tuple(raw.get("descriptions", ())),
                trained_on=dict(raw.get("trained_on", {})),
            )
        except (json.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as err:
            if isinstance(err, ConfigError):
                raise
            raise ConfigError(f"{source} is not a valid segment model: {err}; retrain it with python -m engine.insights.segments") from err
        widths = {len(model.mean), len(model.scale), *(len(row) for row in model.centroids)}
        if widths != {len(features)} or len(model.names) != len(model.centroids) or not model.centroids:
            raise ConfigError(
                f"{source}: {len(features)} features, mean {len(model.mean)}, scale {len(model.scale)}, "
                f"{len(model.centroids)} centroids of widths {sorted(widths)} and {len(model.names)} names do not fit "
                "together; retrain it with python -m engine.insights.segments"
            )
        if features != SEGMENT_FEATURES:
            raise ConfigError(
                f"{source} was fitted on features {list(features)}, but this version computes {list(SEGMENT_FEATURES)}; "
                "retrain it with python -m engine.insights.segments"
            )
        return model


@functools.lru_cache(maxsize=4)
def load_segment_model(path: str | Path) -> SegmentModel:
    """Load a segment model from JSON (cached per path).

    Raises:
        ConfigError: the file is missing or invalid.
    """
    target = Path(path)
    try:
        text = target.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(
            f"segment model {target} cannot be read ({err.strerror or err}); train one with python -m engine.insights.segments"
        ) from err
    return SegmentModel.from_json(text, source=str(target))


@functools.lru_cache(maxsize=4)
def cached_segment_model(path: str) -> SegmentModel | None:
    """Return the segment model at ``path``, or None (logged once per path) when it cannot be loaded.

    For the live state, where a missing model must not stop event processing: the
    ``segment_id`` signal then stays :data:`UNKNOWN_SEGMENT`.
    """
    try:
        return load_segment_model(path)
    except ConfigError as err:
        logger.warning("segment_model_unavailable: %s; segment_id stays %d", err, UNKNOWN_SEGMENT)
        return None


def fit_segment_model(
    vectors: Sequence[Sequence[float]],
    true_segments: Sequence[str],
    *,
    n_segments: int = 6,
    seed: int = 0,
    trained_on: Mapping[str, Any] | None = None,
) -> SegmentModel:
    """Fit k-means on standardised vectors and name each cluster by its most common true segment.

    Args:
        vectors: one :func:`segment_vector` per customer, shape (n_customers, n_features).
        true_segments: the simulator's segment of each customer, for naming only.
        n_segments: number of clusters.
        seed: k-means seed.
        trained_on: provenance stored with the model.

    Raises:
        ValueError: fewer customers than clusters, or mismatched lengths.
    """
    import numpy as np
    from sklearn.cluster import KMeans
    from sklearn.preprocessing import StandardScaler

    if len(vectors) != len(true_segments):
        raise ValueError(f"got {len(vectors)} vectors but {len(true_segments)} true segments; pass one of each per customer")
    if len(vectors) < n_segments:
        raise ValueError(f"need at least n_segments={n_segments} customers to fit; got {len(vectors)}")
    data = np.asarray(vectors, dtype=float)
    scaler = StandardScaler().fit(data)
    scale = np.where(scaler.scale_ > 1e-9, scaler.scale_, 1.0)
    standardised = (data - scaler.mean_) / scale
    kmeans = KMeans(n_clusters=n_segments, n_init=10, random_state=seed).fit(standardised)
    labels = kmeans.labels_
    majority = []
    for cluster in range(n_segments):
        members = Counter(true_segments[index] for index in np.flatnonzero(labels == cluster))
        majority.append(members.most_common(1)[0][0] if members else f"segment_{cluster + 1}")
    descriptions = []
    distinctive = []
    for centroid in kmeans.cluster_centers_:
        order = np.argsort(-np.abs(centroid))[:2]
        words = [f"{'high' if centroid[i] > 0 else 'low'} {FEATURE_WORDS[SEGMENT_FEATURES[i]]}" for i in order]
        descriptions.append(" and ".join(words))
        distinctive.append(words[0].replace(" ", "_"))
    counts = Counter(majority)
    names = [name if counts[name] == 1 else f"{name}_{distinctive[index]}" for index, name in enumerate(majority)]
    return SegmentModel(
        features=SEGMENT_FEATURES,
        mean=tuple(float(value) for value in scaler.mean_),
        scale=tuple(float(value) for value in scale),
        centroids=tuple(tuple(float(value) for value in row) for row in kmeans.cluster_centers_),
        names=tuple(names),
        descriptions=tuple(descriptions),
        trained_on=dict(trained_on or {}),
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Fit the segment model on a simulated population and write it as JSON."""
    import argparse

    from engine.insights.simulation import simulate_profiles

    parser = argparse.ArgumentParser(description="Fit the behavioural segment model on simulated customers.")
    parser.add_argument("--customers", type=int, default=600, help="simulated customers to fit on")
    parser.add_argument("--days", type=int, default=120, help="days of history per customer")
    parser.add_argument("--segments", type=int, default=8, help="number of clusters")
    parser.add_argument("--seed", type=int, default=11, help="seed of the population and of k-means")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "data" / "segments.json")
    args = parser.parse_args(argv)
    vectors = []
    truths = []
    for customer in simulate_profiles(args.customers, days=args.days, seed=args.seed):
        vector = segment_vector(customer.profile, customer.profile.extra.get("insights", {}))
        if vector is not None:
            vectors.append(vector)
            truths.append(customer.traits.segment)
    model = fit_segment_model(
        vectors,
        truths,
        n_segments=args.segments,
        seed=args.seed,
        trained_on={"simulated_customers": len(vectors), "days": args.days, "seed": args.seed},
    )
    args.out.write_text(model.to_json() + "\n", encoding="utf-8")
    print(f"wrote {args.out} ({len(vectors)} customers, {args.segments} segments)")
    for name, description in zip(model.names, model.descriptions):
        print(f"  {name}: {description}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
