"""Simulated retail-bank customers, used to show that offerloop's policies learn.

A :class:`~envs.bank.SyntheticBank` samples a population of customers in latent segments
(student, young professional, family, affluent, retiree, financially stretched). It gives
each one a lazy, realistic event stream in the engine's event model: salary, rent,
subscriptions, card spending, trips abroad with geo pings, cash, repayments, overdrafts,
app logins and balance snapshots. It merges their app opens into one arrival stream and
responds to shown slates with impressions, clicks, accepts, rejects and dismisses. The
responses come from a true response model whose preferences depend on traits that the
engine's features reflect. :class:`~envs.bandit_env.BankOffersEnv` wraps the bank as a Gymnasium
contextual-bandit environment, registered as ``offerloop/BankOffers-v0``.

Knobs:

- ``SyntheticBank(catalog, reward_config, n_customers=2000, seed=0, start=2025-01-01 UTC,
  warmup_days=60)``: population size, seed (population, login times, transactions and
  responses all derive from it), first arrival time and days of history before it.
- ``envs.population.SEGMENTS``: segment shares and trait means (income, pay cadence,
  rent, travel, saving, credit appetite, overdraft tendency, app opens a day, weekend
  skew, starting buffer).
- ``envs.response``: position factors, 7-day fatigue, the category and keyword tables
  that map any catalog offer to its true preference, and the preference norm that sets
  how much an oracle beats random.
- ``gymnasium.make("offerloop/BankOffers-v0", catalog_path=..., reward_path=...,
  n_customers=..., episode_length=...)`` for RL libraries.
- ``gymnasium.make("offerloop/CustomerJourney-v0", config=JourneyConfig(...))``: one
  customer's 90-day journey with offer fatigue and churn (:mod:`envs.journey`).

Importing this package registers the environments when Gymnasium is installed; the
bank, population, transaction and response modules do not need Gymnasium.
"""

from __future__ import annotations

from envs.bank import DEFAULT_START, Arrival, SyntheticBank

__all__ = ["ENV_ID", "JOURNEY_ENV_ID", "DEFAULT_START", "Arrival", "SyntheticBank"]

ENV_ID = "offerloop/BankOffers-v0"
# Kept equal to envs.journey.JOURNEY_ENV_ID; defined here so that registering does not
# import the journey module.
JOURNEY_ENV_ID = "offerloop/CustomerJourney-v0"

try:
    import gymnasium
except ModuleNotFoundError:  # pragma: no cover - gymnasium is a project dependency
    gymnasium = None

if gymnasium is not None and ENV_ID not in gymnasium.registry:
    gymnasium.register(
        id=ENV_ID,
        entry_point="envs.bandit_env:BankOffersEnv",
        kwargs={"catalog_path": None, "reward_path": None, "n_customers": 2000},
    )
if gymnasium is not None and JOURNEY_ENV_ID not in gymnasium.registry:
    gymnasium.register(id=JOURNEY_ENV_ID, entry_point="envs.journey:CustomerJourneyEnv")
