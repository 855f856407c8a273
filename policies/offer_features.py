"""Offer feature vectors for the shared linear model.

The shared model scores ``kron(context, offer_features)``, so each offer needs a short
vector. It is a one-hot encoding of the category, the log of the business value, and a
constant 1 that lets the model learn a context effect common to every offer.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from engine.config.offers import OFFER_CATEGORIES, OfferSpec

__all__ = [
    "OFFER_FEATURE_NAMES",
    "OFFER_FEATURE_DIM",
    "offer_feature_vector",
    "default_offer_feature_vector",
    "offer_features_of",
]

OFFER_FEATURE_NAMES: tuple[str, ...] = (
    *(f"category_{category}" for category in OFFER_CATEGORIES),
    "log1p_business_value",
    "constant",
)
OFFER_FEATURE_DIM: int = len(OFFER_FEATURE_NAMES)


def offer_feature_vector(offer: OfferSpec) -> np.ndarray:
    """Encode one offer as ``[one-hot category, log1p(business_value), 1.0]``.

    ``log1p`` keeps an offer with business value 0 finite; values in [0, 100] map to [0, 4.62].
    """
    vector = np.zeros(OFFER_FEATURE_DIM)
    vector[OFFER_CATEGORIES.index(offer.category)] = 1.0
    vector[-2] = math.log1p(offer.business_value)
    vector[-1] = 1.0
    return vector


def default_offer_feature_vector() -> np.ndarray:
    """Return the vector for an offer whose features are unknown: no category, value 0, constant 1."""
    vector = np.zeros(OFFER_FEATURE_DIM)
    vector[-1] = 1.0
    return vector


def offer_features_of(offers: Iterable[OfferSpec]) -> dict[str, np.ndarray]:
    """Map each offer id to its feature vector, for a learner's ``offer_features`` argument."""
    return {offer.id: offer_feature_vector(offer) for offer in offers}
