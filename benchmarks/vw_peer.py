"""Peer benchmark: offerloop's bandits against Vowpal Wabbit's cb_explore_adf on one decision stream.

The stream comes from the synthetic bank: for each round, one customer's encoded
features, the offers eligible for them, and for every eligible offer a reward drawn in
advance from the bank's true response model (common random numbers). Every algorithm
sees the same rounds and earns the pre-drawn reward of the offer it picks, so mean
rewards are directly comparable. Timing covers choosing and learning only (for VW this
includes writing and parsing its text examples, which is how its Python API is used).
VW learns from the reward alone, so offerloop's LinTS runs as ``lints-per-offer``: the
shipped LinTS without the click and reject signal of its funnel model. Both offerloop
policies read the default feature set, the same context VW gets.

    python benchmarks/vw_peer.py [--rounds 20000] [--customers 2000] [--seed 0]
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from engine.config import load_catalog, load_policy_config, load_reward_config
from engine.eligibility import CompiledCatalog
from engine.features import FeatureEncoder, compute_features
from engine.profile import CustomerProfile
from envs.bank import SyntheticBank
from envs.response import OUTCOMES
from policies.offer_features import offer_feature_vector
from policies.registry import make_learner


@dataclass
class Round:
    context: np.ndarray
    offers: list[str]
    rewards: np.ndarray  # pre-drawn reward of each eligible offer
    expected: np.ndarray  # true expected reward of each eligible offer


def build_stream(rounds: int, customers: int, seed: int) -> list[Round]:
    catalog = load_catalog()
    rewards_config = load_reward_config()
    bank = SyntheticBank(catalog, rewards_config, n_customers=customers, seed=seed, engagement_scale=0.25)
    compiled = CompiledCatalog(catalog)
    encoder = FeatureEncoder.from_names("default")
    model = bank.response_model
    rng = np.random.default_rng(seed)
    profiles: dict[str, CustomerProfile] = {}
    stream = []
    for _ in tqdm(range(rounds), desc="building stream", unit="round", mininterval=1.0):
        arrival = bank.next_arrival()
        profile = profiles.setdefault(arrival.customer_id, CustomerProfile(arrival.customer_id))
        for event in bank.events_until(arrival.customer_id, arrival.ts):
            profile.apply(event)
        features = compute_features(profile, arrival.ts)
        eligible = compiled.filter(features, {}, arrival.ts).eligible
        if not eligible:
            continue
        ids = [offer.id for offer in eligible]
        index = [model.offer_index[offer_id] for offer_id in ids]
        z = bank.latent(arrival.customer_id)
        zeros = np.zeros(len(model.offer_ids))
        probabilities = model.outcome_probabilities(z, 1, zeros, zeros.astype(bool))[index]
        draws = rng.random(len(ids))
        outcome = (draws[:, None] > np.cumsum(probabilities, axis=1)).sum(axis=1).clip(0, len(OUTCOMES) - 1)
        realised = model.outcome_rewards[index, outcome]
        expected = (probabilities * model.outcome_rewards[index]).sum(axis=1)
        stream.append(Round(encoder.encode(features), ids, realised, expected))
    return stream


def run_offerloop(name: str, stream: list[Round], seed: int) -> tuple[float, float]:
    config = load_policy_config(name)
    catalog = load_catalog()
    learner = make_learner(config, dim=len(stream[0].context), offer_features={o.id: offer_feature_vector(o) for o in catalog.offers})
    rng = np.random.default_rng(seed)
    snapshot = learner.snapshot()
    total = 0.0
    started = time.perf_counter()
    for step, item in enumerate(stream):
        choice = snapshot.choose_slate(item.context, item.offers, np.ones(len(item.offers)), 1, rng)
        picked = choice.order[0]
        reward = float(item.rewards[picked])
        total += reward
        learner.update_one(item.offers[picked], item.context, reward)
        if step % 10 == 9:
            snapshot = learner.snapshot()
    seconds = time.perf_counter() - started
    return total / len(stream), len(stream) / seconds


def _vw_example(item: Round, label: tuple[int, float, float] | None = None) -> list[str]:
    shared = "shared |s " + " ".join(f"f{i}:{value:.5f}" for i, value in enumerate(item.context) if value != 0.0)
    lines = [shared]
    for index, offer in enumerate(item.offers):
        prefix = f"0:{label[1]:.5f}:{label[2]:.6f} " if label is not None and label[0] == index else ""
        lines.append(f"{prefix}|a offer_{offer.replace('-', '_')}")
    return lines


def run_vw(arguments: str, stream: list[Round], seed: int) -> tuple[float, float]:
    import vowpalwabbit

    workspace = vowpalwabbit.Workspace(f"{arguments} -q sa --quiet --random_seed {seed}")
    rng = np.random.default_rng(seed)
    total = 0.0
    started = time.perf_counter()
    for item in stream:
        pmf = np.asarray(workspace.predict(_vw_example(item)), dtype=float)
        pmf = pmf / pmf.sum()
        picked = int(rng.choice(len(pmf), p=pmf))
        reward = float(item.rewards[picked])
        total += reward
        workspace.learn(_vw_example(item, (picked, -reward, float(pmf[picked]))))
    seconds = time.perf_counter() - started
    workspace.finish()
    return total / len(stream), len(stream) / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=20_000)
    parser.add_argument("--customers", type=int, default=2_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    stream = build_stream(args.rounds, args.customers, args.seed)
    oracle = float(np.mean([item.expected.max() for item in stream]))
    uniform = float(np.mean([item.expected.mean() for item in stream]))
    rows = [
        ("offerloop lints-per-offer", *run_offerloop("lints-per-offer", stream, args.seed)),
        ("offerloop linucb", *run_offerloop("linucb", stream, args.seed)),
        ("vw cb_explore_adf squarecb", *run_vw("--cb_explore_adf --squarecb", stream, args.seed)),
        ("vw cb_explore_adf epsilon 0.05", *run_vw("--cb_explore_adf --epsilon 0.05", stream, args.seed)),
    ]
    print(f"\n{len(stream)} rounds, slate of 1, {args.customers} synthetic customers, seed {args.seed}")
    print(f"true expected reward per round: oracle {oracle:.4f}, uniform random {uniform:.4f}")
    print(f"{'algorithm':<34}{'mean reward':>12}{'decisions/s':>14}")
    for name, reward, rate in rows:
        print(f"{name:<34}{reward:>12.4f}{rate:>14,.0f}")


if __name__ == "__main__":
    main()
