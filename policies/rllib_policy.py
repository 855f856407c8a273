"""Serve an RLlib policy trained on the customer-journey env as a :class:`PolicySnapshot`.

:class:`RLlibSnapshot` loads the RLModule of a checkpoint written by ``offerloop train``
(torch, on CPU) and turns its output into an action distribution over the catalog
offers plus "no offer":

* a policy-gradient module (PPO) outputs logits, and the base distribution is their
  softmax;
* a Q-learning module (DQN) outputs Q-values, and the base distribution is greedy: the
  best action gets probability 1, ties split equally.

For a decision, the actions of offers that are not eligible are masked and the rest is
renormalised. Then ``exploration.min_propensity_share`` of the probability is spread
uniformly over the eligible offers, so that every shown slate has propensities that OPE
can use. ``choose_slate`` excludes the no-offer action, because the decision engine
always fills its slate, and draws by sequential sampling without replacement
(Plackett-Luce), logging the exact conditional probabilities. :meth:`RLlibSnapshot.choose_action`
keeps the no-offer action for callers that may send nothing.

Contexts are journey observations (:func:`envs.journey.journey_context`): offer history
features, then the encoded profile features ending with the bias.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from engine.config.policy import PolicyConfig
from engine.errors import ConfigError, InvalidInputError
from policies.base import SlateChoice
from policies.inputs import validate_context, validate_decision
from policies.slate_draws import draw_plackett_luce_slate, slate_choice_of
from policies.snapshot_base import SnapshotBase

__all__ = ["POLICY_METADATA_FILE", "ActionChoice", "RLlibSnapshot", "module_path_of"]

logger = logging.getLogger(__name__)

# Same name as engine.rl_train.POLICY_METADATA_FILE, which writes it; kept here so that
# serving does not import the training code.
POLICY_METADATA_FILE = "offerloop_policy.json"


class ActionChoice(NamedTuple):
    """One journey action drawn by :meth:`RLlibSnapshot.choose_action`.

    Attributes:
        index: index into the ``offer_ids`` passed, or None for "send nothing".
        propensity: probability of this draw.
        action_dist: shape ``(n + 1,)``; probability of each candidate, then of no offer.
    """

    index: int | None
    propensity: float
    action_dist: np.ndarray


def module_path_of(checkpoint: str | Path) -> Path:
    """Return the folder of the RLModule inside an algorithm checkpoint (or ``checkpoint`` itself if it is one).

    Raises:
        InvalidInputError: the folder does not exist or contains no RLModule.
    """
    from ray.rllib.core import COMPONENT_LEARNER, COMPONENT_LEARNER_GROUP, COMPONENT_RL_MODULE, DEFAULT_MODULE_ID

    # RLlib reads checkpoints through pyarrow, which rejects relative paths.
    path = Path(checkpoint).resolve()
    nested = path / COMPONENT_LEARNER_GROUP / COMPONENT_LEARNER / COMPONENT_RL_MODULE / DEFAULT_MODULE_ID
    if nested.is_dir():
        return nested
    if (path / "module_state.pkl").is_file() or (path / "module_state.pt").is_file():
        return path
    raise InvalidInputError(
        f"checkpoint {str(checkpoint)!r} is not an RLlib algorithm or RLModule checkpoint folder "
        "(no learner_group/learner/rl_module/default_policy inside). Pass a folder written by `offerloop train`"
    )


def _load_metadata(checkpoint: Path) -> dict[str, Any]:
    for folder in (checkpoint, *checkpoint.parents):
        candidate = folder / POLICY_METADATA_FILE
        if candidate.is_file():
            return json.loads(candidate.read_text(encoding="utf-8"))
    raise InvalidInputError(
        f"checkpoint {str(checkpoint)!r} has no {POLICY_METADATA_FILE} (offer order and features); "
        "it was not written by `offerloop train`. Retrain, or write the file with engine.rl_train.write_policy_metadata"
    )


def _load_module(checkpoint: str) -> Any:
    from ray.rllib.core.rl_module.rl_module import RLModule

    module = RLModule.from_checkpoint(str(module_path_of(checkpoint)))
    module.eval()
    return module


@dataclass(frozen=True, eq=False, repr=False)
class RLlibSnapshot(SnapshotBase):
    """Decisions from an RLlib RLModule, with exact propensities.

    Build one with :meth:`from_checkpoint` (or ``policies.registry.make_snapshot``).

    Attributes:
        module: the torch RLModule, in eval mode.
        offer_ids: catalog offers in the order of the module's actions; action
            ``len(offer_ids)`` is "no offer".
        feature_names: profile features of the context, in encoder order.
        history_feature_names: offer history features that precede them.
        algo: ``"PPO"`` or ``"DQN"``, as trained.

    NOTE: ``expected_rewards`` returns Q-values (expected discounted return) for a DQN
    module, but logits for a PPO module, which has no per-action value estimate.
    """

    module: Any
    offer_ids: tuple[str, ...]
    feature_names: tuple[str, ...]
    history_feature_names: tuple[str, ...]
    algo: str

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "_action_of", {offer_id: index for index, offer_id in enumerate(self.offer_ids)})

    @classmethod
    def expected_algorithms(cls) -> tuple[str, ...]:
        """Return ``("rllib",)``."""
        return ("rllib",)

    @classmethod
    def from_checkpoint(cls, config: PolicyConfig, *, version: int = 1) -> RLlibSnapshot:
        """Load the RLModule and metadata of ``config.checkpoint``.

        Raises:
            ConfigError: ``config.algorithm`` is not ``"rllib"``.
            InvalidInputError: the checkpoint folder is missing or incomplete.
        """
        if config.algorithm != "rllib" or config.checkpoint is None:
            raise ConfigError(
                f"RLlibSnapshot needs a policy config with algorithm 'rllib' and a checkpoint; "
                f"got algorithm {config.algorithm!r}, checkpoint {config.checkpoint!r}"
            )
        metadata = _load_metadata(Path(config.checkpoint))
        module = _load_module(config.checkpoint)
        snapshot = cls(
            config=config,
            version=version,
            n_updates=0,
            module=module,
            offer_ids=tuple(metadata["offer_ids"]),
            feature_names=tuple(metadata["features"]),
            history_feature_names=tuple(metadata["history_features"]),
            algo=str(metadata.get("algo", "PPO")),
        )
        logger.info("rllib_snapshot_loaded", extra={"policy": config.id, "algo": snapshot.algo, "dim": snapshot.dim})
        return snapshot

    def context_from_profile(self, profile: Any, now: Any, *, categories: Mapping[str, str]) -> np.ndarray:
        """Build this policy's context (the journey observation) from a live profile.

        The decision engine calls this instead of its own feature encoder, because the
        policy was trained on the journey environment's observation layout. ``profile``
        may be mutated (its clock advances to ``now``).
        """
        from engine.features import FeatureEncoder
        from envs.journey import journey_context

        encoder = FeatureEncoder.from_names(self.feature_names)
        return journey_context(profile, now, encoder=encoder, categories=categories)

    @property
    def dim(self) -> int:
        """Context length: history features, profile features and the bias."""
        return len(self.history_feature_names) + len(self.feature_names) + 1

    @property
    def no_offer_action(self) -> int:
        """Index of the "no offer" action in the module's output."""
        return len(self.offer_ids)

    # ------------------------------------------------------------ module output
    def action_values(self, contexts: np.ndarray) -> np.ndarray:
        """Return the module's raw output for each context, shape ``(m, n_offers + 1)``: logits or Q-values.

        Args:
            contexts: shape ``(m, dim)``, journey observations.
        """
        import torch
        from ray.rllib.core.columns import Columns
        from ray.rllib.core.rl_module.apis import QNetAPI

        batch = np.asarray(contexts, dtype=np.float32)
        if batch.ndim != 2 or batch.shape[1] != self.dim:
            raise InvalidInputError(f"contexts must have shape (m, {self.dim}); got {batch.shape}")
        with torch.no_grad():
            inputs = {Columns.OBS: torch.from_numpy(batch)}
            if isinstance(self.module, QNetAPI):
                output = self.module.compute_q_values(inputs)["qf_preds"]
            else:
                output = self.module.forward_inference(inputs)[Columns.ACTION_DIST_INPUTS]
        return output.numpy().astype(np.float64)

    def base_distribution(self, values: np.ndarray, allowed: np.ndarray) -> np.ndarray:
        """Return the module's distribution restricted to ``allowed`` actions, renormalised, row by row.

        Args:
            values: shape ``(m, n_actions)`` from :meth:`action_values`.
            allowed: shape ``(m, n_actions)``, bool; at least one True per row.

        Returns:
            Shape ``(m, n_actions)``; rows sum to 1 and are 0 where ``allowed`` is False.
        """
        masked = np.where(allowed, values, -np.inf)
        best = masked.max(axis=1, keepdims=True)
        if self._is_q_learning():
            weights = (masked == best).astype(np.float64)
        else:
            # Subtracting the row maximum keeps exp() from overflowing on large logits.
            weights = np.exp(masked - best)
        return weights / weights.sum(axis=1, keepdims=True)

    def batch_action_dist(self, contexts: np.ndarray, candidate_mask: np.ndarray) -> np.ndarray:
        """Return the first-position distribution over catalog offers for many decisions, with the floor.

        The no-offer action is excluded, as in :meth:`choose_slate` with multipliers of 1.

        Args:
            contexts: shape ``(m, dim)``.
            candidate_mask: shape ``(m, n_offers)``, bool; eligible offers of each decision.

        Returns:
            Shape ``(m, n_offers)``; each row sums to 1 over its eligible offers.
        """
        mask = np.asarray(candidate_mask, dtype=bool)
        n_offers = len(self.offer_ids)
        if mask.shape != (len(contexts), n_offers) or not mask.any(axis=1).all():
            raise InvalidInputError(
                f"candidate_mask must have shape ({len(contexts)}, {n_offers}) with a True in every row; "
                f"got shape {mask.shape}"
            )
        values = self.action_values(contexts)[:, :n_offers]
        base = self.base_distribution(values, mask)
        share = self.config.exploration.min_propensity_share
        return (1.0 - share) * base + share * mask / mask.sum(axis=1, keepdims=True)

    def _is_q_learning(self) -> bool:
        from ray.rllib.core.rl_module.apis import QNetAPI

        return isinstance(self.module, QNetAPI)

    def _candidate_actions(self, offer_ids: Sequence[str]) -> np.ndarray:
        # An offer the module was not trained on maps to -1: it gets only the floor share.
        action_of: dict[str, int] = self._action_of  # type: ignore[attr-defined]
        return np.array([action_of.get(offer_id, -1) for offer_id in offer_ids])

    def _candidate_weights(self, x: np.ndarray, offer_ids: Sequence[str], with_no_offer: bool) -> tuple[np.ndarray, np.ndarray]:
        """Return (base distribution over the candidates [+ no offer], raw values of the candidates)."""
        actions = self._candidate_actions(offer_ids)
        values = self.action_values(x[None, :])[0]
        known = actions >= 0
        candidate_values = np.where(known, values[np.maximum(actions, 0)], -np.inf)
        if with_no_offer:
            candidate_values = np.append(candidate_values, values[self.no_offer_action])
        if not np.isfinite(candidate_values).any():
            return np.full(len(candidate_values), 1.0 / len(candidate_values)), np.zeros(len(offer_ids))
        allowed = np.isfinite(candidate_values)[None, :]
        base = self.base_distribution(np.where(allowed, candidate_values, 0.0), allowed)[0]
        raw = np.where(known, values[np.maximum(actions, 0)], 0.0)
        return base, raw

    # ---------------------------------------------------------------- decisions
    def choose_slate(
        self,
        context: np.ndarray,
        offer_ids: Sequence[str],
        multipliers: np.ndarray,
        k: int,
        rng: np.random.Generator,
    ) -> SlateChoice:
        """Draw an ordered slate of ``min(k, len(offer_ids))`` offers from the module's distribution.

        First-position probabilities are ``p = (1 - share) * normalise(pi * multipliers)
        + share / n``, where ``pi`` is the module's distribution over the candidates (no
        offer excluded) and ``share = exploration.min_propensity_share``. When ``pi *
        multipliers`` is zero everywhere, ``normalise`` gives the uniform distribution.
        Later positions sample from ``p`` without replacement.
        """
        x, weights = validate_decision(context, offer_ids, multipliers, k, self.dim)
        base, raw = self._candidate_weights(x, offer_ids, with_no_offer=False)
        scaled = base * weights
        total = scaled.sum()
        scaled = scaled / total if total > 0.0 else np.full(len(offer_ids), 1.0 / len(offer_ids))
        share = self.config.exploration.min_propensity_share
        first_position = (1.0 - share) * scaled + share / len(offer_ids)
        draw = draw_plackett_luce_slate(first_position, k, rng=rng, fallback_values=raw * weights)
        return slate_choice_of(draw, raw, None)

    def choose_action(self, context: np.ndarray, offer_ids: Sequence[str], rng: np.random.Generator) -> ActionChoice:
        """Draw one journey action: a candidate offer or nothing, with its exact probability.

        The distribution is the module's over the candidates and no offer, renormalised,
        with ``exploration.min_propensity_share`` spread over all ``n + 1`` actions.
        """
        x = validate_context(context, self.dim)
        if len(set(offer_ids)) != len(offer_ids):
            raise InvalidInputError(f"offer_ids must be distinct; got {list(offer_ids)}")
        base, _ = self._candidate_weights(x, offer_ids, with_no_offer=True)
        share = self.config.exploration.min_propensity_share
        action_dist = (1.0 - share) * base + share / len(base)
        drawn = int(rng.choice(len(action_dist), p=action_dist))
        index = None if drawn == len(offer_ids) else drawn
        return ActionChoice(index=index, propensity=float(action_dist[drawn]), action_dist=action_dist)

    def expected_rewards(self, context: np.ndarray, offer_ids: Sequence[str]) -> np.ndarray:
        """Return the module's value of each candidate, shape ``(n,)``: Q-values (DQN) or logits (PPO).

        An offer the module was not trained on gets 0.
        """
        x = validate_context(context, self.dim)
        _, raw = self._candidate_weights(x, offer_ids, with_no_offer=False)
        return raw

    # ------------------------------------------------------------ serialisation
    def _payload(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        header = {
            "offer_ids": list(self.offer_ids),
            "features": list(self.feature_names),
            "history_features": list(self.history_feature_names),
            "algo": self.algo,
        }
        state = self.module.get_state()
        arrays = {name: np.asarray(value, dtype=np.float64) for name, value in state.items()}
        return header, arrays

    @classmethod
    def from_payload(
        cls, config: PolicyConfig, header: Mapping[str, Any], arrays: Mapping[str, np.ndarray]
    ) -> RLlibSnapshot:
        """Rebuild a snapshot from bytes: the architecture comes from ``config.checkpoint``, the weights from ``arrays``."""
        if config.checkpoint is None:
            raise InvalidInputError(f"snapshot of policy {config.id!r} has algorithm 'rllib' but no checkpoint")
        module = _load_module(config.checkpoint)
        current = module.get_state()
        if set(current) != set(arrays):
            raise InvalidInputError(
                f"snapshot weights do not match the module of checkpoint {config.checkpoint!r}: "
                f"missing {sorted(set(current) - set(arrays))}, unexpected {sorted(set(arrays) - set(current))}"
            )
        module.set_state({name: np.asarray(arrays[name], dtype=np.asarray(current[name]).dtype) for name in current})
        module.eval()
        try:
            return cls(
                config=config,
                version=header["version"],
                n_updates=header["n_updates"],
                module=module,
                offer_ids=tuple(header["offer_ids"]),
                feature_names=tuple(header["features"]),
                history_feature_names=tuple(header["history_features"]),
                algo=str(header["algo"]),
            )
        except KeyError as err:
            raise InvalidInputError(f"snapshot of policy {config.id!r} lacks header field {err}") from err
