"""PPO versus myopic bandits on the 90-day customer journey (offerloop/CustomerJourney-v0).

Every policy plays the same evaluation journeys: customers of a population that PPO
never trained on (``--eval-population-seed``), episode ``e`` reset with seed ``e``.
The value of a journey is its total reward: offer rewards from the reward config minus
fatigue costs and the churn penalty.

Policies:

* ``ppo``: the RLlib checkpoint, served through :class:`policies.rllib_policy.RLlibSnapshot`
  (``choose_action``, sampling with the serving propensity floor).
* ``lints``, ``linucb``: production bandits acting myopically. They always send the
  offer they rank first and learn from that offer's reward, as the engine does.
* ``lints+skip``, ``linucb+skip``: the same bandits with "no offer" as an extra arm,
  learning from the whole step reward (fatigue cost and churn penalty included). They
  see churn when it happens but cannot attribute it to the offers of earlier days.
* ``random``: uniform over the offers and "no offer".

Bandits first learn on ``--bandit-train-episodes`` journeys of PPO's training
population, then keep learning during evaluation.

Usage::

    offerloop train --algo PPO --config configs/train/ppo.yaml
    python benchmarks/ppo_vs_bandit.py --checkpoint out/train/ppo/checkpoints/iter_000060

Without ``--checkpoint`` it trains PPO first with ``--config``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from engine.config.policy import ExplorationConfig, PolicyConfig
from engine.rl_config import load_train_config
from envs.journey import CustomerJourneyEnv, JourneyConfig
from policies.linear import LinearLearner
from policies.registry import make_snapshot

NO_OFFER_ID = "no-offer"


@dataclass
class JourneyResult:
    """Per-episode outcomes of one policy."""

    policy: str
    values: np.ndarray
    churned: np.ndarray
    offers: np.ndarray
    accepts: np.ndarray

    def row(self) -> dict[str, float | str]:
        n = len(self.values)
        return {
            "policy": self.policy,
            "value_mean": float(self.values.mean()),
            "value_se": float(self.values.std(ddof=1) / math.sqrt(n)),
            "churn_rate": float(self.churned.mean()),
            "offers_per_customer": float(self.offers.mean()),
            "accepts_per_customer": float(self.accepts.mean()),
        }


Chooser = Callable[[np.ndarray, CustomerJourneyEnv], int]
Learner = Callable[[np.ndarray, int, dict, float], None]


def play(env: CustomerJourneyEnv, name: str, choose: Chooser, episodes: range, learn: Learner | None = None) -> JourneyResult:
    """Play ``episodes`` journeys (reset seed = episode index) and collect their outcomes."""
    values, churned, offers, accepts = [], [], [], []
    for episode in episodes:
        observation, _ = env.reset(seed=episode)
        total, shown, accepted = 0.0, 0, 0
        while True:
            action = choose(observation, env)
            next_observation, reward, terminated, truncated, info = env.step(action)
            if learn is not None:
                learn(observation, action, info, reward)
            total += reward
            shown += info["offer_id"] is not None
            accepted += info["outcome"] == "accept"
            observation = next_observation
            if terminated or truncated:
                churned.append(terminated)
                break
        values.append(total)
        offers.append(shown)
        accepts.append(accepted)
    return JourneyResult(name, np.array(values), np.array(churned), np.array(offers), np.array(accepts))


def bandit_player(algorithm: str, env: CustomerJourneyEnv, *, with_skip: bool, seed: int) -> tuple[Chooser, Learner]:
    """Return (choose, learn) of a myopic linear bandit over the journey observation."""
    exploration = ExplorationConfig(ucb_alpha=0.5, posterior_scale=0.3, samples=32, min_propensity_share=0.0)
    config = PolicyConfig(id=f"journey-{algorithm}", algorithm=algorithm, exploration=exploration)
    learner = LinearLearner(config, dim=env.observation_space.shape[0])
    arms = list(env.offer_ids) + ([NO_OFFER_ID] if with_skip else [])
    ones = np.ones(len(arms))
    rng = np.random.default_rng(seed)
    state = {"snapshot": learner.snapshot(), "since": 0}

    def choose(observation: np.ndarray, _: CustomerJourneyEnv) -> int:
        choice = state["snapshot"].choose_slate(observation.astype(np.float64), arms, ones, 1, rng)
        index = choice.order[0]
        return env.no_offer_action if arms[index] == NO_OFFER_ID else index

    def learn(observation: np.ndarray, action: int, info: dict, reward: float) -> None:
        if info["outcome"] == "churn":
            if not with_skip:
                return
            arm, value = (NO_OFFER_ID if action == env.no_offer_action else env.offer_ids[action]), reward
        elif action == env.no_offer_action:
            arm, value = NO_OFFER_ID, reward
        else:
            arm = env.offer_ids[action]
            value = reward if with_skip else info["offer_reward"]
        learner.update_one(arm, observation.astype(np.float64), value)
        state["since"] += 1
        if state["since"] >= 200:
            state["snapshot"], state["since"] = learner.snapshot(), 0

    return choose, learn


def ppo_player(checkpoint: str, seed: int) -> Chooser:
    """Return a chooser that serves the checkpoint's RLModule as the service would."""
    snapshot = make_snapshot(PolicyConfig(id="journey-ppo", algorithm="rllib", checkpoint=checkpoint))
    rng = np.random.default_rng(seed)

    def choose(observation: np.ndarray, env: CustomerJourneyEnv) -> int:
        choice = snapshot.choose_action(observation.astype(np.float64), env.offer_ids, rng)
        return env.no_offer_action if choice.index is None else choice.index

    return choose


def run(checkpoint: str, env_config: JourneyConfig, *, episodes: int, bandit_train_episodes: int, eval_population_seed: int, seed: int) -> list[JourneyResult]:
    """Train the bandits, then play every policy on the same evaluation journeys."""
    train_env = CustomerJourneyEnv(env_config)
    eval_config = env_config.model_copy(update={"population_seed": eval_population_seed})
    results = []
    for algorithm in ("lints", "linucb"):
        for with_skip in (False, True):
            name = algorithm + ("+skip" if with_skip else "")
            choose, learn = bandit_player(algorithm, train_env, with_skip=with_skip, seed=seed)
            started = time.perf_counter()
            play(train_env, name, choose, range(10_000, 10_000 + bandit_train_episodes), learn)
            result = play(CustomerJourneyEnv(eval_config), name, choose, range(episodes), learn)
            print(f"{name:<12} trained and evaluated in {time.perf_counter() - started:.0f} s", file=sys.stderr)
            results.append(result)
    eval_env = CustomerJourneyEnv(eval_config)
    rng = np.random.default_rng(seed)
    results.append(play(eval_env, "random", lambda _, env: int(rng.integers(env.action_space.n)), range(episodes)))
    started = time.perf_counter()
    results.insert(0, play(CustomerJourneyEnv(eval_config), "ppo", ppo_player(checkpoint, seed), range(episodes)))
    print(f"{'ppo':<12} evaluated in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", help="RLlib checkpoint from `offerloop train`; trains PPO first when omitted")
    parser.add_argument("--config", default="configs/train/ppo.yaml", help="training config (env settings and PPO)")
    parser.add_argument("--episodes", type=int, default=300, help="evaluation journeys per policy")
    parser.add_argument("--bandit-train-episodes", type=int, default=300, help="journeys the bandits learn on first")
    parser.add_argument("--eval-population-seed", type=int, default=1000, help="population of the evaluation customers")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()

    config = load_train_config(args.config)
    checkpoint = args.checkpoint
    if checkpoint is None:
        from engine.rl_train import train_policy

        trained = train_policy(config, "PPO", progress=sys.stderr.isatty())
        checkpoint = trained.checkpoint
        print(f"trained PPO in {trained.seconds:.0f} s: {checkpoint}", file=sys.stderr)
    results = run(
        checkpoint, config.env, episodes=args.episodes, bandit_train_episodes=args.bandit_train_episodes,
        eval_population_seed=args.eval_population_seed, seed=args.seed,
    )
    rows = [result.row() for result in results]
    ppo = results[0]
    bandits = [result for result in results if result.policy not in ("ppo", "random")]
    best = max(bandits, key=lambda result: result.values.mean())
    difference = ppo.values - best.values
    verdict = {
        "best_bandit": best.policy,
        "ppo_minus_best_bandit": float(difference.mean()),
        "paired_se": float(difference.std(ddof=1) / math.sqrt(len(difference))),
        "ppo_wins": bool(ppo.values.mean() > best.values.mean()),
    }
    if args.json:
        print(json.dumps({"checkpoint": checkpoint, "episodes": args.episodes, "policies": rows, **verdict}, indent=2))
    else:
        print(f"{args.episodes} evaluation journeys of {config.env.horizon_days} days, customers of population seed {args.eval_population_seed}")
        print(f"{'policy':<13}{'90-day value':>14}{'+-SE':>8}{'churn':>8}{'offers':>8}{'accepts':>9}")
        for row in rows:
            print(
                f"{row['policy']:<13}{row['value_mean']:>14.3f}{row['value_se']:>8.3f}{row['churn_rate']:>8.1%}"
                f"{row['offers_per_customer']:>8.1f}{row['accepts_per_customer']:>9.2f}"
            )
        print(
            f"PPO minus best bandit ({best.policy}): {verdict['ppo_minus_best_bandit']:.3f} "
            f"(paired SE {verdict['paired_se']:.3f}); PPO wins: {verdict['ppo_wins']}"
        )
    return 0 if verdict["ppo_wins"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
