"""Run the whole decision loop against the synthetic bank and compare policies.

Every policy runs on its own copy of the same seeded bank, so all policies see the same
customers, arrivals and transaction streams; only what they show, and so how customers
respond, differs. The oracle knows the bank's true expected rewards and is the ceiling.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from engine.config.loader import load_catalog, load_policy_config, load_reward_config, load_simulator_config
from engine.config.offers import OfferCatalog
from engine.config.policy import PolicyConfig
from engine.config.rewards import RewardConfig
from engine.errors import ConfigError
from engine.features import FeatureEncoder
from engine.loop import DecisionLoop
from envs.bank import SyntheticBank
from envs.oracle import OracleSnapshot
from policies.offer_features import offer_feature_vector
from policies.registry import make_learner

__all__ = ["PolicyResult", "SimulationReport", "simulate_policy", "run_simulation", "plot_cumulative"]

logger = logging.getLogger(__name__)

ORACLE = "oracle"
BASELINES: tuple[str, ...] = ("random", "static", ORACLE)


@dataclass
class PolicyResult:
    """Outcome of one policy over one simulation."""

    policy: str
    decisions: int
    mean_reward: float
    accept_rate: float
    offers_shown: int
    seconds: float
    share_of_oracle: float | None = None
    ratio_to_random: float | None = None
    cumulative_reward: list[float] = field(default_factory=list, repr=False)

    def summary(self) -> dict[str, float | int | str | None]:
        data = asdict(self)
        data.pop("cumulative_reward")
        return data


@dataclass
class SimulationReport:
    """Results of all policies of one run."""

    decisions: int
    seed: int
    customers: int
    results: list[PolicyResult]
    plot: str | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            "decisions": self.decisions,
            "seed": self.seed,
            "customers": self.customers,
            "plot": self.plot,
            "policies": {result.policy: result.summary() for result in self.results},
        }


def _policy_config(name: str) -> PolicyConfig:
    if name == ORACLE:
        return load_policy_config("random").model_copy(update={"id": ORACLE})
    return load_policy_config(name)


def simulate_policy(
    name: str,
    *,
    catalog: OfferCatalog,
    reward_config: RewardConfig,
    decisions: int,
    seed: int,
    customers: int,
    slate_size: int = 3,
    engagement_scale: float = 1.0,
    accept_scale: float = 1.0,
    warmup_days: int = 60,
    progress: bool = True,
) -> PolicyResult:
    """Run ``decisions`` decisions of one policy (or 'oracle') against a fresh seeded bank.

    With ``progress`` a bar shows each decision. Without it, a log line reports every tenth
    of the run, because worker processes run without bars (several would garble the terminal).
    """
    config = _policy_config(name)
    bank = SyntheticBank(
        catalog,
        reward_config,
        n_customers=customers,
        seed=seed,
        engagement_scale=engagement_scale,
        accept_scale=accept_scale,
        warmup_days=warmup_days,
    )
    encoder = FeatureEncoder.from_names(config.features)
    learner = make_learner(
        config,
        dim=encoder.dim,
        offer_features={offer.id: offer_feature_vector(offer) for offer in catalog.offers},
        seed=seed,
    )
    oracle = OracleSnapshot(bank) if name == ORACLE else None
    simulated_seconds = [0.0]
    loop = DecisionLoop(
        catalog=catalog,
        policy_config=config,
        reward_config=reward_config,
        learner=learner,
        seed=seed,
        snapshot_override=oracle,
        clock=lambda: simulated_seconds[0],
    )
    per_decision = np.zeros(decisions)
    index_of: dict[str, int] = {}
    accepts = 0
    shown_total = 0
    started = time.perf_counter()
    bar = tqdm(total=decisions, desc=f"simulate {name}", unit="dec", disable=not progress, mininterval=0.5)
    log_every = 0 if progress else max(1, decisions // 10)
    now = None
    for step in range(decisions):
        arrival = bank.next_arrival()
        now = arrival.ts
        simulated_seconds[0] = now.timestamp()
        loop.ingest_many(bank.events_until(arrival.customer_id, now))
        if oracle is not None:
            oracle.customer_id = arrival.customer_id
            oracle.now = now
        decision = loop.decide(arrival.customer_id, now, slate_size=slate_size)
        index_of[decision.record.decision_id] = step
        slate = [item.shown.offer_id for item in decision.offers]
        shown_total += len(slate)
        feedback = bank.respond(arrival.customer_id, decision.record.decision_id, slate, now)
        for event, outcome in zip(feedback, loop.feedback_many(feedback)):
            if event.feedback == "accept" and outcome.status == "joined":
                accepts += 1
            for reward in outcome.rewards:
                per_decision[index_of[reward.decision_id]] += reward.reward
        if step % 50 == 0:
            for reward in loop.tick(now):
                per_decision[index_of[reward.decision_id]] += reward.reward
        bar.update(1)
        if log_every and (step + 1) % log_every == 0:
            logger.info("simulate %s: %d of %d decisions", config.id, step + 1, decisions)
    bar.close()
    if now is not None:
        for reward in loop.tick(now + reward_config.max_window * 2):
            per_decision[index_of[reward.decision_id]] += reward.reward
    seconds = time.perf_counter() - started
    return PolicyResult(
        policy=config.id,
        decisions=decisions,
        mean_reward=float(per_decision.mean()) if decisions else 0.0,
        accept_rate=accepts / shown_total if shown_total else 0.0,
        offers_shown=shown_total,
        seconds=seconds,
        cumulative_reward=np.cumsum(per_decision).tolist(),
    )


def run_simulation(
    policies: Sequence[str],
    *,
    decisions: int = 50_000,
    seed: int = 0,
    customers: int | None = None,
    catalog_path: str | Path | None = None,
    rewards_path: str | Path | None = None,
    simulator_path: str | Path | None = None,
    plot_path: str | Path | None = None,
    progress: bool = True,
    workers: int = 1,
) -> SimulationReport:
    """Simulate each policy plus the random, static and oracle baselines; compute ratios and a plot.

    Args:
        customers: population size; the simulator config's by default.
        workers: policies simulated in parallel processes (each policy is independent).
    """
    catalog = load_catalog(catalog_path)
    reward_config = load_reward_config(rewards_path)
    simulator = load_simulator_config(simulator_path)
    customers = customers if customers is not None else simulator.customers
    names = list(dict.fromkeys([*policies, *BASELINES]))
    # A config mistake stops the run before any policy has run. Results are labelled by
    # config id, so a policy given as a YAML path shows its id.
    ids: dict[str, str] = {}
    for name in names:
        policy_id = _policy_config(name).id
        if policy_id in ids:
            raise ConfigError(
                f"policies {ids[policy_id]!r} and {name!r} both have id {policy_id!r}; give each compared policy its own id"
            )
        ids[policy_id] = name
    options = {
        "catalog": catalog,
        "reward_config": reward_config,
        "decisions": decisions,
        "seed": seed,
        "customers": customers,
        "engagement_scale": simulator.engagement_scale,
        "accept_scale": simulator.accept_scale,
        "warmup_days": simulator.warmup_days,
    }
    if workers > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(simulate_policy, name, progress=False, **options) for name in names]
            results = [future.result() for future in futures]
    else:
        results = [simulate_policy(name, progress=progress, **options) for name in names]
    by_name = {result.policy: result for result in results}
    oracle_mean = by_name[ORACLE].mean_reward
    random_mean = by_name["random"].mean_reward
    for result in results:
        result.share_of_oracle = result.mean_reward / oracle_mean if oracle_mean > 0 else None
        result.ratio_to_random = result.mean_reward / random_mean if random_mean > 0 else None
    report = SimulationReport(decisions=decisions, seed=seed, customers=customers, results=results)
    if plot_path is not None:
        report.plot = str(plot_cumulative(results, Path(plot_path)))
    return report


def plot_cumulative(results: Sequence[PolicyResult], path: Path) -> Path:
    """Draw cumulative reward against decisions for each policy and save it as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    figure, axis = plt.subplots(figsize=(8, 5))
    for result in results:
        axis.plot(np.arange(1, len(result.cumulative_reward) + 1), result.cumulative_reward, label=result.policy)
    axis.set_xlabel("decisions")
    axis.set_ylabel("cumulative reward")
    axis.set_title("offerloop simulate: cumulative reward by policy")
    axis.legend()
    axis.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
