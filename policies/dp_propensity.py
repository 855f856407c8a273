"""A differentially private propensity model: P(accept | customer features, offer features).

The model is a small MLP over ``concat(customer_features, offer_features)`` trained with
DP-SGD (Abadi et al., "Deep Learning with Differential Privacy", CCS 2016) through
Opacus: each example's gradient is clipped to L2 norm ``max_grad_norm``, Gaussian noise
with standard deviation ``noise_multiplier * max_grad_norm`` is added to each batch sum,
and batches are drawn by Poisson sampling. An accountant (PRV by default, RDP or GDP on
request) turns the steps taken into the ``(epsilon, delta)`` guarantee that the model card
records. The budget lives in ``configs/privacy.yaml`` (:class:`PrivacyConfig`).

No statistic of the training data is computed outside DP-SGD: features are scaled with
fixed transforms (see :func:`load_bank_marketing` and engine.features.FeatureEncoder),
and explanations use the all-zero context, not a data mean, as the reference customer.
The guarantee is per training record (one decision's outcome): a customer with many
records is protected less, by group privacy.

The trained model serves in three ways:

* as a policy of its own: :class:`DPPropensitySnapshot` (algorithm ``dp_propensity``)
  ranks candidates by ``P(accept) * multiplier``, deterministically except for the
  ``exploration.min_propensity_share`` floor, as LinUCB does;
* as a warm start for the linear bandits: :func:`warm_start_learner` feeds them
  pseudo-observations (see its docstring for why not a prior mean);
* as the model that engine/federated.py trains across data silos.

Serving uses numpy only; torch and Opacus are imported when training starts.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from engine.config.policy import PolicyConfig
from engine.errors import ConfigError, InvalidInputError
from policies.base import BanditLearner, SlateChoice
from policies.inputs import validate_batch, validate_context, validate_decision, validate_dim, validate_offer_id, validate_reward
from policies.offer_features import OFFER_FEATURE_DIM, default_offer_feature_vector
from policies.slate_draws import draw_greedy_slate, slate_choice_of
from policies.snapshot_base import SnapshotBase

__all__ = [
    "BANK_MARKETING_ENV",
    "PRIVACY_CONFIG_PATH",
    "FederatedConfig",
    "PrivacyConfig",
    "load_privacy_config",
    "PropensityDataset",
    "load_bank_marketing",
    "simulator_logs",
    "MLPWeights",
    "ModelCard",
    "TrainedPropensityModel",
    "DPTrainer",
    "make_card",
    "train_dp_propensity",
    "evaluate_model",
    "DPPropensitySnapshot",
    "DPPropensityLearner",
    "warm_start_learner",
]

logger = logging.getLogger(__name__)

BANK_MARKETING_ENV = "OFFERLOOP_BANK_MARKETING_CSV"
PRIVACY_CONFIG_PATH = Path(__file__).resolve().parents[1] / "configs" / "privacy.yaml"
WEIGHTS_FILE = "weights.npz"
CARD_FILE = "model_card.json"

# Opacus and torch warnings that training triggers on purpose, matched by message.
# secure_mode off is a config choice. The RDP analysis warns when the best order is at the
# edge of its default grid, which only means the bound could be a little tighter. Torch's
# full backward hooks warn because the inputs need no gradient.
_EXPECTED_WARNINGS = (
    "Secure RNG turned off",
    "Optimal order is the largest alpha",
    "Optimal order is the smallest alpha",
    "Full backward hook is firing when gradients are computed with respect to module outputs",
)


# --------------------------------------------------------------------------- config


class FederatedConfig(BaseModel):
    """Rounds of federated averaging (engine/federated.py)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    rounds: int = Field(default=5, ge=1, le=1000, description="Rounds of federated averaging.")
    local_epochs: int = Field(default=1, ge=1, le=100, description="Epochs each silo trains per round.")
    update_max_norm: float | None = Field(
        default=None, gt=0, description="Clip each silo's model update to this L2 norm before averaging; None keeps it."
    )


class PrivacyConfig(BaseModel):
    """Privacy budget and training settings of the propensity model (configs/privacy.yaml).

    Give either ``target_epsilon`` (Opacus picks the noise multiplier that spends exactly
    that budget over ``epochs``) or ``noise_multiplier`` (the budget spent is reported),
    or set ``enabled: false`` to train without privacy, for comparison only.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = True
    target_epsilon: float | None = Field(default=3.0, gt=0, le=100)
    noise_multiplier: float | None = Field(default=None, gt=0, le=100)
    delta: float = Field(default=1e-5, gt=0, lt=1, description="Must be below 1 / number of training records.")
    max_grad_norm: float = Field(default=5.0, gt=0, le=1000, description="L2 clipping norm of each example's gradient.")
    accountant: Literal["prv", "rdp", "gdp"] = "prv"
    secure_mode: bool = Field(default=False, description="Cryptographically secure noise (slower); turn on for production models.")
    epochs: int = Field(default=5, ge=1, le=1000)
    batch_size: int = Field(default=512, ge=1, le=1_000_000, description="Expected batch size; the sample rate is batch_size / n.")
    optimizer: Literal["sgd", "adam"] = Field(default="sgd", description="sgd: plain DP-SGD with momentum 0.9.")
    learning_rate: float = Field(default=0.1, gt=0, le=10)
    hidden: tuple[int, ...] = Field(default=(32,), max_length=4, description="Hidden layer widths.")
    seed: int = Field(default=0, ge=0)
    federated: FederatedConfig = FederatedConfig()

    @model_validator(mode="after")
    def _check_budget(self) -> PrivacyConfig:
        if any(width < 1 or width > 1024 for width in self.hidden):
            raise ValueError(f"hidden layer widths must be in [1, 1024]; got {list(self.hidden)}")
        if self.enabled and (self.target_epsilon is None) == (self.noise_multiplier is None):
            raise ValueError(
                "give exactly one of target_epsilon (the budget to spend) or noise_multiplier (the noise to add); "
                f"got target_epsilon={self.target_epsilon} and noise_multiplier={self.noise_multiplier}"
            )
        return self

    @property
    def label(self) -> str:
        """Short description for reports, e.g. ``eps=3`` or ``no privacy``."""
        if not self.enabled:
            return "no privacy"
        if self.target_epsilon is not None:
            return f"eps={self.target_epsilon:g}"
        return f"sigma={self.noise_multiplier:g}"


def load_privacy_config(path: str | Path | None = None) -> PrivacyConfig:
    """Read configs/privacy.yaml (or ``path``) into a :class:`PrivacyConfig`.

    Raises:
        ConfigError: the file is missing, not YAML, or fails validation; the message
            names the field, the rule and the value.
    """
    from engine.config.loader import load_yaml_model

    return load_yaml_model(path if path is not None else PRIVACY_CONFIG_PATH, PrivacyConfig)


# -------------------------------------------------------------------------- datasets


@dataclass(frozen=True)
class PropensityDataset:
    """Logged offers and outcomes: one row per (customer, offer) shown.

    Attributes:
        customer: shape ``(n, d_c)``; customer features.
        offer: shape ``(n, d_o)``; features of the offer (or contact) shown.
        label: shape ``(n,)``; 1.0 when the offer was accepted, else 0.0.
        customer_feature_names, offer_feature_names: column names.
        groups: shape ``(n,)``; the data silo (region or branch) of each row.
        name: the data source, for model cards.
        source: provenance and licence, for model cards.
    """

    customer: np.ndarray
    offer: np.ndarray
    label: np.ndarray
    customer_feature_names: tuple[str, ...]
    offer_feature_names: tuple[str, ...]
    groups: np.ndarray
    name: str
    source: str = ""

    def __post_init__(self) -> None:
        n = len(self.label)
        shapes = {
            "customer": (self.customer.shape, (n, len(self.customer_feature_names))),
            "offer": (self.offer.shape, (n, len(self.offer_feature_names))),
            "groups": (self.groups.shape, (n,)),
        }
        for name, (got, expected) in shapes.items():
            if got != expected:
                raise InvalidInputError(f"dataset {self.name!r}: {name} must have shape {expected}; got {got}")

    def __len__(self) -> int:
        return len(self.label)

    @property
    def inputs(self) -> np.ndarray:
        """Model inputs ``concat(customer, offer)``, shape ``(n, d_c + d_o)``, float32."""
        return np.concatenate([self.customer, self.offer], axis=1).astype(np.float32)

    def take(self, rows: np.ndarray) -> PropensityDataset:
        """Return the rows at ``rows`` as a new dataset."""
        return PropensityDataset(
            customer=self.customer[rows],
            offer=self.offer[rows],
            label=self.label[rows],
            customer_feature_names=self.customer_feature_names,
            offer_feature_names=self.offer_feature_names,
            groups=self.groups[rows],
            name=self.name,
            source=self.source,
        )

    def split(self, test_fraction: float, *, seed: int) -> tuple[PropensityDataset, PropensityDataset]:
        """Return (train, test), a seeded random split stratified by label."""
        if not 0.0 < test_fraction < 1.0:
            raise InvalidInputError(f"test_fraction must be in (0, 1); got {test_fraction!r}")
        rng = np.random.default_rng(seed)
        test_rows: list[np.ndarray] = []
        for value in (0.0, 1.0):
            rows = np.flatnonzero(self.label == value)
            rng.shuffle(rows)
            test_rows.append(rows[: int(round(test_fraction * len(rows)))])
        test = np.sort(np.concatenate(test_rows))
        train = np.setdiff1d(np.arange(len(self)), test)
        return self.take(train), self.take(test)

    def by_group(self) -> dict[str, PropensityDataset]:
        """Return one dataset per value of ``groups``, in sorted order."""
        return {str(group): self.take(np.flatnonzero(self.groups == group)) for group in sorted(set(self.groups.tolist()))}


# Category levels from the dataset's documentation (bank-names.txt), so that the
# encoding reads nothing from the data.
_JOBS = ("admin.", "blue-collar", "entrepreneur", "housemaid", "management", "retired", "self-employed",
         "services", "student", "technician", "unemployed", "unknown")  # fmt: skip
_MARITAL = ("divorced", "married", "single")
_EDUCATION = ("primary", "secondary", "tertiary", "unknown")
_CONTACT = ("cellular", "telephone", "unknown")
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_POUTCOME = ("failure", "other", "success", "unknown")
_BANK_COLUMNS = ("age", "job", "marital", "education", "default", "balance", "housing", "loan",
                 "contact", "month", "campaign", "pdays", "previous", "poutcome", "y")  # fmt: skip
BANK_MARKETING_SOURCE = (
    "UCI Bank Marketing (dataset 222), bank-full.csv, CC BY 4.0; Moro, Cortez and Rita, "
    "Decision Support Systems 62, 2014. Column 'duration' left out: it is known only after the call."
)


def _one_hot(values: Any, levels: tuple[str, ...], column: str) -> np.ndarray:
    index = {level: i for i, level in enumerate(levels)}
    unknown = sorted(set(values) - set(index))
    if unknown:
        raise InvalidInputError(
            f"bank marketing column {column!r} has values {unknown[:5]} outside the documented levels {list(levels)}; "
            "check that the file is bank-full.csv from UCI dataset 222"
        )
    encoded = np.zeros((len(values), len(levels)), dtype=np.float32)
    encoded[np.arange(len(values)), [index[value] for value in values]] = 1.0
    return encoded


def load_bank_marketing(
    path: str | Path | None = None, *, max_rows: int | None = None, n_groups: int = 3, seed: int = 0
) -> PropensityDataset:
    """Load UCI Bank Marketing (``;``-separated, target ``y``) as a propensity dataset.

    Customer features: age / 100, job, marital status, education (one-hot), credit in
    default, ``sign(balance) * log1p(|balance|) / 10``, housing loan, personal loan.
    Offer features describe the campaign contact: contact type, month (one-hot),
    ``log1p(campaign) / 3``, whether and how long ago (``log1p(pdays) / 6``) the customer
    was contacted before, ``log1p(previous) / 3``, previous outcome (one-hot).
    ``duration`` and ``day`` are not used. Rows get a random branch label
    ``branch-0 .. branch-{n_groups - 1}`` for federated training (the data has no region).

    Args:
        path: the CSV; ``OFFERLOOP_BANK_MARKETING_CSV`` when None.
        max_rows: read only the first rows (the file is in time order).
        n_groups: number of branch labels.
        seed: seed of the branch labels.

    Raises:
        ConfigError: no path and no environment variable, or the file is missing.
        InvalidInputError: a column is missing or contains an undocumented value.
    """
    import pandas as pd

    chosen = path if path is not None else os.environ.get(BANK_MARKETING_ENV)
    if not chosen:
        raise ConfigError(
            f"no bank marketing CSV given; pass a path or set {BANK_MARKETING_ENV} to bank-full.csv "
            "(UCI dataset 222); tests/data/bank_marketing/ has a sample"
        )
    csv_path = Path(chosen)
    if not csv_path.is_file():
        raise ConfigError(f"bank marketing CSV {csv_path} not found; set {BANK_MARKETING_ENV} to an existing file")
    frame = pd.read_csv(csv_path, sep=";", nrows=max_rows)
    missing = [column for column in _BANK_COLUMNS if column not in frame.columns]
    if missing:
        raise InvalidInputError(
            f"{csv_path} lacks columns {missing}; expected the ';'-separated bank-full.csv with columns {list(_BANK_COLUMNS)}"
        )
    balance = frame["balance"].to_numpy(dtype=np.float64)
    pdays = frame["pdays"].to_numpy(dtype=np.float64)
    customer = np.column_stack([
        frame["age"].to_numpy(dtype=np.float32) / 100.0,
        _one_hot(frame["job"], _JOBS, "job"),
        _one_hot(frame["marital"], _MARITAL, "marital"),
        _one_hot(frame["education"], _EDUCATION, "education"),
        (frame["default"] == "yes").to_numpy(dtype=np.float32),
        np.sign(balance) * np.log1p(np.abs(balance)) / 10.0,
        (frame["housing"] == "yes").to_numpy(dtype=np.float32),
        (frame["loan"] == "yes").to_numpy(dtype=np.float32),
    ]).astype(np.float32)
    offer = np.column_stack([
        _one_hot(frame["contact"], _CONTACT, "contact"),
        _one_hot(frame["month"], _MONTHS, "month"),
        np.log1p(frame["campaign"].to_numpy(dtype=np.float64)) / 3.0,
        (pdays >= 0).astype(np.float32),
        np.log1p(np.maximum(pdays, 0.0)) / 6.0,
        np.log1p(frame["previous"].to_numpy(dtype=np.float64)) / 3.0,
        _one_hot(frame["poutcome"], _POUTCOME, "poutcome"),
    ]).astype(np.float32)
    customer_names = ("age", *(f"job_{v}" for v in _JOBS), *(f"marital_{v}" for v in _MARITAL),
                      *(f"education_{v}" for v in _EDUCATION), "default", "balance", "housing", "loan")  # fmt: skip
    offer_names = (*(f"contact_{v}" for v in _CONTACT), *(f"month_{v}" for v in _MONTHS), "campaign",
                   "contacted_before", "pdays", "previous", *(f"poutcome_{v}" for v in _POUTCOME))  # fmt: skip
    rng = np.random.default_rng(seed)
    groups = np.array([f"branch-{i}" for i in rng.integers(0, n_groups, size=len(frame))])
    return PropensityDataset(
        customer=customer,
        offer=offer,
        label=(frame["y"] == "yes").to_numpy(dtype=np.float32),
        customer_feature_names=customer_names,
        offer_feature_names=offer_names,
        groups=groups,
        name="uci-bank-marketing",
        source=BANK_MARKETING_SOURCE,
    )


# Countries of the synthetic bank's customers, grouped into three regions (data silos).
SIMULATOR_REGIONS: Mapping[str, str] = {
    "DE": "central", "NL": "central", "FR": "central", "FI": "north", "IE": "north",
    "ES": "south", "PT": "south", "IT": "south", "GR": "south",
}  # fmt: skip


def simulator_logs(n_rows: int, *, seed: int = 0, n_customers: int = 500) -> PropensityDataset:
    """Log ``n_rows`` app opens of the synthetic bank under a uniform-random logging policy.

    Each row is one arrival: the customer's encoded context (engine.features, bias
    included, so the model plugs into the bandit's context), one eligible offer drawn
    uniformly and shown alone, its feature vector (policies.offer_features), and whether
    the customer accepted it. Groups are the customers' home regions
    (:data:`SIMULATOR_REGIONS`).

    Raises:
        InvalidInputError: ``n_rows`` is not positive.
    """
    from envs.bandit_env import BankOffersEnv, catalog_eligibility
    from policies.offer_features import offer_feature_vector

    if not isinstance(n_rows, int) or n_rows < 1:
        raise InvalidInputError(f"n_rows must be a positive integer; got {n_rows!r}")
    from engine.config.loader import load_catalog

    catalog = load_catalog()
    env = BankOffersEnv(
        catalog=catalog, n_customers=n_customers, episode_length=n_rows + 1, eligibility=catalog_eligibility(catalog)
    )
    observation, info = env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    offer_vectors = np.array([offer_feature_vector(catalog.get(offer_id)) for offer_id in env.offer_ids], dtype=np.float32)
    customers, offers, labels, groups = [], [], [], []
    for _ in range(n_rows):
        mask = info.get("eligible_mask")
        choices = np.flatnonzero(mask) if mask is not None and mask.any() else np.arange(len(env.offer_ids))
        action = int(rng.choice(choices))
        country = env.bank.customer(info["customer_id"]).home.country
        customers.append(observation)
        offers.append(offer_vectors[action])
        groups.append(SIMULATOR_REGIONS.get(country, "other"))
        observation, _, _, _, info = env.step(action)
        labels.append(1.0 if "accept" in info["feedback"] else 0.0)
    from engine.features import FeatureEncoder
    from policies.offer_features import OFFER_FEATURE_NAMES

    return PropensityDataset(
        customer=np.array(customers, dtype=np.float32),
        offer=np.array(offers, dtype=np.float32),
        label=np.array(labels, dtype=np.float32),
        customer_feature_names=(*FeatureEncoder.from_names("default").names, "bias"),
        offer_feature_names=OFFER_FEATURE_NAMES,
        groups=np.array(groups),
        name="synthetic-bank",
        source=f"envs.bank.SyntheticBank, {n_customers} customers, seed {seed}, uniform-random logging policy",
    )


# ----------------------------------------------------------------------------- model


@dataclass(frozen=True, eq=False)
class MLPWeights:
    """Read-only weights of the MLP, in torch ``nn.Linear`` layout.

    Attributes:
        weights: one array per layer, shape ``(out, in)``; the last layer has ``out = 1``.
        biases: one array per layer, shape ``(out,)``.
    """

    weights: tuple[np.ndarray, ...]
    biases: tuple[np.ndarray, ...]

    def __post_init__(self) -> None:
        if len(self.weights) != len(self.biases) or not self.weights:
            raise InvalidInputError(
                f"an MLP needs one bias per weight matrix and at least one layer; got {len(self.weights)} weight "
                f"matrices and {len(self.biases)} bias vectors"
            )
        weights = tuple(_read_only(w) for w in self.weights)
        biases = tuple(_read_only(b) for b in self.biases)
        for i, (w, b) in enumerate(zip(weights, biases)):
            if w.ndim != 2 or b.shape != (w.shape[0],) or (i and w.shape[1] != weights[i - 1].shape[0]):
                raise InvalidInputError(f"MLP layer {i} has weight shape {w.shape} and bias shape {b.shape}, which do not chain")
        if weights[-1].shape[0] != 1:
            raise InvalidInputError(f"the last MLP layer must have one output (the logit); got {weights[-1].shape[0]}")
        object.__setattr__(self, "weights", weights)
        object.__setattr__(self, "biases", biases)

    @property
    def input_dim(self) -> int:
        """Length of one input row."""
        return int(self.weights[0].shape[1])

    @property
    def hidden(self) -> tuple[int, ...]:
        """Hidden layer widths."""
        return tuple(int(w.shape[0]) for w in self.weights[:-1])

    @classmethod
    def initial(cls, input_dim: int, hidden: Sequence[int], *, seed: int) -> MLPWeights:
        """Return He-initialised weights and zero biases, drawn from ``seed``."""
        rng = np.random.default_rng(seed)
        widths = [input_dim, *hidden, 1]
        weights = tuple(rng.normal(0.0, math.sqrt(2.0 / fan_in), (fan_out, fan_in)) for fan_in, fan_out in zip(widths, widths[1:]))
        return cls(weights=weights, biases=tuple(np.zeros(w.shape[0]) for w in weights))

    def logits(self, inputs: np.ndarray) -> np.ndarray:
        """Return the logit of each row of ``inputs`` (shape ``(n, input_dim)``), shape ``(n,)``."""
        h = np.asarray(inputs, dtype=np.float64)
        for w, b in zip(self.weights[:-1], self.biases[:-1]):
            h = np.maximum(h @ w.T + b, 0.0)
        return (h @ self.weights[-1].T + self.biases[-1])[:, 0]

    def logits_and_gradients(self, inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return the logits, shape ``(n,)``, and each logit's gradient by input, shape ``(n, input_dim)``."""
        h = np.asarray(inputs, dtype=np.float64)
        masks = []
        for w, b in zip(self.weights[:-1], self.biases[:-1]):
            pre = h @ w.T + b
            masks.append(pre > 0.0)
            h = np.maximum(pre, 0.0)
        logits = (h @ self.weights[-1].T + self.biases[-1])[:, 0]
        gradient = np.broadcast_to(self.weights[-1], (len(h), self.weights[-1].shape[1]))
        for w, mask in zip(reversed(self.weights[:-1]), reversed(masks)):
            gradient = (gradient * mask) @ w
        return logits, np.array(gradient)

    def predict_proba(self, inputs: np.ndarray) -> np.ndarray:
        """Return P(accept) of each row, shape ``(n,)``."""
        return _sigmoid(self.logits(inputs))

    def arrays(self) -> dict[str, np.ndarray]:
        """Return the arrays by name (``layer{i}_weight``, ``layer{i}_bias``) for serialisation."""
        named = {}
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            named[f"layer{i}_weight"] = w
            named[f"layer{i}_bias"] = b
        return named

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> MLPWeights:
        """Rebuild weights from :meth:`arrays` output.

        Raises:
            InvalidInputError: a layer is missing or the shapes do not chain.
        """
        n_layers = sum(1 for name in arrays if name.startswith("layer") and name.endswith("_weight"))
        try:
            return cls(
                weights=tuple(np.asarray(arrays[f"layer{i}_weight"]) for i in range(n_layers)),
                biases=tuple(np.asarray(arrays[f"layer{i}_bias"]) for i in range(n_layers)),
            )
        except KeyError as err:
            raise InvalidInputError(f"MLP arrays lack {err}; the checkpoint or snapshot is corrupt") from err


def _read_only(array: np.ndarray) -> np.ndarray:
    copy = np.array(array, dtype=np.float64, copy=True)
    copy.flags.writeable = False
    return copy


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


class ModelCard(BaseModel):
    """Record of a training run: data, privacy guarantee and quality (saved as model_card.json)."""

    model_config = ConfigDict(extra="forbid")

    model: str = "dp_propensity_mlp"
    created_at: str
    dataset: str
    data_source: str
    n_train: int
    customer_features: tuple[str, ...]
    offer_features: tuple[str, ...]
    hidden: tuple[int, ...]
    private: bool
    epsilon: float | None = Field(description="Spent budget at delta, from the accountant; None without privacy.")
    delta: float | None
    target_epsilon: float | None
    noise_multiplier: float | None
    max_grad_norm: float | None
    accountant: str | None
    sample_rate: float
    epochs: int
    steps: int
    batch_size: int
    learning_rate: float
    seed: int
    federated: dict[str, Any] | None = None
    metrics: dict[str, float] = Field(default_factory=dict)
    versions: dict[str, str] = Field(default_factory=dict)
    notes: str = (
        "Per-record differential privacy: each training row is one offer shown to one customer. "
        "Feature scaling uses fixed transforms, so no data statistic is released outside DP-SGD."
    )


@dataclass(frozen=True)
class TrainedPropensityModel:
    """Trained weights and the model card that describes them."""

    mlp: MLPWeights
    card: ModelCard

    def predict_proba(self, customer: np.ndarray, offer: np.ndarray) -> np.ndarray:
        """Return P(accept) for each row pair, shape ``(n,)``."""
        return self.mlp.predict_proba(np.concatenate([customer, offer], axis=1))

    def save(self, directory: str | Path) -> Path:
        """Write ``weights.npz`` and ``model_card.json`` into ``directory`` (created if needed)."""
        target = Path(directory)
        target.mkdir(parents=True, exist_ok=True)
        np.savez(target / WEIGHTS_FILE, **self.mlp.arrays())
        (target / CARD_FILE).write_text(self.card.model_dump_json(indent=2) + "\n", encoding="utf-8")
        return target

    @classmethod
    def load(cls, directory: str | Path) -> TrainedPropensityModel:
        """Read a model written by :meth:`save`; nothing is unpickled.

        Raises:
            ConfigError: a file is missing or unreadable.
        """
        source = Path(directory)
        try:
            with np.load(source / WEIGHTS_FILE, allow_pickle=False) as data:
                arrays = {name: data[name] for name in data.files}
            card = ModelCard.model_validate_json((source / CARD_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise ConfigError(
                f"DP propensity checkpoint {source} is missing or unreadable ({type(err).__name__}: {err}); "
                f"it must contain {WEIGHTS_FILE} and {CARD_FILE} written by TrainedPropensityModel.save"
            ) from err
        return cls(mlp=MLPWeights.from_arrays(arrays), card=card)


def evaluate_model(mlp: MLPWeights, data: PropensityDataset) -> dict[str, float]:
    """Return AUC and log-loss of ``mlp`` on ``data``.

    Raises:
        InvalidInputError: ``data`` contains one class only, so AUC is undefined.
    """
    from sklearn.metrics import log_loss, roc_auc_score

    if len(set(data.label.tolist())) < 2:
        raise InvalidInputError(f"evaluation data {data.name!r} needs both labels for AUC; got only {set(data.label.tolist())}")
    probabilities = np.clip(mlp.predict_proba(data.inputs), 1e-7, 1.0 - 1e-7)
    return {
        "auc": float(roc_auc_score(data.label, probabilities)),
        "log_loss": float(log_loss(data.label, probabilities, labels=[0.0, 1.0])),
    }


# -------------------------------------------------------------------------- training


class DPTrainer:
    """A torch MLP, its optimizer and, when private, Opacus' engine over one dataset.

    One trainer serves one run. :func:`train_dp_propensity` calls :meth:`run_epochs`
    once. A federated silo calls :meth:`set_weights` and :meth:`run_epochs` each round,
    and its accountant composes every step across rounds.

    Args:
        data: the training rows.
        config: privacy budget and training settings.
        total_epochs: epochs this trainer will run in all; ``target_epsilon`` is spread
            over them.
        initial: starting weights; He initialisation from ``config.seed`` when None.

    Raises:
        InvalidInputError: ``data`` is empty, or ``config.delta`` is not below 1 / n.
    """

    def __init__(self, data: PropensityDataset, config: PrivacyConfig, *, total_epochs: int, initial: MLPWeights | None = None) -> None:
        import torch
        from torch import nn
        from torch.utils.data import DataLoader, TensorDataset

        n = len(data)
        if n == 0:
            raise InvalidInputError(f"training data {data.name!r} is empty; pass at least one row")
        if config.enabled and config.delta >= 1.0 / n:
            raise InvalidInputError(
                f"privacy delta must be below 1 / n = {1.0 / n:.3g} for {n} training rows, or the guarantee allows "
                f"releasing a whole record; got delta={config.delta:g}. Lower delta in configs/privacy.yaml"
            )
        self.config = config
        self.data = data
        self.total_epochs = total_epochs
        self.epochs_run = 0
        self.steps = 0
        torch.manual_seed(config.seed)
        inputs = data.inputs
        start = initial if initial is not None else MLPWeights.initial(inputs.shape[1], config.hidden, seed=config.seed)
        widths = [inputs.shape[1], *start.hidden, 1]
        layers: list[nn.Module] = []
        for i, (fan_in, fan_out) in enumerate(zip(widths, widths[1:])):
            layers.append(nn.Linear(fan_in, fan_out))
            if i < len(widths) - 2:
                layers.append(nn.ReLU())
        self.module = nn.Sequential(*layers)
        self.set_weights(start)
        dataset = TensorDataset(torch.from_numpy(inputs), torch.from_numpy(data.label.astype(np.float32)))
        batch_size = min(config.batch_size, n)
        loader = DataLoader(dataset, batch_size=batch_size, shuffle=True, generator=torch.Generator().manual_seed(config.seed))
        self.sample_rate = batch_size / n
        optimizer: Any
        if config.optimizer == "adam":
            optimizer = torch.optim.Adam(self.module.parameters(), lr=config.learning_rate)
        else:
            optimizer = torch.optim.SGD(self.module.parameters(), lr=config.learning_rate, momentum=0.9)
        self.criterion = nn.BCEWithLogitsLoss()
        self.engine: Any = None
        self.noise_multiplier: float | None = None
        if config.enabled:
            from opacus import PrivacyEngine

            with _expected_warnings():
                self.engine = PrivacyEngine(accountant=config.accountant, secure_mode=config.secure_mode)
                common = {
                    "module": self.module,
                    "optimizer": optimizer,
                    "criterion": self.criterion,
                    "data_loader": loader,
                    "max_grad_norm": config.max_grad_norm,
                    "noise_generator": None if config.secure_mode else torch.Generator().manual_seed(config.seed + 1),
                }
                if config.target_epsilon is not None:
                    model, optimizer, loader = self.engine.make_private_with_epsilon(
                        **common, target_epsilon=config.target_epsilon, target_delta=config.delta, epochs=total_epochs
                    )
                else:
                    model, optimizer, loader = self.engine.make_private(**common, noise_multiplier=config.noise_multiplier)
            self.noise_multiplier = float(optimizer.noise_multiplier)
            self.model = model
        else:
            self.model = self.module
        self.optimizer = optimizer
        self.loader = loader

    def set_weights(self, mlp: MLPWeights) -> None:
        """Copy ``mlp`` into the torch module in place (the Opacus wrapper shares the parameters)."""
        import torch

        linears = [layer for layer in self.module if isinstance(layer, torch.nn.Linear)]
        if len(linears) != len(mlp.weights):
            raise InvalidInputError(f"weights have {len(mlp.weights)} layers; this model has {len(linears)}")
        with torch.no_grad():
            for layer, w, b in zip(linears, mlp.weights, mlp.biases):
                if tuple(layer.weight.shape) != w.shape:
                    raise InvalidInputError(f"layer weight shape {w.shape} does not match the model's {tuple(layer.weight.shape)}")
                layer.weight.copy_(torch.from_numpy(np.asarray(w, dtype=np.float32)))
                layer.bias.copy_(torch.from_numpy(np.asarray(b, dtype=np.float32)))

    def weights(self) -> MLPWeights:
        """Return the current weights as numpy arrays."""
        import torch

        linears = [layer for layer in self.module if isinstance(layer, torch.nn.Linear)]
        return MLPWeights(
            weights=tuple(layer.weight.detach().numpy().astype(np.float64) for layer in linears),
            biases=tuple(layer.bias.detach().numpy().astype(np.float64) for layer in linears),
        )

    def run_epochs(self, epochs: int) -> float:
        """Train ``epochs`` passes over the data; return the mean batch loss.

        Raises:
            InvalidInputError: the run would exceed ``total_epochs``, which the privacy
                budget was planned for.
        """
        if self.epochs_run + epochs > self.total_epochs:
            raise InvalidInputError(
                f"training {epochs} more epochs would make {self.epochs_run + epochs}, beyond the {self.total_epochs} "
                "that the privacy budget was planned for; create the trainer with a larger total_epochs"
            )
        self.module.train()
        losses = []
        with _expected_warnings():
            for _ in range(epochs):
                for inputs, labels in self.loader:
                    self.optimizer.zero_grad()
                    loss = self.criterion(self.model(inputs).squeeze(-1), labels)
                    loss.backward()
                    self.optimizer.step()
                    self.steps += 1
                    if len(labels):
                        losses.append(float(loss.detach()))
        self.epochs_run += epochs
        return float(np.mean(losses)) if losses else math.nan

    def epsilon(self) -> float | None:
        """Return the budget spent so far at ``config.delta``, or None without privacy."""
        if self.engine is None:
            return None
        with _expected_warnings():
            return float(self.engine.get_epsilon(self.config.delta))


class _expected_warnings(warnings.catch_warnings):
    """Silence the third-party warnings listed in ``_EXPECTED_WARNINGS`` inside the block."""

    def __enter__(self) -> Any:
        result = super().__enter__()
        for message in _EXPECTED_WARNINGS:
            warnings.filterwarnings("ignore", message=message, category=UserWarning)
        return result


def _versions() -> dict[str, str]:
    import opacus
    import torch

    return {"torch": torch.__version__, "opacus": opacus.__version__, "numpy": np.__version__}


def make_card(
    data: PropensityDataset,
    config: PrivacyConfig,
    *,
    epsilon: float | None,
    steps: int,
    epochs: int,
    noise_multiplier: float | None,
    sample_rate: float,
    n_train: int | None = None,
    federated: dict[str, Any] | None = None,
) -> ModelCard:
    """Describe a finished training run on ``data`` (``n_train`` rows, all of ``data`` by default).

    ``metrics`` is left for the caller to fill in.
    """
    return ModelCard(
        created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        dataset=data.name,
        data_source=data.source,
        n_train=len(data) if n_train is None else n_train,
        customer_features=data.customer_feature_names,
        offer_features=data.offer_feature_names,
        hidden=config.hidden,
        private=config.enabled,
        epsilon=epsilon,
        delta=config.delta if config.enabled else None,
        target_epsilon=config.target_epsilon if config.enabled else None,
        noise_multiplier=noise_multiplier,
        max_grad_norm=config.max_grad_norm if config.enabled else None,
        accountant=config.accountant if config.enabled else None,
        sample_rate=sample_rate,
        epochs=epochs,
        steps=steps,
        batch_size=config.batch_size,
        learning_rate=config.learning_rate,
        seed=config.seed,
        federated=federated,
        versions=_versions(),
    )


def train_dp_propensity(
    train: PropensityDataset, config: PrivacyConfig, *, test: PropensityDataset | None = None
) -> TrainedPropensityModel:
    """Train the propensity MLP on ``train`` with DP-SGD and the settings in ``config``.

    Args:
        train: training rows.
        config: privacy budget and training settings.
        test: held-out rows; their AUC and log-loss go into the model card.

    Raises:
        InvalidInputError: empty data, or ``delta`` not below 1 / n.
    """
    started = time.perf_counter()
    trainer = DPTrainer(train, config, total_epochs=config.epochs)
    loss = trainer.run_epochs(config.epochs)
    epsilon = trainer.epsilon()
    mlp = trainer.weights()
    card = make_card(
        train,
        config,
        epsilon=epsilon,
        steps=trainer.steps,
        epochs=trainer.epochs_run,
        noise_multiplier=trainer.noise_multiplier,
        sample_rate=trainer.sample_rate,
    )
    if test is not None:
        card.metrics.update(evaluate_model(mlp, test))
    card.metrics["train_loss"] = loss
    logger.info(
        "dp_propensity_trained dataset=%s rows=%d epsilon=%s seconds=%.1f",
        train.name,
        len(train),
        "none" if epsilon is None else f"{epsilon:.3f}",
        time.perf_counter() - started,
        extra={"dataset": train.name, "rows": len(train), "epsilon": epsilon},
    )
    return TrainedPropensityModel(mlp=mlp, card=card)


# -------------------------------------------------------------------------- serving


def _offer_matrix(offer_features: Mapping[str, np.ndarray] | None) -> tuple[tuple[str, ...], np.ndarray]:
    offer_ids = tuple(offer_features or {})
    matrix = np.empty((len(offer_ids) + 1, OFFER_FEATURE_DIM))
    matrix[0] = default_offer_feature_vector()
    for row, offer_id in enumerate(offer_ids, start=1):
        vector = np.asarray(offer_features[offer_id], dtype=np.float64)  # type: ignore[index]
        if vector.shape != (OFFER_FEATURE_DIM,):
            raise InvalidInputError(
                f"offer_features[{offer_id!r}] must have shape ({OFFER_FEATURE_DIM},); got {vector.shape}. "
                "Build it with policies.offer_features.offer_feature_vector"
            )
        matrix[row] = vector
    return offer_ids, matrix


@dataclass(frozen=True, eq=False, repr=False)
class DPPropensitySnapshot(SnapshotBase):
    """Ranks candidates by the DP model's ``P(accept) * multiplier``.

    The slate is :func:`~policies.slate_draws.draw_greedy_slate` on those values with
    ``share = exploration.min_propensity_share``. ``scores`` are the probabilities. The
    contributions behind reasons are ``gradient_k * (x_k - 0)`` of each candidate's logit
    by context entry ``k``, a first-order attribution against the all-zero reference
    customer (exact for a linear model). The model does not learn online: a new model
    comes from a new DP training run.

    Attributes:
        mlp: the model; its input is ``concat(context, offer_features)``.
        offer_ids: offers with known features; others use the default feature vector.
        offer_matrix: shape ``(m + 1, q)``; row 0 is the default vector.
        context_dim: context length ``d``, bias included.
        epsilon: privacy budget spent by the training run; None without privacy.
        delta: its delta.
    """

    mlp: MLPWeights
    offer_ids: tuple[str, ...]
    offer_matrix: np.ndarray
    context_dim: int
    epsilon: float | None = None
    delta: float | None = None
    _rows: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        validate_dim(self.context_dim)
        matrix = _read_only(self.offer_matrix)
        if matrix.shape != (len(self.offer_ids) + 1, OFFER_FEATURE_DIM):
            raise InvalidInputError(
                f"offer_matrix must have shape ({len(self.offer_ids) + 1}, {OFFER_FEATURE_DIM}); got {matrix.shape}"
            )
        if self.mlp.input_dim != self.context_dim + OFFER_FEATURE_DIM:
            raise InvalidInputError(
                f"the DP model takes inputs of length {self.mlp.input_dim}, but context dim {self.context_dim} plus "
                f"{OFFER_FEATURE_DIM} offer features make {self.context_dim + OFFER_FEATURE_DIM}; train it on "
                "simulator_logs or on contexts of the policy's feature set"
            )
        object.__setattr__(self, "offer_matrix", matrix)
        object.__setattr__(self, "_rows", {offer_id: row for row, offer_id in enumerate(self.offer_ids, start=1)})

    @classmethod
    def expected_algorithms(cls) -> tuple[str, ...]:
        """Return ``("dp_propensity",)``."""
        return ("dp_propensity",)

    @property
    def dim(self) -> int:
        """Context dimension ``d``, bias included."""
        return self.context_dim

    @property
    def context_mean(self) -> np.ndarray:
        """The all-zero reference customer, shape ``(d,)`` (no data statistic is shipped)."""
        return np.zeros(self.context_dim)

    def _inputs(self, x: np.ndarray, offer_ids: Sequence[str]) -> np.ndarray:
        rows = np.array([self._rows.get(offer_id, 0) for offer_id in offer_ids], dtype=np.intp)
        return np.concatenate([np.broadcast_to(x, (len(rows), len(x))), self.offer_matrix[rows]], axis=1)

    def expected_rewards(self, context: np.ndarray, offer_ids: Sequence[str]) -> np.ndarray:
        """Return each candidate's predicted P(accept), shape ``(n,)``."""
        x = validate_context(context, self.dim)
        return self.mlp.predict_proba(self._inputs(x, offer_ids))

    def choose_slate(
        self,
        context: np.ndarray,
        offer_ids: Sequence[str],
        multipliers: np.ndarray,
        k: int,
        rng: np.random.Generator,
    ) -> SlateChoice:
        """Draw an ordered slate of ``min(k, len(offer_ids))`` candidates by ``P(accept) * multiplier``."""
        x, weights = validate_decision(context, offer_ids, multipliers, k, self.dim)
        logits, gradients = self.mlp.logits_and_gradients(self._inputs(x, offer_ids))
        probabilities = _sigmoid(logits)
        draw = draw_greedy_slate(probabilities * weights, k, share=self.config.exploration.min_propensity_share, rng=rng)
        contributions = gradients[:, : self.dim] * x
        contributions[:, -1] = 0.0
        return slate_choice_of(draw, probabilities, contributions)

    def _payload(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        header = {"offer_ids": list(self.offer_ids), "epsilon": self.epsilon, "delta": self.delta}
        return header, {**self.mlp.arrays(), "offer_matrix": self.offer_matrix}

    @classmethod
    def from_payload(
        cls, config: PolicyConfig, header: Mapping[str, Any], arrays: Mapping[str, np.ndarray]
    ) -> DPPropensitySnapshot:
        """Rebuild a snapshot from decoded bytes (see :meth:`SnapshotBase.to_bytes`)."""
        try:
            return cls(
                config=config,
                version=header["version"],
                n_updates=header["n_updates"],
                mlp=MLPWeights.from_arrays({k: v for k, v in arrays.items() if k.startswith("layer")}),
                offer_ids=tuple(header["offer_ids"]),
                offer_matrix=arrays["offer_matrix"],
                context_dim=header["dim"],
                epsilon=header.get("epsilon"),
                delta=header.get("delta"),
            )
        except KeyError as err:
            raise InvalidInputError(f"dp_propensity snapshot of policy {config.id!r} lacks the field {err}") from err


class DPPropensityLearner(BanditLearner):
    """Learner of the ``dp_propensity`` policy: checks and counts rewards, keeps the trained model.

    The model is trained offline with DP-SGD (:func:`train_dp_propensity`); learning it
    online from each reward would spend privacy budget without accounting. With
    ``config.checkpoint`` set the trained model is loaded from that directory; without it
    the model is untrained (He initialisation from ``config.seed``), for tests.

    Args:
        config: the policy; ``config.algorithm`` must be ``"dp_propensity"``.
        dim: context length ``d``, bias included.
        offer_features: offer id to feature vector (policies.offer_features).

    Raises:
        ConfigError: wrong algorithm, or a checkpoint that is missing or does not fit ``dim``.
    """

    SNAPSHOT_CLASSES: ClassVar[Mapping[str, type[DPPropensitySnapshot]]] = {"dp_propensity": DPPropensitySnapshot}

    def __init__(self, config: PolicyConfig, *, dim: int, offer_features: Mapping[str, np.ndarray] | None = None) -> None:
        if config.algorithm != "dp_propensity":
            raise ConfigError(
                f"DPPropensityLearner serves algorithm 'dp_propensity'; policy {config.id!r} has {config.algorithm!r}. "
                "Use policies.make_learner"
            )
        self.config = config
        self.policy_id = config.id
        self.algorithm = config.algorithm
        self.dim = validate_dim(dim)
        self.offer_ids, self.offer_matrix = _offer_matrix(offer_features)
        checkpoint = getattr(config, "checkpoint", None)
        self.epsilon: float | None = None
        self.delta: float | None = None
        if checkpoint:
            model = TrainedPropensityModel.load(checkpoint)
            if model.mlp.input_dim != self.dim + OFFER_FEATURE_DIM:
                raise ConfigError(
                    f"DP checkpoint {checkpoint} takes inputs of length {model.mlp.input_dim}; policy {config.id!r} "
                    f"needs {self.dim} context entries plus {OFFER_FEATURE_DIM} offer features = {self.dim + OFFER_FEATURE_DIM}"
                )
            self.mlp = model.mlp
            self.epsilon, self.delta = model.card.epsilon, model.card.delta
        else:
            self.mlp = MLPWeights.initial(self.dim + OFFER_FEATURE_DIM, (16,), seed=config.seed or 0)
        self._n_updates = 0
        self._version = 0

    @property
    def n_updates(self) -> int:
        """Number of rewards counted since the policy was created."""
        return self._n_updates

    @property
    def version(self) -> int:
        """Version of the last snapshot published (0 before the first)."""
        return self._version

    def update_one(self, offer_id: str, context: np.ndarray, reward: float) -> None:
        """Check the reward's inputs and count it; the model does not change."""
        validate_offer_id(offer_id)
        validate_context(context, self.dim)
        validate_reward(reward)
        self._n_updates += 1

    def update_many(self, offer_ids: Sequence[str], contexts: np.ndarray, rewards: np.ndarray) -> None:
        """Check and count a batch; ``contexts`` has shape ``(m, d)`` and ``rewards`` shape ``(m,)``."""
        validate_batch(offer_ids, contexts, rewards, self.dim)
        super().update_many(offer_ids, contexts, rewards)

    def snapshot(self) -> DPPropensitySnapshot:
        """Return a snapshot with the next version."""
        self._version += 1
        return DPPropensitySnapshot(
            config=self.config,
            version=self._version,
            n_updates=self._n_updates,
            mlp=self.mlp,
            offer_ids=self.offer_ids,
            offer_matrix=self.offer_matrix,
            context_dim=self.dim,
            epsilon=self.epsilon,
            delta=self.delta,
        )

    @classmethod
    def from_snapshot(cls, snapshot: DPPropensitySnapshot) -> DPPropensityLearner:
        """Return a learner with the snapshot's model whose next snapshot has a higher version."""
        learner = cls.__new__(cls)
        learner.config = snapshot.config
        learner.policy_id = snapshot.policy_id
        learner.algorithm = snapshot.algorithm
        learner.dim = snapshot.dim
        learner.offer_ids = snapshot.offer_ids
        learner.offer_matrix = snapshot.offer_matrix
        learner.mlp = snapshot.mlp
        learner.epsilon, learner.delta = snapshot.epsilon, snapshot.delta
        learner._n_updates = snapshot.n_updates
        learner._version = snapshot.version
        return learner

    def __repr__(self) -> str:
        budget = "untrained" if self.epsilon is None else f"epsilon={self.epsilon:.3g}"
        return (
            f"DPPropensityLearner(policy_id={self.policy_id!r}, dim={self.dim}, hidden={self.mlp.hidden}, "
            f"{budget}, n_updates={self._n_updates}, version={self._version})"
        )


def warm_start_learner(
    learner: BanditLearner,
    mlp: MLPWeights,
    contexts: np.ndarray,
    offer_features: Mapping[str, np.ndarray],
    *,
    reward_per_accept: Mapping[str, float] | float = 1.0,
) -> int:
    """Feed ``learner`` pseudo-observations from the DP model, one per (context, offer) pair.

    The pseudo-reward of offer ``a`` in context ``x`` is ``p(x, a) * reward_per_accept[a]``,
    the expected reward if only accepts paid. Pseudo-observations rather than a prior
    mean, because policies/linear.py's ridge models start at ``theta = 0`` with precision
    ``ridge * I`` and take no prior mean. Absorbing the pseudo-observations is the same
    as a Gaussian prior centred on the ridge fit of the model's predictions, with
    precision ``ridge * I + sum x x^T`` over the contexts given. So the prior's strength
    is ``len(contexts)`` rewards per offer: pass a few dozen contexts for a prior that
    real rewards overrule quickly.

    The predictions are a post-processing of the DP model and spend no further budget;
    the contexts are new data, so pass synthetic or consented ones.

    Args:
        learner: a fresh learner (linear.py or baselines), context length ``d``.
        mlp: a model whose input is ``concat(context, offer_features)``.
        contexts: shape ``(m, d)``; contexts to anchor the prior at.
        offer_features: offer id to feature vector; every offer gets ``m`` pseudo-observations.
        reward_per_accept: reward of one accept, per offer id or one number for all.

    Returns:
        The number of pseudo-observations absorbed.

    Raises:
        InvalidInputError: shapes do not match the learner or the model.
    """
    x = np.asarray(contexts, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] == 0:
        raise InvalidInputError(f"contexts must have shape (m, d) with m >= 1; got {x.shape}")
    offer_ids = list(offer_features)
    if not offer_ids:
        raise InvalidInputError("offer_features must name at least one offer; got an empty mapping")
    width = x.shape[1] + len(np.asarray(offer_features[offer_ids[0]]))
    if width != mlp.input_dim:
        raise InvalidInputError(
            f"contexts of length {x.shape[1]} plus offer features make inputs of length {width}; the model takes {mlp.input_dim}"
        )
    total = 0
    for offer_id in offer_ids:
        features = np.broadcast_to(np.asarray(offer_features[offer_id], dtype=np.float64), (len(x), width - x.shape[1]))
        scale = reward_per_accept if isinstance(reward_per_accept, (int, float)) else reward_per_accept.get(offer_id, 1.0)
        rewards = mlp.predict_proba(np.concatenate([x, features], axis=1)) * float(scale)
        learner.update_many([offer_id] * len(x), x, rewards)
        total += len(x)
    return total
